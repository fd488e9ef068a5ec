# -*- test-case-name: tests.delivery.test_target -*-
"""
Tests for L{twisted_mail_suite.delivery.target}: one two-phase delivery
fanning a message out to every local user through one store transaction.
"""
from __future__ import annotations

from twisted.trial.unittest import SynchronousTestCase
from zope.interface.verify import verifyObject

from twisted_mail_suite.delivery.router import LocalRoute, RemoteRoute
from twisted_mail_suite.delivery.target import DeliveryTarget
from twisted_mail_suite.errors import DeliveryFailed, RelayUnavailable
from twisted_mail_suite.interfaces import IPendingDelivery

from .support import RecordingOutbound, RecordingStore


class DeliveryTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.store = RecordingStore()
        self.target = DeliveryTarget(self.store)

    def test_interface(self) -> None:
        """
        A delivery provides L{IPendingDelivery}.
        """
        verifyObject(IPendingDelivery, self.target.start())

    def test_oneTransaction(self) -> None:
        """
        All local users of all recipients share one store delivery, each
        named once, in the order first given, with the sender and subject.
        """
        delivery = self.target.start("a@b.test", "hello")
        delivery.addRecipient(LocalRoute(("alice",)))
        delivery.addRecipient(LocalRoute(("bob", "alice")))
        delivery.addRecipient(LocalRoute(("carol",)))
        delivery.write(b"Subject: hello\r\n\r\nbody\r\n")
        [stored] = self.store.deliveries
        self.assertEqual((stored.users, stored.sender, stored.subject),
                         (["alice", "bob", "carol"], "a@b.test", "hello"))

    def test_textAndUIDs(self) -> None:
        """
        Every write reaches the store in order and commit gives the store's UIDs.
        """
        delivery = self.target.start()
        delivery.addRecipient(LocalRoute(("alice", "bob")))
        delivery.write(b"a\r\n")
        delivery.write(b"b\r\n")
        self.assertEqual(delivery.size, 6)
        self.assertEqual(self.successResultOf(delivery.commit()), ["uid-alice", "uid-bob"])
        self.assertEqual((self.store.deliveries[0].data, self.store.deliveries[0].state),
                         (b"a\r\nb\r\n", "committed"))

    def test_lazyBegin(self) -> None:
        """
        The store is not asked before the first write, so the subject may
        still change after start.
        """
        delivery = self.target.start("a@b.test")
        delivery.addRecipient(LocalRoute(("alice",)))
        self.assertEqual(self.store.deliveries, [])
        delivery.subject = "late"
        delivery.write(b"x\r\n")
        self.assertEqual(self.store.deliveries[0].subject, "late")

    def test_commitWithoutText(self) -> None:
        """
        Committing without a write delivers an empty message.
        """
        delivery = self.target.start()
        delivery.addRecipient(LocalRoute(("alice",)))
        self.assertEqual(self.successResultOf(delivery.commit()), ["uid-alice"])
        self.assertEqual((self.store.deliveries[0].data, self.store.deliveries[0].state), (b"", "committed"))

    def test_recipientsBeforeText(self) -> None:
        """
        A recipient added after the text began is refused.
        """
        delivery = self.target.start()
        delivery.addRecipient(LocalRoute(("alice",)))
        delivery.write(b"x\r\n")
        self.assertRaises(RuntimeError, delivery.addRecipient, LocalRoute(("bob",)))
        self.assertEqual(self.store.deliveries[0].users, ["alice"])

    def test_remoteRefused(self) -> None:
        """
        Without an outbound queue a remote route is refused with L{RelayUnavailable}.
        """
        delivery = self.target.start()
        error = self.assertRaises(RelayUnavailable, delivery.addRecipient, RemoteRoute("x@elsewhere.test"))
        self.assertEqual(error.address, "x@elsewhere.test")

    def test_commitFailure(self) -> None:
        """
        A failed store commit fails the delivery with the store's error.
        """
        self.store.failCommit = DeliveryFailed("disk full")
        delivery = self.target.start()
        delivery.addRecipient(LocalRoute(("alice",)))
        delivery.write(b"x\r\n")
        self.failureResultOf(delivery.commit(), DeliveryFailed)

    def test_beginFailure(self) -> None:
        """
        A store that cannot begin fails the first write; abort is then harmless.
        """
        self.store.failBegin = DeliveryFailed("no tmp")
        delivery = self.target.start()
        delivery.addRecipient(LocalRoute(("alice",)))
        self.assertRaises(DeliveryFailed, delivery.write, b"x\r\n")
        delivery.abort()
        self.assertRaises(RuntimeError, delivery.write, b"y\r\n")


class AbortTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.store = RecordingStore()
        self.delivery = DeliveryTarget(self.store).start()
        self.delivery.addRecipient(LocalRoute(("alice",)))

    def test_abortBeforeText(self) -> None:
        """
        Aborting before any text never touches the store.
        """
        self.delivery.abort()
        self.assertEqual(self.store.deliveries, [])

    def test_abortAfterText(self) -> None:
        """
        Aborting after some text aborts the store's delivery, once.
        """
        self.delivery.write(b"x\r\n")
        self.delivery.abort()
        self.delivery.abort()
        self.assertEqual(self.store.deliveries[0].state, "aborted")

    def test_abortAfterCommit(self) -> None:
        """
        Abort after commit changes nothing.
        """
        self.delivery.write(b"x\r\n")
        self.successResultOf(self.delivery.commit())
        self.delivery.abort()
        self.assertEqual(self.store.deliveries[0].state, "committed")

    def test_noUseAfterEnd(self) -> None:
        """
        Writing or committing an ended delivery is a programming error.
        """
        self.delivery.abort()
        self.assertRaises(RuntimeError, self.delivery.write, b"x")
        self.assertRaises(RuntimeError, self.delivery.commit)


class FanOutTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.store = RecordingStore()
        self.outbound = RecordingOutbound(self.store.log)
        self.target = DeliveryTarget(self.store, self.outbound)

    def start(self, *routes: object) -> object:
        delivery = self.target.start("alice@example.test", "hi")
        for route in routes:
            delivery.addRecipient(route)  # type: ignore[arg-type]
        delivery.write(b"Return-Path: <alice@example.test>\r\nReceived: by us\r\n\r\nbody\r\n")
        return delivery

    def test_remoteOnly(self) -> None:
        """
        Remote recipients make one queued message (no store delivery) without our Return-Path.
        """
        delivery = self.start(RemoteRoute("x@a.test"), RemoteRoute("y@b.test"), RemoteRoute("x@a.test"))
        self.assertEqual(self.successResultOf(delivery.commit()), ["QID"])
        [queued] = self.outbound.pending
        self.assertEqual((queued.sender, queued.recipients, queued.data, queued.state),
                         ("alice@example.test", ["x@a.test", "y@b.test"], b"Received: by us\r\n\r\nbody\r\n",
                          "committed"))
        self.assertEqual(self.store.deliveries, [])

    def test_mixedTwoPhase(self) -> None:
        """
        Local and remote recipients commit together: queue prepared, local committed, queue published.
        """
        delivery = self.start(LocalRoute(("bob",)), RemoteRoute("x@a.test"))
        self.assertEqual(self.successResultOf(delivery.commit()), ["uid-bob", "QID"])
        self.assertEqual(self.store.log, ["queue prepare", "local commit", "queue commit"])
        self.assertTrue(self.store.deliveries[0].data.startswith(b"Return-Path: <alice@example.test>"))

    def test_queuePrepareFails(self) -> None:
        """
        If the queued copy cannot be made durable, the local copies are never committed.
        """
        self.outbound.failPrepare = DeliveryFailed("disk full")
        delivery = self.start(LocalRoute(("bob",)), RemoteRoute("x@a.test"))
        self.failureResultOf(delivery.commit(), DeliveryFailed)
        self.assertEqual(self.store.deliveries[0].state, "aborted")
        self.assertNotIn("local commit", self.store.log)

    def test_localCommitFails(self) -> None:
        """
        If the local copies fail, the prepared queued copy is dropped.
        """
        self.store.failCommit = DeliveryFailed("disk full")
        delivery = self.start(LocalRoute(("bob",)), RemoteRoute("x@a.test"))
        self.failureResultOf(delivery.commit(), DeliveryFailed)
        self.assertEqual(self.outbound.pending[0].state, "aborted")

    def test_publishFailsWithdrawsLocal(self) -> None:
        """
        If the queued copy cannot be published, the committed local copies are deleted again.
        """
        self.outbound.failCommit = DeliveryFailed("rename failed")
        delivery = self.start(LocalRoute(("bob", "carol")), RemoteRoute("x@a.test"))
        self.failureResultOf(delivery.commit(), DeliveryFailed)
        self.assertEqual(self.store.deleted, [("bob", ["uid-bob"]), ("carol", ["uid-carol"])])
        self.flushLoggedErrors(DeliveryFailed)

    def test_abortBoth(self) -> None:
        """
        Abort drops both legs.
        """
        delivery = self.start(LocalRoute(("bob",)), RemoteRoute("x@a.test"))
        delivery.abort()
        self.assertEqual((self.store.deliveries[0].state, self.outbound.pending[0].state), ("aborted", "aborted"))
