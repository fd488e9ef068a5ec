# -*- test-case-name: tests.chat.test_factory -*-
"""
Tests for L{twisted_mail_suite.chat.factory}: the chat factory built from
explicit pieces, its new-mail subscription while listening, admission and
the graceful drain through the connection chassis.
"""
from __future__ import annotations

from typing import Any, Callable

from twisted.internet.defer import Deferred, fail, succeed
from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase
from zope.interface.verify import verifyObject

from twisted_mail_suite.chat.factory import ChatFactory, makeFactory
from twisted_mail_suite.config import ChatConfig
from twisted_mail_suite.delivery import DeliveryTarget
from twisted_mail_suite.errors import DeliveryFailed
from twisted_mail_suite.events import NewMailEvent
from twisted_mail_suite.identity.passwd import InMemoryUsers
from twisted_mail_suite.net.lifecycle import IDrainable, IManagedConnection

from .support import Client, chatSuite


class RecordingBus:
    """
    An C{IEventBus} that only records who is subscribed.
    """

    def __init__(self) -> None:
        self.subscribed: list[tuple[type, Callable[[Any], object]]] = []

    def subscribe(self, eventType: type, callback: Callable[[Any], object]) -> Callable[[], None]:
        entry = (eventType, callback)
        self.subscribed.append(entry)
        return lambda: self.subscribed.remove(entry)

    def publish(self, event: object) -> None:
        for eventType, callback in list(self.subscribed):
            if isinstance(event, eventType):
                callback(event)


class OfflineMailer:
    """
    A C{mailOffline} callable whose results the test decides.
    """

    def __init__(self) -> None:
        self.calls: list[tuple[str, str, str]] = []
        self.result: Callable[[], Deferred] = lambda: succeed([1])

    def __call__(self, sender: str, recipient: str, text: str) -> Deferred:
        self.calls.append((sender, recipient, text))
        return self.result()


def explicitFactory(testCase: SynchronousTestCase, **config: Any) -> tuple[ChatFactory, RecordingBus,
                                                                          OfflineMailer, Clock]:
    """
    A L{ChatFactory} built from its pieces alone (no suite); the portal is
    a fake suite's, for the tests that log in.
    """
    suite, _ = chatSuite(testCase)
    bus, mailer, clock = RecordingBus(), OfflineMailer(), Clock()
    factory = ChatFactory(ChatConfig(**config), "chat.example.test", suite.portal,
                          InMemoryUsers({"bob": "hunter2"}), bus, mailer, clock)
    return factory, bus, mailer, clock


class MakeFactoryTests(SynchronousTestCase):
    """
    L{makeFactory} hands the factory explicit pieces of the suite.
    """

    def test_pieces(self) -> None:
        """
        The factory gets the chat's config section, the hostname (in the
        greeting) and the suite's clock, and keeps no suite or parts.
        """
        suite, _ = chatSuite(self)
        factory = makeFactory(suite.parts, "chat")
        self.assertIs(factory.config, suite.config.chat)
        self.assertIs(factory.clock, suite.parts.clock)
        self.assertIn(suite.config.hostname.encode(), factory.greeting)
        for name in ("suite", "parts"):
            self.assertFalse(hasattr(factory, name), name)

    def test_oneDeliveryTarget(self) -> None:
        """
        The offline mail goes through one L{DeliveryTarget} over the
        suite's store, built with the factory.
        """
        suite, _ = chatSuite(self)
        factory = makeFactory(suite.parts, "chat")
        [target] = [arg for arg in factory.mailOffline.args if isinstance(arg, DeliveryTarget)]
        self.assertIs(target.store, suite.parts.store)

    def test_builtQuietly(self) -> None:
        """
        Building a factory subscribes to nothing and schedules nothing.
        """
        factory, bus, mailer, clock = explicitFactory(self)
        self.assertEqual((bus.subscribed, clock.getDelayedCalls()), ([], []))


