# -*- test-case-name: tests.cluster.test_status -*-
"""
Each process's heartbeat in Redis (L{Heartbeat}), read back by
C{mailsuite-admin cluster status} (L{twisted_mail_suite.cluster.status}).

Every process of the cluster keeps one key,
C{mailsuite:member:NAME} (NAME: its unique L{processName
<twisted_mail_suite.cluster.shared.processName>}), a JSON object with its
node, PID, worker number, start time and ports, written again every
C{interval} seconds with a lifetime of C{ttl} seconds: a process killed
without the chance to say goodbye disappears after C{ttl}; one that stops
deletes its key.
"""
from __future__ import annotations

import json
import os
import time
from typing import Any, Callable

from twisted.application.service import Service
from twisted.internet.defer import Deferred, succeed
from twisted.internet.task import LoopingCall
from twisted.logger import Logger

__all__ = ["HEARTBEAT_INTERVAL", "HEARTBEAT_TTL", "MEMBER_PREFIX", "Heartbeat"]

MEMBER_PREFIX = "mailsuite:member:"
HEARTBEAT_INTERVAL = 5.0      # seconds between two writes of a process's key
HEARTBEAT_TTL = 15.0          # seconds a key lives unless written again


class Heartbeat(Service):
    """
    Keep this process's member key in Redis while the service runs.

    @param client: the command connection (a L{RedisClient
        <twisted_mail_suite.cluster.client.RedisClient>}).
    @param name: this process's unique name in the cluster.
    @param node: the node (machine) it belongs to.
    @param worker: its worker number (0: not a worker of C{workers: N}).
    @param ports: returns role -> the TCP ports it listens on, asked at
        every beat (the ports are known once the listeners are bound).
    @ivar beats: how many writes succeeded (for tests).
    """

    log = Logger()

    def __init__(self, client: Any, name: str, node: str, worker: int, ports: Callable[[], dict[str, list[int]]],
                 clock: Any, interval: float = HEARTBEAT_INTERVAL, ttl: float = HEARTBEAT_TTL) -> None:
        self.client = client
        self.name = name
        self.key = MEMBER_PREFIX + name
        self.node = node
        self.worker = worker
        self.ports = ports
        self.clock = clock
        self.interval = interval
        self.ttl = ttl
        self.started = time.time()
        self.beats = 0
        self._failing = False
        self._loop: LoopingCall | None = None

    def describe(self) -> dict[str, Any]:
        """
        What the key holds: C{name}, C{node}, C{pid}, C{worker},
        C{started} and C{beat} (UNIX times), C{ports} (role -> ports).
        """
        return {"name": self.name, "node": self.node, "pid": os.getpid(), "worker": self.worker,
                "started": self.started, "beat": time.time(), "ports": self.ports()}

    def beat(self) -> Deferred:
        """
        Write the key now (a failure is logged once until a write works
        again, and never raised).
        """
        d = self.client.execute("SET", self.key, json.dumps(self.describe()), "PX", int(self.ttl * 1000))

        def written(_: object) -> None:
            self.beats += 1
            self._failing = False

        def failed(failure: Any) -> None:
            if not self._failing:
                self._failing = True
                self.log.warn("cluster heartbeat not written: {error}", error=failure.getErrorMessage())

        return d.addCallbacks(written, failed)

    def startService(self) -> None:
        super().startService()
        self._loop = LoopingCall(self.beat)
        self._loop.clock = self.clock
        self._loop.start(self.interval, now=True)

    def stopService(self) -> Deferred:
        super().stopService()
        if self._loop is not None and self._loop.running:
            self._loop.stop()
        if not self.client.connected:
            return succeed(None)
        return self.client.execute("DEL", self.key).addErrback(lambda _: None)
