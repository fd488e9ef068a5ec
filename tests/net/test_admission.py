# -*- test-case-name: tests.net.test_admission -*-
"""
Tests for L{twisted_mail_suite.net.admission}.
"""
from __future__ import annotations

from twisted.trial.unittest import SynchronousTestCase

from twisted_mail_suite.net.admission import ConnectionRegistry, Refusal, Ticket


class AdmitTests(SynchronousTestCase):
    """
    L{ConnectionRegistry.admit} counts what it admits and nothing else.
    """

    def test_admitted(self) -> None:
        """
        An admitted connection gets a ticket and counts, in total and for its address.
        """
        registry = ConnectionRegistry(10, 5)
        connection = object()
        ticket = registry.admit("192.0.2.1", connection)
        self.assertIsInstance(ticket, Ticket)
        assert isinstance(ticket, Ticket)
        self.assertEqual((ticket.address, ticket.connection), ("192.0.2.1", connection))
        self.assertEqual((registry.connections, registry.countFor("192.0.2.1")), (1, 1))
        self.assertEqual(list(registry.live), [connection])

    def test_busy(self) -> None:
        """
        At the total limit a connection is refused with BUSY and not counted.
        """
        registry = ConnectionRegistry(2, 0)
        registry.admit("192.0.2.1", object())
        registry.admit("192.0.2.2", object())
        refused = object()
        self.assertIs(registry.admit("192.0.2.3", refused), Refusal.BUSY)
        self.assertEqual((registry.connections, registry.countFor("192.0.2.3")), (2, 0))
        self.assertNotIn(refused, registry.live)

    def test_address(self) -> None:
        """
        At the per-address limit that address is refused with ADDRESS, not
        counted, and other addresses are still admitted.
        """
        registry = ConnectionRegistry(0, 2)
        registry.admit("192.0.2.1", object())
        registry.admit("192.0.2.1", object())
        self.assertIs(registry.admit("192.0.2.1", object()), Refusal.ADDRESS)
        self.assertEqual(registry.countFor("192.0.2.1"), 2)
        self.assertIsInstance(registry.admit("192.0.2.2", object()), Ticket)
        self.assertEqual(registry.connections, 3)

    def test_draining(self) -> None:
        """
        A draining registry refuses with DRAINING, before looking at the limits.
        """
        registry = ConnectionRegistry(1, 1)
        registry.admit("192.0.2.1", object())
        registry.draining = True
        self.assertIs(registry.admit("192.0.2.1", object()), Refusal.DRAINING)
        self.assertEqual(registry.connections, 1)

    def test_busyBeforeAddress(self) -> None:
        """
        When both limits are reached, the refusal is BUSY.
        """
        registry = ConnectionRegistry(1, 1)
        registry.admit("192.0.2.1", object())
        self.assertIs(registry.admit("192.0.2.1", object()), Refusal.BUSY)

    def test_noLimits(self) -> None:
        """
        Limits of 0 admit everything.
        """
        registry = ConnectionRegistry(0, 0)
        results = [registry.admit("192.0.2.1", object()) for _ in range(1000)]
        self.assertTrue(all(isinstance(result, Ticket) for result in results))
        self.assertEqual(registry.countFor("192.0.2.1"), 1000)

    def test_refusedNeverHoldAPlace(self) -> None:
        """
        However many connections were refused, the next one is admitted as
        soon as an admitted one is released (refusals are not counted).
        """
        registry = ConnectionRegistry(1, 0)
        ticket = registry.admit("192.0.2.1", object())
        for _ in range(5):
            self.assertIs(registry.admit("192.0.2.2", object()), Refusal.BUSY)
        assert isinstance(ticket, Ticket)
        ticket.release()
        self.assertIsInstance(registry.admit("192.0.2.2", object()), Ticket)

    def test_twice(self) -> None:
        """
        Admitting a connection that holds a ticket is a bug and raises.
        """
        registry = ConnectionRegistry()
        connection = object()
        registry.admit("192.0.2.1", connection)
        self.assertRaises(ValueError, registry.admit, "192.0.2.1", connection)
        self.assertEqual(registry.connections, 1)

    def test_liveOldestFirst(self) -> None:
        """
        C{live} lists the admitted connections oldest first, without the released.
        """
        registry = ConnectionRegistry()
        a, b, c = object(), object(), object()
        tickets = [registry.admit("192.0.2.1", x) for x in (a, b, c)]
        tickets[1].release()  # type: ignore[union-attr]
        self.assertEqual(list(registry.live), [a, c])

    def test_refusalValues(self) -> None:
        """
        L{Refusal} has exactly the three reasons.
        """
        self.assertEqual({r.name for r in Refusal}, {"BUSY", "ADDRESS", "DRAINING"})


class TicketTests(SynchronousTestCase):
    """
    L{Ticket.release} gives the place back exactly once.
    """

    def setUp(self) -> None:
        self.registry = ConnectionRegistry(0, 0)
        ticket = self.registry.admit("192.0.2.1", object())
        other = self.registry.admit("192.0.2.1", object())
        assert isinstance(ticket, Ticket) and isinstance(other, Ticket)
        self.ticket, self.other = ticket, other

    def test_release(self) -> None:
        """
        Releasing takes the connection out of the counts.
        """
        self.ticket.release()
        self.assertEqual((self.registry.connections, self.registry.countFor("192.0.2.1")), (1, 1))
        self.assertNotIn(self.ticket.connection, self.registry.live)
        self.assertTrue(self.ticket.released)

    def test_releaseIdempotent(self) -> None:
        """
        A second release changes nothing: the other connection still counts.
        """
        self.ticket.release()
        self.ticket.release()
        self.assertEqual((self.registry.connections, self.registry.countFor("192.0.2.1")), (1, 1))

    def test_lastOfAddress(self) -> None:
        """
        When an address's last connection goes, its count is 0 again.
        """
        self.ticket.release()
        self.other.release()
        self.assertEqual((self.registry.connections, self.registry.countFor("192.0.2.1")), (0, 0))

    def test_held(self) -> None:
        """
        A ticket not yet released says so.
        """
        self.assertFalse(self.ticket.released)
        self.assertIn("held", repr(self.ticket))

    def test_slots(self) -> None:
        """
        A ticket has no per-instance dict (it is held by every connection).
        """
        self.assertFalse(hasattr(self.ticket, "__dict__"))


class WhenEmptyTests(SynchronousTestCase):
    """
    L{ConnectionRegistry.whenEmpty} fires once the last ticket is released.
    """

    def test_alreadyEmpty(self) -> None:
        """
        An empty registry fires at once.
        """
        self.assertIsNone(self.successResultOf(ConnectionRegistry().whenEmpty()))

    def test_lastRelease(self) -> None:
        """
        It fires on the last release, not before.
        """
        registry = ConnectionRegistry()
        a = registry.admit("192.0.2.1", object())
        b = registry.admit("192.0.2.2", object())
        d = registry.whenEmpty()
        a.release()  # type: ignore[union-attr]
        self.assertNoResult(d)
        b.release()  # type: ignore[union-attr]
        self.assertIsNone(self.successResultOf(d))

    def test_refusalDoesNotFire(self) -> None:
        """
        A refused connection neither delays nor fires it.
        """
        registry = ConnectionRegistry(1, 0)
        a = registry.admit("192.0.2.1", object())
        d = registry.whenEmpty()
        self.assertIs(registry.admit("192.0.2.2", object()), Refusal.BUSY)
        self.assertNoResult(d)
        a.release()  # type: ignore[union-attr]
        self.successResultOf(d)
