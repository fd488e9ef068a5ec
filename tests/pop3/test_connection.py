# -*- test-case-name: tests.pop3.test_connection -*-
"""
Tests for L{twisted_mail_suite.pop3.connection} and
L{twisted_mail_suite.pop3.factory}: a POP3 connection on the chassis
(admission, the shared idle timer, the lifecycle the drain drives) and the
factory built from explicit pieces.
"""
from __future__ import annotations

from twisted.internet.interfaces import IPushProducer
from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase
from zope.interface.verify import verifyObject

from twisted_mail_suite.net.lifecycle import IDrainable, IManagedConnection, Phase
from twisted_mail_suite.pop3.connection import SHUTTING_DOWN, TOO_MANY
from twisted_mail_suite.pop3.factory import POP3Factory, makeFactory

from .support import APOP_ON, REMOTE, Client, deliver, holdPasswordChecks, newSuite


class InterfaceTests(SynchronousTestCase):
    """
    The factory and its connections provide the chassis' interfaces.
    """

    def test_factoryIsDrainable(self) -> None:
        """
        The factory provides L{IDrainable}, so the service drains it at stop.
        """
        self.assertTrue(verifyObject(IDrainable, newSuite(self).factories["pop3"]))

    def test_connectionIsManaged(self) -> None:
        """
        A connection provides L{IManagedConnection} and L{IPushProducer}.
        """
        protocol = Client(newSuite(self)).protocol
        self.assertTrue(verifyObject(IManagedConnection, protocol))
        self.assertTrue(verifyObject(IPushProducer, protocol))

    def test_everyAttributeInSlots(self) -> None:
        """
        A connection keeps its state in slots: after a session, its instance
        dictionary is still empty (a few hundred bytes per idle connection).
        """
        client = Client(newSuite(self))
        client.login()
        client.send(b"STAT", b"CAPA", b"NOOP")
        self.assertEqual(vars(client.protocol), {})


class AdmissionTests(SynchronousTestCase):
    """
    Admission through the factory's connection registry.
    """

    def test_refusedNotCounted(self) -> None:
        """
        A refused connection is told why and never counts, not even before
        it is gone.
        """
        suite = newSuite(self, **{"pop3.max_connections": 1})
        Client(suite)
        refused = Client(suite, host=REMOTE)
        self.assertEqual(refused.greeting, TOO_MANY)
        self.assertTrue(refused.closed)
        self.assertEqual(suite.factories["pop3"].connections, 1)
        refused.drop()
        self.assertEqual(suite.factories["pop3"].connections, 1)

    def test_refusedIgnoresInput(self) -> None:
        """
        Whatever a refused client sends is ignored.
        """
        suite = newSuite(self, **{"pop3.max_connections": 1})
        Client(suite)
        refused = Client(suite)
        self.assertEqual(refused.send(b"USER alice", b"PASS secret"), b"")

    def test_refusedWhileDraining(self) -> None:
        """
        Once the factory drains, a new connection is told the server is
        shutting down, and closed.
        """
        suite = newSuite(self)
        factory = suite.factories["pop3"]
        self.successResultOf(factory.drain(10))
        late = Client(suite)
        self.assertEqual(late.greeting, SHUTTING_DOWN)
        self.assertTrue(late.closed)
        self.assertEqual(factory.connections, 0)


class IdleTimerTests(SynchronousTestCase):
    """
    One timer serves the idle timeout of every connection.
    """

    def test_oneTimerForAllConnections(self) -> None:
        """
        More connections add no delayed call of their own.
        """
        suite = newSuite(self)
        Client(suite)
        calls = len(suite.reactor.getDelayedCalls())
        for _ in range(5):
            Client(suite)
        self.assertEqual(len(suite.reactor.getDelayedCalls()), calls)

    def test_eachExpiresOnItsOwn(self) -> None:
        """
        Each connection expires its own idle timeout after its last command.
        """
        suite = newSuite(self)
        timeout = suite.config.pop3.idle_timeout
        first, second = Client(suite), Client(suite)
        suite.reactor.advance(timeout - 1)
        second.send(b"CAPA")
        suite.reactor.advance(1)
        self.assertEqual(first.take(), b"-ERR Disconnected for inactivity.\r\n")
        self.assertTrue(first.closed)
        self.assertFalse(second.closed)
        suite.reactor.advance(timeout - 1)
        self.assertEqual(second.take(), b"-ERR Disconnected for inactivity.\r\n")
        self.assertTrue(second.closed)

    def test_closedConnectionForgotten(self) -> None:
        """
        After QUIT, the idle timeout says nothing more to the connection.
        """
        suite = newSuite(self)
        client = Client(suite)
        self.assertEqual(client.send(b"QUIT"), b"+OK Logging out.\r\n")
        suite.reactor.advance(suite.config.pop3.idle_timeout)
        self.assertEqual(client.take(), b"")

    def test_noTimerWithoutConnections(self) -> None:
        """
        Once the last connection is gone, no idle timer is left behind.
        """
        suite = newSuite(self)
        calls = len(suite.reactor.getDelayedCalls())
        client = Client(suite)
        client.drop()
        self.assertEqual(len(suite.reactor.getDelayedCalls()), calls)


