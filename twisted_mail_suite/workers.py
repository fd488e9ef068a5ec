# -*- test-case-name: tests.cluster.test_workers -*-
"""
C{workers: N} (docs/scaling.md): this process binds every C{tcp:} and
C{ssl:} listener N times on the same address with C{SO_REUSEPORT}, one
socket per worker slot, and runs N workers, each a full suite (C{twistd
-n mailsuite} with the same config) serving its slot's sockets; the
kernel spreads new connections over the slots by a hash of the addresses.

The supervisor restarts a worker that dies (after 1 s, backing off to 30 s
while they keep dying at once), relays each worker's log lines into its
own, forwards SIGHUP (the users file) and, when it stops (SIGTERM), sends
SIGTERM to every worker and waits for them to finish their drain (SIGKILL
after C{shutdown_timeout} + 10 s).  A worker stops by itself when its
supervisor is gone.

Why the supervisor binds the slots rather than each worker binding its
own: the port is picked once (port 0, the tests) and ports below 1024
need no privilege in the workers; the certificate is made once; and a
slot's socket stays open here while its worker is dead, so the
connections the kernel queued on it wait for the restarted worker
instead of being reset.  Why one socket per worker rather than one
shared by all (the design before): on a shared socket every worker is
woken for a new connection and the first one awake takes the whole burst
(measured: one worker of two served all 8 POP3 sessions in 3 runs of 5).
While a worker is dead or starting, new connections go only to the slots
of the workers that said they are ready (L{steer}); what was queued on
its slot before waits for it.
"""
from __future__ import annotations

import json
import os
import signal
import sys
from typing import Any, Mapping

from twisted.application.service import Service
from twisted.internet.defer import Deferred, DeferredList, succeed
from twisted.internet.protocol import ProcessProtocol
from twisted.internet.task import LoopingCall
from twisted.logger import Logger

from .config import Config
from .net.inherited import bindListening, steer
from .net.tls import ServerTLS
from .registry import PROTOCOLS, sectionOf

__all__ = ["WORKER_ENV", "WorkerSupervisor", "watchParent", "workerSettings"]

WORKER_ENV = "MAILSUITE_WORKER"
READY = b"twisted-mail-suite ready"          # a worker's log line once it listens
TWISTD = "import sys; from twisted.scripts.twistd import run; sys.argv[0] = 'twistd'; run()"


def workerSettings(environ: Mapping[str, str]) -> dict[str, Any] | None:
    """
    What the supervisor told this worker (C{index}, C{overrides},
    C{inherited}: C{"role description"} -> C{(fd, family)} of its slot's
    sockets, C{parent}), or L{None}
    when this process is not a worker.
    """
    raw = environ.get(WORKER_ENV)
    if not raw:
        return None
    settings = json.loads(raw)
    settings["inherited"] = {description: tuple(pair) for description, pair in settings["inherited"].items()}
    return settings


def watchParent(reactor: Any, parent: int, interval: float = 1.0) -> LoopingCall:
    """
    In a worker: stop when the supervisor C{parent} is gone (killed
    without the chance to stop its workers).
    """
    def check() -> None:
        if os.getppid() != parent:
            WorkerSupervisor.log.warn("The supervisor {pid} is gone: stopping", pid=parent)
            watching.stop()
            reactor.stop()

    watching = LoopingCall(check)
    watching.clock = reactor
    reactor.callWhenRunning(watching.start, interval, now=False)
    return watching


class _Worker(ProcessProtocol):
    def __init__(self, supervisor: WorkerSupervisor, index: int) -> None:
        self.supervisor = supervisor
        self.index = index
        self.buffer = b""
        self.ended: Deferred = Deferred()

    def outReceived(self, data: bytes) -> None:
        *complete, self.buffer = (self.buffer + data).split(b"\n")
        for line in complete:
            if READY in line:
                self.supervisor._ready(self)
            self.supervisor.log.info("worker {index} [{pid}]: {line}", index=self.index,
                                     pid=self.transport.pid, line=line.decode("utf-8", "replace").rstrip())

    errReceived = outReceived

    def processEnded(self, reason: Any) -> None:
        self.ended.callback(None)
        self.supervisor._ended(self, reason)


