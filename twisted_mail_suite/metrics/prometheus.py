# -*- test-case-name: tests.metrics.test_prometheus -*-
"""
L{IMetrics} kept in a C{prometheus_client} registry of its own.

Each suite gets its own C{CollectorRegistry} (never the library's global
one), with the process and platform collectors on it, so several suites or
test harnesses in one process keep separate counts and a scrape shows one
suite.  On the hot path an event is one dictionary lookup (the labelled
child, made on first use) and one increment under the child's lock.
"""
from __future__ import annotations

import time
from typing import Any, Callable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, Info
from prometheus_client import GCCollector, PlatformCollector, ProcessCollector
from zope.interface import implementer

from ..interfaces import IMetrics

__all__ = ["DELIVERY_BUCKETS", "FSYNC_BUCKETS", "PrometheusMetrics", "timedFsync"]

# seconds: a commit waits for a group fsync (milliseconds), or for a slow disk
DELIVERY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
FSYNC_BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0)


class _Children(dict):  # type: ignore[type-arg]
    """
    Label value(s) -> the metric's child for them, made on first use: the
    hot path pays a dictionary lookup, not C{labels()}.
    """

    __slots__ = ("_labels",)

    def __init__(self, labels: Callable[..., Any]) -> None:
        super().__init__()
        self._labels = labels

    def __missing__(self, key: Any) -> Any:
        child = self[key] = self._labels(*key) if isinstance(key, tuple) else self._labels(key)
        return child


@implementer(IMetrics)
class PrometheusMetrics:
    """
    The suite's metrics in C{registry}; see C{docs/metrics.md} for each
    name and label.

    @param registry: where to keep them (default: a new registry of this
        suite's own).
    @param processMetrics: add the process, platform and GC collectors
        (C{process_*}, C{python_info}, C{python_gc_*}) to the registry.
    @ivar registry: the C{CollectorRegistry} to expose
        (C{prometheus_client.generate_latest(metrics.registry)}).
    """

    def __init__(self, registry: CollectorRegistry | None = None, processMetrics: bool = True) -> None:
        self.registry = registry = registry if registry is not None else CollectorRegistry()
        if processMetrics:
            ProcessCollector(registry=registry)
            PlatformCollector(registry=registry)
            GCCollector(registry=registry)
        self.connectionsOpen = Gauge(
            "mailsuite_connections_open", "Connections admitted and not yet closed, per protocol",
            ["protocol"], registry=registry)
        self.connections = Counter(
            "mailsuite_connections", "Connections accepted or refused at admission, per protocol",
            ["protocol", "result"], registry=registry)
        self.messagesAccepted = Counter(
            "mailsuite_smtp_messages_accepted", "Messages SMTP answered 250 to (durable)", registry=registry)
        self.messagesRejected = Counter(
            "mailsuite_smtp_messages_rejected", "Senders, recipients and message texts SMTP refused, by reason",
            ["reason"], registry=registry)
        self.delivery = Histogram(
            "mailsuite_delivery_seconds", "From a delivery's commit until every copy is durable",
            buckets=DELIVERY_BUCKETS, registry=registry)
        self.fsync = Histogram(
            "mailsuite_fsync_seconds", "One fsync of the mail store (a message file or its folder)",
            buckets=FSYNC_BUCKETS, registry=registry)
        self.loginFailures = Counter(
            "mailsuite_login_failures", "Failed logins, per protocol and outcome",
            ["protocol", "outcome"], registry=registry)
        self.sessions = Gauge(
            "mailsuite_sessions", "Logged-in sessions, per protocol", ["protocol"], registry=registry)
        self.chatMembers = Gauge(
            "mailsuite_chat_members", "Chat members online", registry=registry)
        self.chatLines = Counter(
            "mailsuite_chat_lines", "Chat lines (said or actions) sent to a room", registry=registry)
        self.relayQueue = Gauge(
            "mailsuite_relay_queue_size", "Messages in the outbound queue", registry=registry)
        self.relayDeliveries = Counter(
            "mailsuite_relay_deliveries", "Outbound delivery attempts per recipient, by result",
            ["result"], registry=registry)
        self.node = Info(
            "mailsuite_node", "The node (cluster.node or the host name) and worker these metrics come from",
            registry=registry)
        self._open = _Children(self.connectionsOpen.labels)
        self._connections = _Children(self.connections.labels)
        self._rejected = _Children(self.messagesRejected.labels)
        self._loginFailures = _Children(self.loginFailures.labels)
        self._sessions = _Children(self.sessions.labels)
        self._relayDeliveries = _Children(self.relayDeliveries.labels)
        self._accepted = self.messagesAccepted.inc
        self._lines = self.chatLines.inc
        # Once per message (and per fsync): the library's method itself, no frame of ours in between.
        self.messageAccepted = self._accepted                # type: ignore[method-assign]
        self.deliveryLatency = self.delivery.observe         # type: ignore[method-assign]
        self.fsyncLatency = self.fsync.observe               # type: ignore[method-assign]

    def connectionOpened(self, protocol: str) -> None:
        self._open[protocol].inc()
        self._connections[protocol, "accepted"].inc()

    def connectionClosed(self, protocol: str) -> None:
        self._open[protocol].dec()

    def connectionRefused(self, protocol: str) -> None:
        self._connections[protocol, "refused"].inc()

    def messageAccepted(self) -> None:
        self._accepted()

    def messageRejected(self, reason: str) -> None:
        self._rejected[reason].inc()

    def deliveryLatency(self, seconds: float) -> None:
        self.delivery.observe(seconds)

    def fsyncLatency(self, seconds: float) -> None:
        self.fsync.observe(seconds)

    def loginFailed(self, protocol: str, outcome: str) -> None:
        self._loginFailures[protocol, outcome].inc()

    def sessionOpened(self, protocol: str) -> None:
        self._sessions[protocol].inc()

    def sessionClosed(self, protocol: str) -> None:
        self._sessions[protocol].dec()

    def chatLine(self) -> None:
        self._lines()

    def relayDelivery(self, result: str) -> None:
        self._relayDeliveries[result].inc()

    def watchChatMembers(self, count: Callable[[], int]) -> None:
        self.chatMembers.set_function(count)

    def watchRelayQueue(self, size: Callable[[], int]) -> None:
        self.relayQueue.set_function(size)

    def nodeInfo(self, node: str, worker: int) -> None:
        self.node.info({"node": node, "worker": str(worker)})

    def value(self, name: str, **labels: str) -> float | None:
        """
        The current value of sample C{name} with C{labels} (for tests and
        tools), or L{None} if there is none.
        """
        return self.registry.get_sample_value(name, labels)


def timedFsync(fsync: Callable[[int], None], metrics: IMetrics,
               clock: Callable[[], float] = time.perf_counter) -> Callable[[int], None]:
    """
    C{fsync} reporting each call's duration to C{metrics.fsyncLatency}
    (even a failed one), for the store's commit thread.
    """
    observe = metrics.fsyncLatency

    def timed(fd: int) -> None:
        began = clock()
        try:
            fsync(fd)
        finally:
            observe(clock() - began)

    return timed
