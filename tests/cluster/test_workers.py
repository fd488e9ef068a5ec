# -*- test-case-name: tests.cluster.test_workers -*-
"""
C{workers: 2} in a real C{twistd -n mailsuite} child with a real
redis-server: both workers serve SMTP and POP3 on the sockets the
supervisor bound, a SIGKILLed worker is restarted, SIGTERM stops them
all; without C{cluster.redis} the config is refused with status 2.
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

from twisted_mail_suite.net.inherited import adoptListening, bindListening
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
        self.assertEqual((yield deferToThread(self.exchange, child, 3)), 7)   # worker 2 serves meanwhile
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


class InheritedTests(TestCase):
    def test_settings(self) -> None:
        self.assertIsNone(workerSettings({}))
        settings = workerSettings({WORKER_ENV: '{"index": 1, "overrides": {}, "parent": 7, '
                                               '"inherited": {"tcp:0": [5, 2]}}'})
        self.assertEqual(settings["inherited"], {"tcp:0": (5, 2)})

    def test_nonTCPNotBound(self) -> None:
        tls = ServerTLS(makeConfig(self.mktemp()))
        self.assertIsNone(bindListening(tls, "unix:" + self.mktemp()))

    @defer.inlineCallbacks
    def test_adopt(self) -> None:
        """
        A socket bound by L{bindListening} is served by L{adoptListening}
        on the same port, and the inherited descriptor is closed.
        """
        from twisted.internet.endpoints import TCP4ClientEndpoint, connectProtocol
        from twisted.internet.protocol import Factory, Protocol

        tls = ServerTLS(makeConfig(self.mktemp()))
        listening = bindListening(tls, "tcp:0:interface=127.0.0.1")
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