class LifecycleTests(SynchronousTestCase):
    """
    The phases the drain sees.
    """

    def test_busyWhileLoginChecked(self) -> None:
        """
        A connection is busy while its login is checked and open again once
        it is answered.
        """
        suite = newSuite(self)
        checks = holdPasswordChecks(suite)
        client = Client(suite)
        client.login()
        self.assertIs(client.protocol._lifecycle.phase, Phase.BUSY)
        checks[0].callback(True)
        self.assertIs(client.protocol._lifecycle.phase, Phase.OPEN)

    def test_shutdownWaitsForLoginCheck(self) -> None:
        """
        A shutdown during a login check lets it finish, answers it, then
        says goodbye.
        """
        suite = newSuite(self)
        checks = holdPasswordChecks(suite)
        client = Client(suite)
        client.login()
        client.protocol.shutdown()
        self.assertEqual(client.take(), b"")
        checks[0].callback(True)
        self.assertEqual(client.take(), b"+OK Logged in: 0 messages (0 octets).\r\n" + SHUTTING_DOWN)
        self.assertTrue(client.closed)

    def test_shutdownOfGoneConnection(self) -> None:
        """
        C{shutdown} of a connection already gone fires at once.
        """
        client = Client(newSuite(self))
        client.drop()
        self.successResultOf(client.protocol.shutdown())

    def test_abandonAbortsAndReleases(self) -> None:
        """
        C{abandon} aborts the connection at once; once it is gone, the
        maildrop is free and nothing marked is deleted.
        """
        suite = newSuite(self)
        deliver(suite, "alice", b"Subject: x\r\n\r\nbody\r\n")
        client = Client(suite)
        client.login()
        self.assertEqual(client.send(b"DELE 1"), b"+OK Marked to be deleted.\r\n")
        client.protocol.abandon()
        self.assertTrue(client.transport.disconnected)
        client.drop()
        self.assertFalse(suite.maildropLocks.isHeld("alice"))
        self.assertEqual(suite.factories["pop3"].connections, 0)
        self.assertEqual(len(self.successResultOf(suite.store.listMessages("alice"))), 1)


class FactoryTests(SynchronousTestCase):
    """
    L{POP3Factory} gets its pieces explicitly.
    """

    def test_makeFactoryHandsPieces(self) -> None:
        """
        C{makeFactory} builds the factory from the suite's parts: the
        C{pop3} section, hostname, portal, TLS and clock; it keeps no suite.
        """
        suite = newSuite(self)
        parts = suite.parts
        factory = makeFactory(parts, "pop3")
        self.assertIs(factory.config, parts.config.pop3)
        self.assertEqual(factory.hostname, b"mx.example.test")
        self.assertIs(factory.portal, parts.portal)
        self.assertIs(factory.tls, parts.tls)
        self.assertIs(factory.clock, parts.clock)
        self.assertFalse(hasattr(factory, "suite"))
        self.assertFalse(hasattr(factory, "parts"))

    def test_apopAskedEveryFewSeconds(self) -> None:
        """
        Whether APOP is offered is asked at most every C{APOP_RECHECK}
        seconds.
        """
        clock = Clock()
        asked: list[bool] = []

        def apopAllowed() -> bool:
            asked.append(True)
            return len(asked) == 1

        suite = newSuite(self, **APOP_ON)
        factory = POP3Factory(suite.config.pop3, "mx.example.test", suite.portal, apopAllowed,
                              suite.tls, clock)
        self.assertEqual([factory.apopOffered(), factory.apopOffered()], [True, True])
        clock.advance(POP3Factory.APOP_RECHECK)
        self.assertFalse(factory.apopOffered())
        self.assertEqual(len(asked), 2)

    def test_stlsOptionsReadPerConnection(self) -> None:
        """
        STLS is offered only once the suite's TLS options exist (they are
        made at start), read when a connection is made.
        """
        suite = newSuite(self)
        options, suite.tls.options = suite.tls.options, None
        self.assertNotIn(b"STLS", Client(suite, host=REMOTE).send(b"CAPA"))
        suite.tls.options = options
        self.assertIn(b"STLS", Client(suite, host=REMOTE).send(b"CAPA"))

    def test_internationalHostname(self) -> None:
        """
        The hostname goes into the greeting in its IDNA form.
        """
        suite = newSuite(self)
        factory = POP3Factory(suite.config.pop3, "bücher.example", suite.portal, lambda: False,
                              suite.tls, Clock())
        self.assertEqual(factory.hostname, b"xn--bcher-kva.example")