class SubscriptionTests(SynchronousTestCase):
    """
    New-mail notices are heard from C{startFactory} to C{stopFactory}.
    """

    def test_startSubscribes(self) -> None:
        """
        The first listener subscribes the factory once, however many follow.
        """
        factory, bus, mailer, clock = explicitFactory(self)
        factory.doStart()
        factory.doStart()
        self.assertEqual(bus.subscribed, [(NewMailEvent, factory.newMail)])

    def test_stopUnsubscribes(self) -> None:
        """
        When the last listener stops, the subscription is released.
        """
        factory, bus, mailer, clock = explicitFactory(self)
        factory.doStart()
        factory.doStart()
        factory.doStop()
        self.assertEqual(len(bus.subscribed), 1)
        factory.doStop()
        self.assertEqual(bus.subscribed, [])

    def test_restart(self) -> None:
        """
        A factory that listens again subscribes again.
        """
        factory, bus, mailer, clock = explicitFactory(self)
        factory.doStart()
        factory.doStop()
        factory.doStart()
        self.assertEqual(bus.subscribed, [(NewMailEvent, factory.newMail)])


class OfflineMailTests(SynchronousTestCase):
    """
    A private message to a registered user who is offline goes to the
    factory's C{mailOffline}.
    """

    def test_mailed(self) -> None:
        """
        The sender's name, the owner and the text are handed over; the
        sender is told once the mail is durable.
        """
        factory, bus, mailer, clock = explicitFactory(self)
        ann = Client(factory)
        ann.send("/login alice secret")
        ann.lines()
        ann.send("/msg BOB see you")
        self.assertEqual(mailer.calls, [("alice", "bob", "see you")])
        self.assertEqual(ann.lines(), ["*** bob is offline; your message was mailed to them"])

    def test_failed(self) -> None:
        """
        A failed delivery is logged and the sender told to try later.
        """
        factory, bus, mailer, clock = explicitFactory(self)
        mailer.result = lambda: fail(DeliveryFailed("disk full"))
        ann = Client(factory)
        ann.send("/login alice secret")
        ann.lines()
        ann.send("to|bob|hello")
        self.assertEqual(ann.lines(), ["!!! could not mail bob, try again later"])
        self.assertEqual(len(self.flushLoggedErrors(DeliveryFailed)), 1)


class ChassisTests(SynchronousTestCase):
    """
    Admission, idle and drain go through the chassis's pieces.
    """

    def test_interfaces(self) -> None:
        """
        The factory is drainable; each connection is a managed connection.
        """
        factory, bus, mailer, clock = explicitFactory(self)
        self.assertTrue(verifyObject(IDrainable, factory))
        self.assertTrue(verifyObject(IManagedConnection, Client(factory).protocol))

    def test_releasedOnce(self) -> None:
        """
        A connection lost twice gives its place back once.
        """
        factory, bus, mailer, clock = explicitFactory(self, max_connections_per_ip=1)
        ann, ben = Client(factory, "192.0.2.1"), Client(factory, "192.0.2.2")
        ann.disconnect()
        ann.disconnect()
        self.assertEqual(factory.connections, 1)
        again = Client(factory, "192.0.2.1")
        self.assertFalse(again.closing)
        self.assertEqual(factory.manager.registry.countFor("192.0.2.1"), 1)

    def test_refusedNotCounted(self) -> None:
        """
        A refused connection is never counted, and its loss releases nothing.
        """
        factory, bus, mailer, clock = explicitFactory(self, max_connections=1)
        Client(factory)
        refused = Client(factory)
        refused.disconnect()
        self.assertEqual(factory.connections, 1)

    def test_drainingRefuses(self) -> None:
        """
        A connection arriving while the factory drains is told the server
        is shutting down, closed and not counted.
        """
        factory, bus, mailer, clock = explicitFactory(self)
        Client(factory)
        factory.drain(10)
        late = Client(factory)
        self.assertEqual(late.lines(), ["*** the chat server is shutting down"])
        self.assertTrue(late.closing)
        self.assertEqual(factory.connections, 1)

    def test_goodbyeOnce(self) -> None:
        """
        The listeners' stop then the service's drain say goodbye once.
        """
        factory, bus, mailer, clock = explicitFactory(self)
        ann = Client(factory)
        ann.lines()
        factory.doStart()
        factory.doStop()
        d = factory.drain(10)
        self.assertEqual(ann.lines(), ["*** the chat server is shutting down"])
        ann.disconnect()
        self.assertIsNone(self.successResultOf(d))

    def test_noIdleKickWhileDraining(self) -> None:
        """
        The drain stops the idle timer: nobody is tracked (or kicked) while
        the server shuts down.
        """
        factory, bus, mailer, clock = explicitFactory(self, idle_timeout=5)
        ann = Client(factory)
        ann.lines()
        factory.drain(60)
        clock.advance(5)
        self.assertEqual(ann.lines(), ["*** the chat server is shutting down"])
        self.assertEqual(len(factory.idle), 0)
