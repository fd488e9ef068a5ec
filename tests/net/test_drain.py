# -*- test-case-name: tests.net.test_drain -*-
"""
Tests for L{twisted_mail_suite.net.lifecycle.ConnectionManager}: the one drain.
"""
from __future__ import annotations

from twisted.internet.defer import Deferred, fail
from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase
from zope.interface.verify import verifyObject

from twisted_mail_suite.net.admission import ConnectionRegistry, Refusal
from twisted_mail_suite.net.lifecycle import (
    ABANDON_GRACE, ConnectionManager, IDrainable, IManagedConnection,
)

from .support import FakeConnection, refusedBy


class ManagerTestCase(SynchronousTestCase):
    """
    A manager on a clock, with a registry without limits.
    """

    def setUp(self) -> None:
        self.clock = Clock()
        self.registry = ConnectionRegistry(0, 0)
        self.manager = ConnectionManager(self.clock, self.registry)


class InterfaceTests(ManagerTestCase):
    """
    The manager and the fake connection provide the chassis interfaces.
    """

    def test_drainable(self) -> None:
        """
        L{ConnectionManager} provides L{IDrainable}.
        """
        self.assertTrue(verifyObject(IDrainable, self.manager))

    def test_managedConnection(self) -> None:
        """
        The test fake is a true L{IManagedConnection} (so these tests hold
        for a protocol that is one).
        """
        self.assertTrue(verifyObject(IManagedConnection, FakeConnection(self.manager)))

    def test_admitDelegates(self) -> None:
        """
        L{ConnectionManager.admit} admits through its registry.
        """
        FakeConnection(self.manager)
        self.assertEqual(self.registry.connections, 1)


