# -*- test-case-name: tests.cluster.test_workers -*-
"""
C{workers: 2} in a real C{twistd -n mailsuite} child with a real
redis-server: both workers serve SMTP and POP3 on the sockets the
supervisor bound, connections spread over both, a SIGKILLed worker is
restarted and serves the connections queued on its slot meanwhile,
SIGTERM stops them all; without C{cluster.redis} the config is refused
with status 2.
"""
from __future__ import annotations

import os
import poplib
import re
import signal
import smtplib
import socket
import subprocess
import sys
import time

from twisted.internet import defer, reactor
from twisted.internet.threads import deferToThread
from twisted.trial.unittest import TestCase

from twisted_mail_suite.net.inherited import adoptListening, bindListening, steer
from twisted_mail_suite.net.tls import ServerTLS
from twisted_mail_suite.testing.configfile import prepareDirectory, suiteConfig, writeConfig
from twisted_mail_suite.testing.process import TWISTD, SuiteProcess
from twisted_mail_suite.workers import WORKER_ENV, workerSettings

from ..fakes import ROOT, makeConfig
from .support import startRedis

STARTED = re.compile(rb"worker (\d+) started \(pid (\d+)\)")
READY = b"twisted-mail-suite ready"


def waitFor(condition, timeout: float = 90.0) -> None:  # type: ignore[no-untyped-def]
    """
    Blocking (run in a thread): poll C{condition} until true.
    """
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"not true within {timeout} s")
        time.sleep(0.05)


def servedBy(serverPort: int, clients: list[socket.socket], pids: list[int]) -> list[int | None]:
    """
    Blocking: which of C{pids} holds the server end of each of C{clients}'
    connections to C{127.0.0.1:serverPort} (from C{/proc/net/tcp} and each
    process's descriptors); L{None} where none does.
    """
    local = f"0100007F:{serverPort:04X}"
    inodes: dict[str, str] = {}                 # the server end's remote port -> its socket inode
    with open("/proc/net/tcp") as f:
        for line in f.readlines()[1:]:
            fields = line.split()
            if fields[1] == local and fields[2].startswith("0100007F:"):
                inodes[fields[2].split(":")[1]] = fields[9]
    owners: dict[str, int] = {}
    for pid in pids:
        for fd in os.listdir(f"/proc/{pid}/fd"):
            try:
                target = os.readlink(f"/proc/{pid}/fd/{fd}")
            except OSError:                     # closed meanwhile
                continue
            if target.startswith("socket:["):
                owners[target[8:-1]] = pid
    return [owners.get(inodes.get(f"{client.getsockname()[1]:04X}", "")) for client in clients]


def opened(port: int, count: int, timeout: float = 60.0) -> list[socket.socket]:
    """
    Blocking: open C{count} connections to C{port} one after another.
    """
    return [socket.create_connection(("127.0.0.1", port), timeout=timeout) for _ in range(count)]


def greet(clients: list[socket.socket]) -> list[socket.socket]:
    """
    Blocking: wait for each client's SMTP greeting.
    """
    for client in clients:
        if not client.recv(512).startswith(b"220 "):
            raise AssertionError("no SMTP greeting")
    return clients


def greeted(port: int, count: int, timeout: float = 60.0) -> list[socket.socket]:
    """
    Blocking: open C{count} connections to C{port} one after another, each
    kept open, and wait for every greeting.
    """
    return greet(opened(port, count, timeout))


def leaseHeld(port: int, user: str) -> bool:
    """
    Blocking: does Redis hold C{user}'s POP3 lease?
    """
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(b"EXISTS mailsuite:pop3lock:" + user.encode() + b"\r\n")
        return s.recv(16).startswith(b":1")


