# -*- test-case-name: tests.metrics.test_prometheus -*-
"""
Tests for L{twisted_mail_suite.metrics}: the Prometheus and null
implementations, each counting part on its own (the connection registry,
the login policy's sessions, the delivery target, the fsync timer, the
relay scheduler and queue) and C{docs/metrics.md} against the registry.
"""
from __future__ import annotations

import os
import re

from prometheus_client import REGISTRY
from twisted.cred.credentials import UsernamePassword
from twisted.internet.defer import succeed
from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase
from zope.interface import Interface
from zope.interface.verify import verifyObject

from twisted_mail_suite.delivery.target import DeliveryTarget
from twisted_mail_suite.identity.passwd import InMemoryUsers
from twisted_mail_suite.identity.realm import makePortal, nothing
from twisted_mail_suite.interfaces import IMetrics
from twisted_mail_suite.metrics import NULL_METRICS, NullMetrics, PrometheusMetrics, timedFsync
from twisted_mail_suite.net.admission import ConnectionRegistry, Refusal
from twisted_mail_suite.relay.entry import DEFERRED, FAILED, SENT
from twisted_mail_suite.service import MailSuiteService

from ..fakes import ROOT, makeConfig
from ..relay.test_scheduler import Harness as SchedulerHarness

DOC = os.path.join(ROOT, "docs", "metrics.md")


class IThing(Interface):
    """
    An avatar interface for a login in a test.
    """


def exercise(metrics: PrometheusMetrics) -> None:
    """
    Call every event of L{IMetrics} once, so every metric has a sample.
    """
    metrics.connectionOpened("smtp")
    metrics.connectionClosed("smtp")
    metrics.connectionRefused("smtp")
    metrics.messageAccepted()
    metrics.messageRejected("too_big")
    metrics.deliveryLatency(0.01)
    metrics.fsyncLatency(0.001)
    metrics.loginFailed("pop3", "failed")
    metrics.sessionOpened("imap")
    metrics.sessionClosed("imap")
    metrics.chatLine()
    metrics.relayDelivery("sent")
    metrics.watchChatMembers(lambda: 2)
    metrics.watchRelayQueue(lambda: 3)
    metrics.nodeInfo("mx-1", 2)


class ImplementationTests(SynchronousTestCase):
    def test_interfaces(self) -> None:
        """
        Both implementations provide L{IMetrics}.
        """
        self.assertTrue(verifyObject(IMetrics, PrometheusMetrics(processMetrics=False)))
        self.assertTrue(verifyObject(IMetrics, NullMetrics()))
        self.assertIsNone(NULL_METRICS.registry)
        exercise(NULL_METRICS)  # type: ignore[arg-type]

    def test_ownRegistry(self) -> None:
        """
        Each L{PrometheusMetrics} has a registry of its own, with the process
        metrics on it; the library's global registry holds none of ours.
        """
        one, two = PrometheusMetrics(), PrometheusMetrics()
        one.messageAccepted()
        self.assertEqual(one.value("mailsuite_smtp_messages_accepted_total"), 1.0)
        self.assertEqual(two.value("mailsuite_smtp_messages_accepted_total"), 0.0)
        self.assertIsNone(REGISTRY.get_sample_value("mailsuite_smtp_messages_accepted_total"))
        self.assertIsNotNone(one.value("process_cpu_seconds_total"))

    def test_labelledEvents(self) -> None:
        """
        Connections open go up and down; totals count accepted and refused
        apart; gauges read at scrape time ask their source then.
        """
        metrics = PrometheusMetrics(processMetrics=False)
        members = [4]
        metrics.watchChatMembers(lambda: members[0])
        metrics.connectionOpened("pop3")
        metrics.connectionOpened("pop3")
        metrics.connectionClosed("pop3")
        metrics.connectionRefused("pop3")
        self.assertEqual(metrics.value("mailsuite_connections_open", protocol="pop3"), 1.0)
        self.assertEqual(metrics.value("mailsuite_connections_total", protocol="pop3", result="accepted"), 2.0)
        self.assertEqual(metrics.value("mailsuite_connections_total", protocol="pop3", result="refused"), 1.0)
        self.assertEqual(metrics.value("mailsuite_chat_members"), 4.0)
        members[0] = 1
        self.assertEqual(metrics.value("mailsuite_chat_members"), 1.0)

    def test_timedFsync(self) -> None:
        """
        Each fsync's duration is observed, a failed one's too.
        """
        metrics = PrometheusMetrics(processMetrics=False)
        times = iter([1.0, 1.25, 2.0, 2.5])
        calls: list[int] = []

        def failing(fd: int) -> None:
            calls.append(fd)
            raise OSError("EIO")

        timedFsync(calls.append, metrics, lambda: next(times))(7)
        self.assertRaises(OSError, timedFsync(failing, metrics, lambda: next(times)), 8)
        self.assertEqual(calls, [7, 8])
        self.assertEqual(metrics.value("mailsuite_fsync_seconds_count"), 2.0)
        self.assertEqual(metrics.value("mailsuite_fsync_seconds_sum"), 0.75)

    def test_serviceDefault(self) -> None:
        """
        The service makes its own L{PrometheusMetrics} and hands it to the
        protocols through the parts; an embedder's is used as given.
        """
        config = makeConfig(self.mktemp())
        service = MailSuiteService(config, users=InMemoryUsers({}))
        self.assertIsInstance(service.metrics, PrometheusMetrics)
        self.assertIs(service.parts.metrics, service.metrics)
        self.assertIs(service.portal.metrics, service.metrics)
        mine = NullMetrics()
        self.assertIs(MailSuiteService(config, users=InMemoryUsers({}), metrics=mine).parts.metrics, mine)

    def test_nodeInfo(self) -> None:
        """
        The suite's metrics say which node and worker they come from:
        C{cluster.node} and the worker number, in C{mailsuite_node_info}.
        """
        config = makeConfig(self.mktemp(), **{"cluster.node": "mx-7"})
        service = MailSuiteService(config, users=InMemoryUsers({}), worker=3)
        self.assertEqual(service.metrics.value("mailsuite_node_info", node="mx-7", worker="3"), 1.0)
        self.assertIsNone(service.metrics.value("mailsuite_node_info", node="mx-7", worker="0"))


class SourceTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.metrics = PrometheusMetrics(processMetrics=False)

    def value(self, name: str, **labels: str) -> float | None:
        return self.metrics.value(name, **labels)

    def test_connectionRegistry(self) -> None:
        """
        The registry counts an admitted connection open until its ticket
        is released (once), and a refused one as refused only.
        """
        registry = ConnectionRegistry(maxConnections=1, metrics=self.metrics, protocol="chat")
        ticket = registry.admit("127.0.0.1", "first")
        self.assertIsInstance(registry.admit("127.0.0.1", "second"), Refusal)
        self.assertEqual(self.value("mailsuite_connections_open", protocol="chat"), 1.0)
        ticket.release()  # type: ignore[union-attr]
        ticket.release()  # type: ignore[union-attr]
        self.assertEqual(self.value("mailsuite_connections_open", protocol="chat"), 0.0)
        self.assertEqual(self.value("mailsuite_connections_total", protocol="chat", result="accepted"), 1.0)
        self.assertEqual(self.value("mailsuite_connections_total", protocol="chat", result="refused"), 1.0)

    def test_sessionLogoutOnce(self) -> None:
        """
        A successful login is a session of its protocol until its logout;
        a second logout call changes nothing.
        """
        config = makeConfig(self.mktemp())
        users = InMemoryUsers({"alice": "pw"})
        portal = makePortal(config, users, Clock(), lambda f, *a, **k: succeed(f(*a, **k)), self.metrics)
        portal.realm.register(IThing, lambda user: (object(), nothing))
        result = self.successResultOf(
            portal.session("127.0.0.1", True, "pop3").login(UsernamePassword(b"alice", b"pw"), IThing))
        self.assertEqual(self.value("mailsuite_sessions", protocol="pop3"), 1.0)
        result.logout()
        result.logout()
        self.assertEqual(self.value("mailsuite_sessions", protocol="pop3"), 0.0)

    def test_deliveryLatency(self) -> None:
        """
        A delivery's commit is timed from the call until it fired.
        """
        committed: list = []

        class Pending:
            def write(self, data: bytes) -> None:
                pass

            def commit(self):  # type: ignore[no-untyped-def]
                return succeed(["1"])

            def abort(self) -> None:
                pass

        class Store:
            def beginDelivery(self, users, sender, subject):  # type: ignore[no-untyped-def]
                return Pending()

        target = DeliveryTarget(Store(), metrics=self.metrics)  # type: ignore[arg-type]
        delivery = target.start()
        delivery._timer = iter([10.0, 10.5]).__next__
        delivery.commit().addCallback(committed.append)
        self.assertEqual(committed, [["1"]])
        self.assertEqual(self.value("mailsuite_delivery_seconds_sum"), 0.5)
        self.assertEqual(self.value("mailsuite_delivery_seconds_bucket", le="0.5"), 1.0)

    def test_relayResultsAndQueue(self) -> None:
        """
        Each recipient's recorded outcome counts by result; the queue's
        size is read from the queue.
        """
        h = SchedulerHarness(self)
        h.scheduler.metrics = self.metrics
        self.metrics.watchRelayQueue(h.queue.size)
        h.enqueue(self, "a@x.test", "b@y.test", "c@z.test")
        self.assertEqual(self.value("mailsuite_relay_queue_size"), 1.0)
        h.clock.advance(0)
        h.answer(("a@x.test", SENT), ("b@y.test", DEFERRED), ("c@z.test", FAILED))
        self.assertEqual([self.value("mailsuite_relay_deliveries_total", result=r)
                          for r in ("sent", "deferred", "bounced")], [1.0, 1.0, 1.0])


class DocumentedTests(SynchronousTestCase):
    def test_docListsTheRegistry(self) -> None:
        """
        The table of C{docs/metrics.md} lists exactly the C{mailsuite_*}
        metrics the registry exposes, with their types and label names.
        """
        metrics = PrometheusMetrics(processMetrics=False)
        exercise(metrics)
        exposed = {}
        for family in metrics.registry.collect():
            if not family.name.startswith("mailsuite_"):
                continue
            name = family.name + {"counter": "_total", "info": "_info"}.get(family.type, "")
            labels = {label for sample in family.samples for label in sample.labels} - {"le"}
            exposed[name] = (family.type, sorted(labels))
        with open(DOC, encoding="utf-8") as f:
            text = f.read()
        row = re.compile(r"^\| `(mailsuite_\w+)` \| (\w+) \|([^|]*)\|", re.M)
        documented = {name: (kind, sorted(re.findall(r"`(\w+)`", labels)))
                      for name, kind, labels in row.findall(text)}
        self.assertEqual(documented, exposed)