class DrainTests(ManagerTestCase):
    """
    L{ConnectionManager.drain}: shutdown, abandon at the timeout, abort
    after the grace.
    """

    def test_empty(self) -> None:
        """
        With no connection the drain is done at once, and the registry refuses.
        """
        self.assertIsNone(self.successResultOf(self.manager.drain(10)))
        self.assertTrue(self.manager.draining)
        self.assertIs(refusedBy(self.manager), Refusal.DRAINING)
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def test_shutdownEach(self) -> None:
        """
        Every live connection is asked to shut down; idle ones say goodbye at once.
        """
        connections = [FakeConnection(self.manager) for _ in range(3)]
        d = self.manager.drain(10)
        self.assertEqual([c.calls for c in connections], [["shutdown"]] * 3)
        self.assertEqual([c.transport.value() for c in connections], [b"bye\r\n"] * 3)
        self.assertNoResult(d)

    def test_firesWhenAllGone(self) -> None:
        """
        The drain fires when the last connection is lost and leaves no timer.
        """
        a, b = FakeConnection(self.manager), FakeConnection(self.manager)
        d = self.manager.drain(10)
        a.lose()
        self.assertNoResult(d)
        b.lose()
        self.assertIsNone(self.successResultOf(d))
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def test_busyFinishesFirst(self) -> None:
        """
        A busy connection finishes its work before it says goodbye, within the timeout.
        """
        busy = FakeConnection(self.manager, busy=True)
        d = self.manager.drain(10)
        self.assertEqual(busy.transport.value(), b"")
        self.clock.advance(5)
        busy.finishWork()
        self.assertEqual(busy.transport.value(), b"bye\r\n")
        busy.lose()
        self.successResultOf(d)
        self.assertEqual(busy.calls, ["shutdown"])

    def test_abandonAtTimeout(self) -> None:
        """
        At the timeout, and not before, connections still here are abandoned;
        those gone are not.
        """
        busy = FakeConnection(self.manager, busy=True)
        quick = FakeConnection(self.manager)
        d = self.manager.drain(10)
        quick.lose()
        self.clock.advance(9.9)
        self.assertEqual(busy.calls, ["shutdown"])
        self.clock.advance(0.1)
        self.assertEqual((busy.calls, quick.calls), (["shutdown", "abandon"], ["shutdown"]))
        self.assertEqual(busy.goodbyes, 1)
        self.assertNoResult(d)
        self.assertEqual(self.flushLoggedErrors(), [])

    def test_goneAfterAbandon(self) -> None:
        """
        A connection lost after it was abandoned ends the drain and the
        abort timer is cancelled.
        """
        busy = FakeConnection(self.manager, busy=True)
        d = self.manager.drain(10)
        self.clock.advance(10)
        busy.lose()
        self.successResultOf(d)
        self.assertEqual(self.clock.getDelayedCalls(), [])
        self.assertFalse(busy.transport.disconnected)

    def test_abortAfterGrace(self) -> None:
        """
        A connection still here C{ABANDON_GRACE} seconds after it was
        abandoned is aborted, and the drain fires even if it never goes.
        """
        stuck = FakeConnection(self.manager, busy=True)
        d = self.manager.drain(10)
        self.clock.advance(10)
        self.clock.advance(ABANDON_GRACE - 0.1)
        self.assertFalse(stuck.transport.disconnected)
        self.assertNoResult(d)
        self.clock.advance(0.1)
        self.assertTrue(stuck.transport.disconnected)     # StringTransport: aborted
        self.successResultOf(d)
        stuck.lose()                                      # late connectionLost is harmless
        self.assertEqual(self.registry.connections, 0)

    def test_ownGrace(self) -> None:
        """
        The grace before the abort is the manager's C{abandonGrace}.
        """
        manager = ConnectionManager(self.clock, ConnectionRegistry(), abandonGrace=0.5)
        stuck = FakeConnection(manager, busy=True)
        d = manager.drain(1)
        self.clock.advance(1)
        self.clock.advance(0.5)
        self.assertTrue(stuck.transport.disconnected)
        self.successResultOf(d)

    def test_secondDrainWaits(self) -> None:
        """
        A second drain waits for the first (nobody is asked twice), and a
        drain after the end fires at once.
        """
        connection = FakeConnection(self.manager)
        first, second = self.manager.drain(10), self.manager.drain(10)
        self.assertEqual(connection.calls, ["shutdown"])
        self.assertNoResult(second)
        connection.lose()
        self.successResultOf(first)
        self.successResultOf(second)
        self.successResultOf(self.manager.drain(10))

    def test_refusedNotWaitedFor(self) -> None:
        """
        A connection refused during the drain is not counted and does not
        hold the drain up.
        """
        connection = FakeConnection(self.manager)
        d = self.manager.drain(10)
        self.assertIs(refusedBy(self.manager), Refusal.DRAINING)
        connection.lose()
        self.successResultOf(d)

    def test_shutdownFailureLogged(self) -> None:
        """
        A connection whose shutdown raises or fails is logged; the others are
        still shut down and the drain still ends (at the latest by the abort).
        """
        class Raising(FakeConnection):
            def shutdown(self) -> Deferred:
                raise RuntimeError("raised")

        class Failing(FakeConnection):
            def shutdown(self) -> Deferred:
                return fail(ValueError("failed"))

        Raising(self.manager)
        Failing(self.manager)
        good = FakeConnection(self.manager)
        d = self.manager.drain(10)
        self.assertEqual(good.calls, ["shutdown"])
        self.assertEqual(len(self.flushLoggedErrors(RuntimeError, ValueError)), 2)
        self.clock.advance(10)
        self.clock.advance(ABANDON_GRACE)
        self.successResultOf(d)

    def test_abandonFailureLogged(self) -> None:
        """
        A connection whose abandon raises is logged and still aborted later.
        """
        class Broken(FakeConnection):
            def abandon(self) -> None:
                raise RuntimeError("abandon")

        broken = Broken(self.manager, busy=True)
        d = self.manager.drain(10)
        self.clock.advance(10)
        self.assertEqual(len(self.flushLoggedErrors(RuntimeError)), 1)
        self.clock.advance(ABANDON_GRACE)
        self.assertTrue(broken.transport.disconnected)
        self.successResultOf(d)

    def test_lostDuringShutdown(self) -> None:
        """
        Connections lost synchronously while being shut down end the drain
        at once, with no timer left.
        """
        class Instant(FakeConnection):
            def shutdown(self) -> Deferred:
                d = super().shutdown()
                self.lose()
                return d

        Instant(self.manager)
        Instant(self.manager)
        self.successResultOf(self.manager.drain(10))
        self.assertEqual(self.clock.getDelayedCalls(), [])
