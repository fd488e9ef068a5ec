# -*- test-case-name: tests.store.test_notifying -*-
"""
Tests for L{twisted_mail_suite.store.notifying}: new-mail events after
commit, for any backend.
"""
from __future__ import annotations

from typing import Any

from twisted.application.service import IService, Service
from twisted.internet.defer import Deferred, fail, succeed
from twisted.trial.unittest import SynchronousTestCase
from zope.interface import implementer
from zope.interface.verify import verifyObject

from twisted_mail_suite.errors import DeliveryFailed
from twisted_mail_suite.bus import EventBus
from twisted_mail_suite.events import NewMailEvent
from twisted_mail_suite.interfaces import IMailStore, IPendingDelivery, StoredMessage
from twisted_mail_suite.store.notifying import NotifyingStore


@implementer(IPendingDelivery)
class FakeDelivery:
    def __init__(self, users: list[str]) -> None:
        self.users = users
        self.size = 0
        self.result: Deferred = Deferred()
        self.aborted = False

    def write(self, data: bytes) -> None:
        self.size += len(data)

    def commit(self) -> Deferred:
        return self.result

    def abort(self) -> None:
        self.aborted = True


@implementer(IMailStore)
class FakeStore(Service):
    """
    An in-memory backend that answers like a database would (Deferreds).
    """

    def __init__(self) -> None:
        self.deliveries: list[FakeDelivery] = []
        self.calls: list[tuple[str, Any]] = []

    def beginDelivery(self, users: Any, sender: str = "", subject: str = "") -> FakeDelivery:
        self.deliveries.append(FakeDelivery(list(users)))
        return self.deliveries[-1]

    def listMessages(self, user: str) -> Deferred:
        self.calls.append(("list", user))
        return succeed([StoredMessage("u1", 3)])

    def readMessage(self, user: str, uid: str) -> Deferred:
        self.calls.append(("read", uid))
        return fail(KeyError(uid))

    def markSeen(self, user: str, uids: Any) -> Deferred:
        self.calls.append(("seen", list(uids)))
        return succeed(None)

    def deleteMessages(self, user: str, uids: Any) -> Deferred:
        self.calls.append(("delete", list(uids)))
        return succeed(None)


class NotifyingStoreTests(SynchronousTestCase):
    """
    L{NotifyingStore} publishes one event per recipient once a commit
    succeeds, and passes everything else through.
    """

    def setUp(self) -> None:
        self.inner = FakeStore()
        self.bus = EventBus()
        self.events: list[NewMailEvent] = []
        self.bus.subscribe(NewMailEvent, self.events.append)
        self.store = NotifyingStore(self.inner, self.bus)

    def test_interfaces(self) -> None:
        """
        It is a mail store and a service.
        """
        self.assertTrue(verifyObject(IMailStore, self.store))
        self.assertTrue(verifyObject(IService, self.store))

    def test_eventsAfterCommit(self) -> None:
        """
        Nothing is published before the commit fires; then one event per
        recipient, with the sender, subject and that recipient's UID.
        """
        delivery = self.store.beginDelivery(["alice", "bob", "alice"], "s@x.test", "Hi")
        delivery.write(b"abc")
        d = delivery.commit()
        self.assertEqual(self.events, [])
        self.inner.deliveries[0].result.callback(["u1", "u2"])
        self.assertEqual(self.successResultOf(d), ["u1", "u2"])
        self.assertEqual(self.events, [NewMailEvent("alice", "s@x.test", "Hi", "u1"),
                                       NewMailEvent("bob", "s@x.test", "Hi", "u2")])
        self.assertEqual(delivery.size, 3)

    def test_noEventOnFailure(self) -> None:
        """
        A failed commit publishes nothing and fails the same way.
        """
        delivery = self.store.beginDelivery(["alice"])
        d = delivery.commit()
        self.inner.deliveries[0].result.errback(DeliveryFailed("disk"))
        self.failureResultOf(d, DeliveryFailed)
        self.assertEqual(self.events, [])

    def test_abort(self) -> None:
        """
        Abort reaches the backend's delivery.
        """
        self.store.beginDelivery(["alice"]).abort()
        self.assertTrue(self.inner.deliveries[0].aborted)

    def test_readsPassThrough(self) -> None:
        """
        Listing, reading, flagging and deleting are the backend's answers.
        """
        self.assertEqual(self.successResultOf(self.store.listMessages("alice")), [StoredMessage("u1", 3)])
        self.failureResultOf(self.store.readMessage("alice", "zz"), KeyError)
        self.successResultOf(self.store.markSeen("alice", ["u1"]))
        self.successResultOf(self.store.deleteMessages("alice", ["u1"]))
        self.assertEqual(self.inner.calls, [("list", "alice"), ("read", "zz"), ("seen", ["u1"]),
                                            ("delete", ["u1"])])

    def test_startsAndStopsInner(self) -> None:
        """
        Starting and stopping the decorator starts and stops the backend.
        """
        self.store.startService()
        self.assertTrue(self.inner.running)
        self.successResultOf(self.store.stopService())
        self.assertFalse(self.inner.running)
