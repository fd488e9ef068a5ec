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

L{LiveNodes} reads the keys back inside a suite: the nodes with a live
process, so that nginx's auth_http (L{twisted_mail_suite.proxy}) passes
over a node whose processes all stopped beating.
"""
from __future__ import annotations

import json
import os
import time
from typing import Any, Callable, Iterable

from twisted.application.internet import TimerService
from twisted.internet.defer import Deferred, succeed
from twisted.logger import Logger

__all__ = ["HEARTBEAT_INTERVAL", "HEARTBEAT_TTL", "MEMBER_PREFIX", "Heartbeat", "LiveNodes", "decodeMembers"]

MEMBER_PREFIX = "mailsuite:member:"
HEARTBEAT_INTERVAL = 5.0      # seconds between two writes of a process's key
HEARTBEAT_TTL = 15.0          # seconds a key lives unless written again
LIVE_NODES_INTERVAL = 2.0     # seconds between two readings of the keys by LiveNodes
SCAN_COUNT = 1000


def decodeMembers(values: Iterable[bytes | None]) -> list[dict[str, Any]]:
    """
    The heartbeats among the values of C{MGET} over member keys (a key
    that expired between C{SCAN} and C{MGET} is L{None}; a value that is
    not a JSON object is passed over), sorted by node, worker and PID.
    """
    members = []
    for value in values:
        if value is None:
            continue
        try:
            member = json.loads(value)
        except ValueError:
            continue
        if isinstance(member, dict):
            members.append(member)
    members.sort(key=lambda m: (str(m.get("node")), int(m.get("worker") or 0), int(m.get("pid") or 0)))
    return members


class Heartbeat(TimerService):
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
        super().__init__(interval, self.beat)
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

    def stopService(self) -> Deferred:
        def forget(_: object) -> Deferred | None:
            if not self.client.connected:
                return None
            return self.client.execute("DEL", self.key).addErrback(lambda _: None)

        return super().stopService().addCallback(forget)


class LiveNodes(TimerService):
    """
    The names of the nodes that have at least one live process (a member
    key in Redis), read every C{interval} seconds while the service runs.

    @param client: the command connection (a L{RedisClient
        <twisted_mail_suite.cluster.client.RedisClient>}).
    @ivar nodes: the live node names at the last reading, or L{None} when
        the last reading failed (Redis unreachable) or none was made yet:
        then nothing is known to be down.
    """

    log = Logger()

    def __init__(self, client: Any, clock: Any, interval: float = LIVE_NODES_INTERVAL) -> None:
        super().__init__(interval, self.refresh)
        self.client = client
        self.clock = clock
        self.nodes: frozenset[str] | None = None
        self._warned: frozenset[str] = frozenset()

    def down(self, names: Iterable[str]) -> frozenset[str]:
        """
        Which of C{names} are known to be down: no live process of theirs
        at the last reading.  Nothing when nothing is known, and nothing
        when that would be every one of them (names that match no node's
        C{cluster.node} look like that, and sending users somewhere beats
        refusing them all; logged once).
        """
        if self.nodes is None:
            return frozenset()
        names = frozenset(names)
        gone = names - self.nodes
        if gone != names:
            return gone
        if gone and gone != self._warned:
            self._warned = gone
            self.log.warn("none of the nodes {names} has a live process in the cluster (do their names match "
                          "cluster.node?): passing over none of them", names=sorted(gone))
        return frozenset()

    def refresh(self) -> Deferred:
        """
        Read the member keys now (C{SCAN}, then C{MGET}); never fails.
        """
        keys: list[bytes] = []

        def scanned(reply: list[Any]) -> Deferred:
            cursor, found = reply
            keys.extend(found)
            if cursor != b"0":
                return self.client.execute("SCAN", cursor, "MATCH", MEMBER_PREFIX + "*", "COUNT", SCAN_COUNT
                                           ).addCallback(scanned)
            return self.client.execute("MGET", *keys) if keys else succeed([])

        def read(values: list[bytes | None]) -> None:
            self.nodes = frozenset(str(member.get("node")) for member in decodeMembers(values))

        def failed(failure: Any) -> None:
            self.nodes = None

        d = self.client.execute("SCAN", 0, "MATCH", MEMBER_PREFIX + "*", "COUNT", SCAN_COUNT)
        return d.addCallback(scanned).addCallbacks(read, failed)

