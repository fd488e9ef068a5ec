# -*- test-case-name: tests.cluster.test_shared -*-
"""
One process's link to the cluster (L{SharedState}): its Redis command and
pub/sub connections and its unique name, as one service the suite starts
first and stops last.
"""
from __future__ import annotations

import os
import secrets
import socket
from typing import Any

from twisted.application.service import MultiService
from twisted.internet.defer import Deferred
from twisted.internet.task import deferLater

from ..clusterconfig import ClusterConfig
from .client import RedisClient, RedisSubscriber, RedisUnavailable
from .members import LiveNodes

__all__ = ["SharedState", "nodeName", "processName"]


def nodeName(node: str | None) -> str:
    """
    This node's name: C{cluster.node}, else the host name.
    """
    return node or socket.gethostname()


def processName(node: str | None) -> str:
    """
    This process's name in the cluster: the node (default: the host
    name), the PID and a random part (a restarted worker is a new one).
    """
    return f"{nodeName(node)}/{os.getpid()}/{secrets.token_hex(3)}"


class SharedState(MultiService):
    """
    @ivar client: the command connection (L{RedisClient}).
    @ivar subscriber: the pub/sub connection (L{RedisSubscriber}).
    @ivar origin: this process's name (L{processName}).
    @ivar clock: the clock of timers and leases.
    @ivar ttl: seconds a presence or a claim lives unless renewed.
    """

    def __init__(self, config: ClusterConfig, reactor: Any, clock: Any = None, ttl: float = 30.0) -> None:
        super().__init__()
        address = config.redisAddress
        if address is None:
            raise ValueError("cluster.redis is not set")
        self.clock = clock if clock is not None else reactor
        self.client = RedisClient(reactor, address, self.clock)
        self.subscriber = RedisSubscriber(reactor, address, self.clock)
        self.client.setServiceParent(self)
        self.subscriber.setServiceParent(self)
        self.origin = processName(config.node)
        self.ttl = ttl
        self._liveNodes: LiveNodes | None = None

    def liveNodes(self) -> LiveNodes:
        """
        The nodes with a live process, read from the heartbeats while this
        service runs (made at the first call, then the same one).
        """
        if self._liveNodes is None:
            self._liveNodes = LiveNodes(self.client, self.clock)
            self._liveNodes.setServiceParent(self)
        return self._liveNodes

    def whenReady(self, timeout: float = 10.0) -> Deferred:
        """
        @return: a Deferred firing once both connections are up and the
            subscriptions in effect (for tests and scripts), failing with
            L{twisted_mail_suite.cluster.RedisUnavailable} after C{timeout}.
        """
        waited = [0.0]

        def check(_: object = None) -> Deferred | None:
            if self.client.connected and self.subscriber.connected:
                return self.subscriber.whenSubscribed()
            if waited[0] >= timeout:
                raise RedisUnavailable(f"Redis not reachable within {timeout:g} s")
            waited[0] += 0.05
            return deferLater(self.clock, 0.05, check)

        return check()
