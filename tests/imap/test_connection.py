# -*- test-case-name: tests.imap.test_connection -*-
"""
Tests for L{twisted_mail_suite.imap.connection}: an IMAP connection on
the chassis (admission, the shared idle timer, the drain) and its pacing
of reading.
"""
from __future__ import annotations

from twisted.internet.defer import Deferred, fail, succeed
from twisted.internet.interfaces import IPushProducer
from twisted.trial.unittest import SynchronousTestCase
from zope.interface.verify import verifyObject

from twisted_mail_suite.imap.connection import MAX_BUFFERED
from twisted_mail_suite.net.lifecycle import IDrainable, IManagedConnection

from .support import REMOTE, Client, newSuite


class InterfaceTests(SynchronousTestCase):
    def test_factoryIsDrainable(self) -> None:
        self.assertTrue(verifyObject(IDrainable, newSuite(self).factories["imap"]))

    def test_connectionIsManaged(self) -> None:
        protocol = Client(newSuite(self)).protocol
        self.assertTrue(verifyObject(IManagedConnection, protocol))
        self.assertTrue(verifyObject(IPushProducer, protocol))

    def test_slots(self) -> None:
        """
        A connection keeps its state in slots (cheap idle connections).
        """
        client = Client(newSuite(self))
        client.login()
        client.select()
        self.assertEqual(vars(client.protocol), {})


class AdmissionTests(SynchronousTestCase):
    def test_tooMany(self) -> None:
        """
        Past max_connections a client is told BYE [LIMIT] and not counted.
        """
        suite = newSuite(self, **{"imap.max_connections": 1})
        Client(suite)
        refused = Client(suite, host=REMOTE)
        self.assertEqual(refused.greeting, b"* BYE [LIMIT] Too many connections, try again later.\r\n")
        self.assertTrue(refused.closed)
        self.assertEqual(suite.factories["imap"].connections, 1)
        self.assertEqual(refused.send(b"a LOGIN alice secret"), b"")

    def test_perAddress(self) -> None:
        suite = newSuite(self, **{"imap.max_connections_per_ip": 1})
        Client(suite)
        self.assertEqual(Client(suite).greeting, b"* BYE [LIMIT] Too many connections from your address.\r\n")
        self.assertFalse(Client(suite, host=REMOTE).closed)

    def test_released(self) -> None:
        suite = newSuite(self)
        client = Client(suite)
        client.drop()
        self.assertEqual(suite.factories["imap"].connections, 0)


class IdleTimeoutTests(SynchronousTestCase):
    def test_timeout(self) -> None:
        """
        A silent client is told BYE after the idle timeout.
        """
        suite = newSuite(self, **{"imap.idle_timeout": 60})
        client = Client(suite)
        suite.reactor.advance(59)
        self.assertFalse(client.closed)
        suite.reactor.advance(2)
        self.assertEqual(client.take(), b"* BYE Disconnected for inactivity.\r\n")
        self.assertTrue(client.closed)

    def test_idleCommandTimesOutToo(self) -> None:
        """
        IDLE does not keep a connection past the timeout (clients renew it).
        """
        suite = newSuite(self, **{"imap.idle_timeout": 60})
        client = Client(suite)
        client.login()
        client.select()
        client.send(b"a IDLE")
        suite.reactor.advance(61)
        self.assertTrue(client.closed)

    def test_activityResets(self) -> None:
        suite = newSuite(self, **{"imap.idle_timeout": 60})
        client = Client(suite)
        suite.reactor.advance(50)
        client.send(b"a NOOP")
        suite.reactor.advance(50)
        self.assertFalse(client.closed)


class DrainTests(SynchronousTestCase):
    def test_idleConnectionsToldAtOnce(self) -> None:
        """
        At shutdown an idle client (in IDLE too) is told BYE at once.
        """
        suite = newSuite(self)
        first, second = Client(suite), Client(suite)
        second.login()
        second.select()
        second.send(b"a IDLE")
        d = suite.factories["imap"].drain(10)
        self.assertEqual(first.take(), b"* BYE [UNAVAILABLE] Server shutting down.\r\n")
        self.assertEqual(second.take(), b"* BYE [UNAVAILABLE] Server shutting down.\r\n")
        first.drop()
        second.drop()
        self.successResultOf(d)

    def test_busyFinishesFirst(self) -> None:
        """
        A login check under way finishes before the BYE.
        """
        suite = newSuite(self)
        client = Client(suite)
        client.send(b"a LOGIN alice wrong")
        suite.factories["imap"].drain(10)
        self.assertEqual(client.take(), b"")
        suite.reactor.advance(1)
        self.assertEqual(client.take(), b"a NO [AUTHENTICATIONFAILED] Authentication failed.\r\n"
                                        b"* BYE [UNAVAILABLE] Server shutting down.\r\n")

    def test_newConnectionsRefused(self) -> None:
        suite = newSuite(self)
        suite.factories["imap"].drain(10)
        self.assertEqual(Client(suite).greeting, b"* BYE [UNAVAILABLE] Server shutting down.\r\n")

    def test_abandon(self) -> None:
        """
        Still busy at the timeout: aborted.
        """
        suite = newSuite(self)
        client = Client(suite)
        client.send(b"a LOGIN alice wrong")
        suite.factories["imap"].drain(0.5)
        suite.reactor.advance(0.6)
        self.assertTrue(client.transport.disconnecting)


class PacingTests(SynchronousTestCase):
    def test_readingPausedWhenFarAhead(self) -> None:
        """
        A client sending far ahead of a command that waits is paused,
        and resumed once the backlog is handled.
        """
        suite = newSuite(self)
        client = Client(suite)
        client.send(b"a LOGIN alice wrong")
        client.raw(b"b NOOP\r\n" * (MAX_BUFFERED // 8 + 10))
        self.assertEqual(client.transport.producerState, "paused")
        suite.reactor.advance(1)
        self.assertEqual(client.transport.producerState, "producing")
        self.assertTrue(client.take().endswith(b"b OK NOOP completed.\r\n"))


class DeferredTests(SynchronousTestCase):
    """
    A handler's yielded Deferreds: one fired with a value resumes it at
    once, taken as it is (no callback added: a Maildir folder answers
    every message's open so); a failed one is raised into it; one not
    fired yet holds it until it fires.
    """

    def test_firedValueTakenAsItIs(self) -> None:
        client = Client(newSuite(self))
        client.take()
        results = [succeed(object()), fail(ValueError("gone")), Deferred()]
        seen: list[object] = []

        def handler():  # type: ignore[no-untyped-def]
            seen.append((yield results[0]))
            try:
                yield results[1]
            except ValueError as e:
                seen.append(str(e))
            seen.append((yield results[2]))
            return b"OK done."

        client.protocol.run(b"t1", handler())
        self.assertEqual(seen[1:], ["gone"])
        self.assertIs(seen[0], results[0].result)     # still its result: no callback consumed it
        self.assertEqual(client.take(), b"")
        results[2].callback("later")
        self.assertEqual(seen[2], "later")
        self.assertEqual(client.take(), b"t1 OK done.\r\n")