class WorkersTests(TestCase):
    timeout = 120

    def exchange(self, child: SuiteProcess, count: int) -> int:
        """
        Blocking: send C{count} messages to alice over SMTP, one
        connection each, and return how many her POP3 maildrop holds.
        """
        for index in range(count):
            with smtplib.SMTP("127.0.0.1", child.ports["smtp"], timeout=20) as smtp:
                smtp.sendmail("bob@example.test", ["alice@example.test"],
                              f"Subject: {index}\r\n\r\nbody {index}\r\n")
        pop = poplib.POP3("127.0.0.1", child.ports["pop3"], timeout=20)
        try:
            pop.user("alice")
            pop.pass_("secret")
            return pop.stat()[0]
        finally:
            pop.quit()

    @defer.inlineCallbacks
    def test_servesAndRestartsAWorker(self) -> None:
        redis = startRedis(self)
        work = os.path.abspath(self.mktemp())
        os.makedirs(work)
        path = prepareDirectory(work, {"alice": "secret", "bob": "hunter2"}, roles=["smtp", "pop3"],
                                sections={"cluster": {"redis": redis.url}, "workers": 2})
        child = SuiteProcess(path, pythonPath=ROOT)
        self.addCleanup(child.kill)
        yield deferToThread(child.start)
        yield deferToThread(waitFor, lambda: child.output.count(READY) >= 2)
        self.assertEqual((yield deferToThread(self.exchange, child, 4)), 4)
        workers = {int(i): int(pid) for i, pid in STARTED.findall(child.output)}
        self.assertEqual(sorted(workers), [1, 2])
        # the POP3 lease is released after QUIT's answer: killed before that, a
        # worker would leave it to expire (30 s), as any crash does
        yield deferToThread(waitFor, lambda: not leaseHeld(redis.port, "alice"))
        os.kill(workers[1], signal.SIGKILL)
        # worker 2 serves its slot meanwhile; what lands on worker 1's slot waits for its restart
        self.assertEqual((yield deferToThread(self.exchange, child, 3)), 7)
        yield deferToThread(waitFor, lambda: len(STARTED.findall(child.output)) >= 3
                            and child.output.count(READY) >= 3)
        restarted = {int(i): int(pid) for i, pid in STARTED.findall(child.output)}
        self.assertNotEqual(restarted[1], workers[1])
        self.assertEqual((yield deferToThread(self.exchange, child, 6)), 13)
        os.kill(child.pid, signal.SIGHUP)                # forwarded: each worker reloads its users file
        yield deferToThread(waitFor, lambda: child.output.count(b"SIGHUP: users file reloaded") >= 2)
        _, status = yield deferToThread(child.terminate)
        self.assertIn(status, [0, -signal.SIGTERM])     # twistd re-raises the signal that stopped it
        for index in (1, 2):                             # the supervisor waited for both to stop
            self.assertRegex(child.output, rb"worker %d \[\d+\]: .*Server Shut Down" % index)
        for pid in (restarted[1], restarted[2]):
            self.assertFalse(os.path.exists(f"/proc/{pid}"))

    @defer.inlineCallbacks
    def test_spreadSteeredAndSlotKept(self) -> None:
        """
        Twenty connections opened one after another, all kept open, are
        served by both workers (all on one would be a 1 in 500,000 chance).
        Worker 1 stopped (SIGSTOP) then SIGKILLed with connections queued
        on its slot: those are not reset but greeted by the restarted
        worker 1; meanwhile new connections go to worker 2 only, at once.
        """
        redis = startRedis(self)
        work = os.path.abspath(self.mktemp())
        os.makedirs(work)
        path = prepareDirectory(work, {"alice": "secret"}, roles=["smtp"],   # 30 at once from 127.0.0.1:
                                sections={"cluster": {"redis": redis.url}, "workers": 2,
                                          "smtp": {"max_connections_per_ip": 0}})
        child = SuiteProcess(path, pythonPath=ROOT)
        self.addCleanup(child.kill)
        yield deferToThread(child.start)
        both = b"new connections go to workers 1, 2"
        yield deferToThread(waitFor, lambda: both in child.output)
        workers = {int(i): int(pid) for i, pid in STARTED.findall(child.output)}
        port = child.ports["smtp"]
        clients = yield deferToThread(greeted, port, 20)
        owners = yield deferToThread(servedBy, port, clients, list(workers.values()))
        for client in clients:
            client.close()
        self.assertEqual(set(owners), {workers[1], workers[2]}, owners)

        os.kill(workers[1], signal.SIGSTOP)
        queued = yield deferToThread(opened, port, 12)        # some wait on worker 1's slot
        self.addCleanup(lambda: [client.close() for client in queued])
        onlyTwo = b"new connections go to workers 2\n"           # also said at start if worker 2 was ready first
        said = child.output.count(onlyTwo)
        os.kill(workers[1], signal.SIGKILL)
        yield deferToThread(waitFor, lambda: child.output.count(onlyTwo) > said)
        meanwhile = yield deferToThread(greeted, port, 12, 5.0)   # the restart is >= 1 s away
        self.addCleanup(lambda: [client.close() for client in meanwhile])
        self.assertEqual(set((yield deferToThread(servedBy, port, meanwhile, [workers[2]]))), {workers[2]})

        yield deferToThread(greet, queued)
        restarted = {int(i): int(pid) for i, pid in STARTED.findall(child.output)}
        self.assertNotEqual(restarted[1], workers[1])
        owners = yield deferToThread(servedBy, port, queued, [restarted[1], workers[2]])
        self.assertEqual(set(owners), {restarted[1], workers[2]}, owners)
        yield deferToThread(waitFor, lambda: child.output.count(both) >= 2)

    def test_workersNeedRedis(self) -> None:
        work = os.path.abspath(self.mktemp())
        os.makedirs(work)
        path = writeConfig(work, suiteConfig("./data", sections={"workers": 2}))
        env = {**os.environ, "PYTHONPATH": ROOT}
        env.pop(WORKER_ENV, None)
        result = subprocess.run([sys.executable, "-c", TWISTD, "-n", "--pidfile=", "mailsuite", "--config", path],
                                capture_output=True, env=env, cwd=work, timeout=60)
        self.assertEqual(result.returncode, 2)
        self.assertIn(b"cluster.redis", result.stderr)