class WorkerSupervisor(Service):
    """
    The parent of C{config.workers} workers.

    @param configPath: the config file the workers read (L{None}: the
        built-in defaults).
    @param overrides: the command line's dotted overrides, given to the
        workers as they are.
    @ivar sockets: C{"role description"} -> the listening sockets, one per
        worker slot (slot k is served by worker k + 1).
    @ivar workers: index -> the running worker's process protocol.
    @ivar ready: the indexes of the workers that said they are ready: new
        connections go to their slots only (L{steer}), so that none waits
        for a worker that is down or starting while another could serve it.
    """

    log = Logger()

    def __init__(self, config: Config, configPath: str | None, overrides: Mapping[str, Any], reactor: Any,
                 clock: Any = None) -> None:
        self.config = config
        self.configPath = os.path.abspath(configPath) if configPath else None
        self.overrides = dict(overrides)
        self.reactor = reactor
        self.clock = clock if clock is not None else reactor
        self.tls = ServerTLS(config)
        self.sockets: dict[str, list[Any]] = {}
        self.workers: dict[int, _Worker] = {}
        self.ready: set[int] = set()
        self.restarts = 0
        self._delays: dict[int, float] = {}
        self._started: dict[int, float] = {}
        self._pending: dict[int, Any] = {}

    def privilegedStartService(self) -> None:
        super().privilegedStartService()
        if self.sockets:
            return
        self.tls.ensure()                     # once, here: the workers find the certificate made
        for entry in PROTOCOLS:
            for description in sectionOf(self.config, entry).listen:
                slots = bindListening(self.tls, description, self.config.workers)
                if slots is None:
                    continue
                self.sockets[f"{entry.role} {description}"] = slots
                host, port = slots[0].getsockname()[:2]
                self.log.info("{role} listening on {host}:{port} ({description})", role=entry.role,
                              host=host, port=port, description=description)

    def startService(self) -> None:
        self.privilegedStartService()
        super().startService()
        for index in range(1, self.config.workers + 1):
            self._spawn(index)
        self.log.info("twisted-mail-suite supervisor ready: {count} workers", count=self.config.workers)

    def _spawn(self, index: int) -> None:
        self._pending.pop(index, None)
        slot = {description: slots[index - 1] for description, slots in self.sockets.items()}
        fds = {description: listening.fileno() for description, listening in slot.items()}
        settings = {"index": index, "overrides": self.overrides, "parent": os.getpid(),
                    "inherited": {d: [fd, slot[d].family] for d, fd in fds.items()}}
        env = {**os.environ, WORKER_ENV: json.dumps(settings)}
        args = [sys.executable, "-c", TWISTD, "-n", "--pidfile=", "mailsuite",
                "--config", self.configPath or "none"]
        childFDs: dict[int, Any] = {0: "w", 1: "r", 2: "r"}
        childFDs.update({fd: fd for fd in fds.values()})
        worker = _Worker(self, index)
        self.reactor.spawnProcess(worker, sys.executable, args, env=env, childFDs=childFDs)
        self.workers[index] = worker
        self._started[index] = self.clock.seconds()
        self.log.info("worker {index} started (pid {pid})", index=index, pid=worker.transport.pid)

    def _ready(self, worker: _Worker) -> None:
        if self.workers.get(worker.index) is worker and worker.index not in self.ready:
            self.ready.add(worker.index)
            self._steer()

    def _steer(self) -> None:
        live = sorted(index - 1 for index in self.ready)
        for slots in self.sockets.values():
            try:
                steer(slots[0], live, len(slots))
            except OSError as e:       # then the kernel's hash over every slot, as without steering
                self.log.warn("connections not steered to the ready workers: {error}", error=e)
                return
        self.log.info("new connections go to workers {ready}",
                      ready=", ".join(str(i + 1) for i in live) or "all (none ready)")

    def _ended(self, worker: _Worker, reason: Any) -> None:
        index = worker.index
        if self.workers.get(index) is worker:
            del self.workers[index]
            if index in self.ready:
                self.ready.discard(index)
                if self.running:
                    self._steer()
        if not self.running:
            return
        quick = self.clock.seconds() - self._started.get(index, 0.0) < 10
        delay = min(self._delays.get(index, 0.5) * 2, 30.0) if quick else 1.0
        self._delays[index] = delay
        self.restarts += 1
        self.log.warn("worker {index} ended ({reason}); restarting in {delay:g} s", index=index,
                      reason=reason.getErrorMessage(), delay=delay)
        self._pending[index] = self.clock.callLater(delay, self._spawn, index)

    def signalWorkers(self, signum: int) -> None:
        """
        Send C{signum} to every running worker (SIGHUP: reload the users file).
        """
        for worker in list(self.workers.values()):
            try:
                worker.transport.signalProcess(signum)
            except Exception as e:      # already gone: its end is on the way
                self.log.info("worker {index} not signalled: {error}", index=worker.index, error=e)

    def stopService(self) -> Deferred:
        super().stopService()
        for call in self._pending.values():
            if call.active():
                call.cancel()
        self._pending.clear()
        workers = list(self.workers.values())
        if not workers:
            self._close()
            return succeed(None)
        self.signalWorkers(signal.SIGTERM)
        killer = self.clock.callLater(self.config.shutdown_timeout + 10, self.signalWorkers, signal.SIGKILL)

        def ended(_: object) -> None:
            if killer.active():
                killer.cancel()
            self._close()

        return DeferredList([worker.ended for worker in workers]).addCallback(ended)

    def _close(self) -> None:
        for slots in self.sockets.values():
            for listening in slots:
                listening.close()
        self.sockets.clear()