def acceptAll(slots: list[socket.socket]) -> list[int]:
    """
    Accept (and close) what each listening socket has queued; how many.
    """
    accepted = []
    for listening in slots:
        listening.settimeout(0)
        count = 0
        while True:
            try:
                connection, _ = listening.accept()
            except OSError:                 # its queue is empty (the connects before are complete)
                break
            connection.close()
            count += 1
        accepted.append(count)
    return accepted


class InheritedTests(TestCase):
    def test_settings(self) -> None:
        self.assertIsNone(workerSettings({}))
        settings = workerSettings({WORKER_ENV: '{"index": 1, "overrides": {}, "parent": 7, '
                                               '"inherited": {"tcp:0": [5, 2]}}'})
        self.assertEqual(settings["inherited"], {"tcp:0": (5, 2)})

    def test_nonTCPNotBound(self) -> None:
        tls = ServerTLS(makeConfig(self.mktemp()))
        self.assertIsNone(bindListening(tls, "unix:" + self.mktemp()))

    def test_slots(self) -> None:
        """
        Two slots are two listening sockets on one port, each its own
        accept queue, and the kernel spreads twenty connections over both.
        """
        tls = ServerTLS(makeConfig(self.mktemp()))
        slots = bindListening(tls, "tcp:0:interface=127.0.0.1", 2)
        self.addCleanup(lambda: [s.close() for s in slots])
        port = slots[0].getsockname()[1]
        self.assertEqual([s.getsockname() for s in slots], [("127.0.0.1", port)] * 2)
        clients = [socket.create_connection(("127.0.0.1", port), timeout=5) for _ in range(20)]
        self.addCleanup(lambda: [c.close() for c in clients])
        accepted = acceptAll(slots)
        self.assertEqual(sum(accepted), 20)
        self.assertNotIn(0, accepted)

    def test_steer(self) -> None:
        """
        L{steer} sends new connections to the live slots only; with every
        slot live again, to all of them.
        """
        tls = ServerTLS(makeConfig(self.mktemp()))
        slots = bindListening(tls, "tcp:0:interface=127.0.0.1", 3)
        self.addCleanup(lambda: [s.close() for s in slots])
        port = slots[0].getsockname()[1]
        for live, expected in (([1], [False, True, False]), ([0, 2], [True, False, True]),
                               ([0, 1, 2], [True, True, True])):
            steer(slots[0], live, 3)
            clients = [socket.create_connection(("127.0.0.1", port), timeout=5) for _ in range(30)]
            self.addCleanup(lambda clients=clients: [c.close() for c in clients])
            self.assertEqual([bool(n) for n in acceptAll(slots)], expected, live)

    def test_portInUse(self) -> None:
        """
        A port something listens on already is refused, even when that
        something shares it with C{SO_REUSEPORT} (another supervisor of
        the same user would otherwise get half of the connections).
        """
        tls = ServerTLS(makeConfig(self.mktemp()))
        slots = bindListening(tls, "tcp:0:interface=127.0.0.1", 2)
        self.addCleanup(lambda: [s.close() for s in slots])
        port = slots[0].getsockname()[1]
        self.assertRaises(OSError, bindListening, tls, f"tcp:{port}:interface=127.0.0.1", 2)

    @defer.inlineCallbacks
    def test_adopt(self) -> None:
        """
        A socket bound by L{bindListening} is served by L{adoptListening}
        on the same port, and the inherited descriptor is closed.
        """
        from twisted.internet.endpoints import TCP4ClientEndpoint, connectProtocol
        from twisted.internet.protocol import Factory, Protocol

        tls = ServerTLS(makeConfig(self.mktemp()))
        listening = bindListening(tls, "tcp:0:interface=127.0.0.1")[0]
        port = listening.getsockname()[1]
        fd = os.dup(listening.fileno())
        listening.close()
        connected = defer.Deferred()

        class Greeter(Protocol):
            def connectionMade(self) -> None:
                connected.callback(True)
                self.transport.loseConnection()

        served = yield adoptListening(reactor, (fd, listening.family), "tcp:0:interface=127.0.0.1",
                                      Factory.forProtocol(Greeter), tls)
        self.addCleanup(served.stopListening)
        self.assertEqual(served.getHost().port, port)
        self.assertRaises(OSError, os.fstat, fd)
        client = yield connectProtocol(TCP4ClientEndpoint(reactor, "127.0.0.1", port), Protocol())
        self.assertTrue((yield connected))
        client.transport.loseConnection()
