# -*- test-case-name: tests.net.test_lifecycle -*-
"""
Tests for L{twisted_mail_suite.net.lifecycle.Lifecycle}.
"""
from __future__ import annotations

from twisted.internet.address import IPv4Address
from twisted.internet.task import Clock
from twisted.internet.testing import StringTransport
from twisted.logger import Logger
from twisted.trial.unittest import SynchronousTestCase

from twisted_mail_suite.net.admission import ConnectionRegistry, Refusal
from twisted_mail_suite.net.idle import IdleTracker
from twisted_mail_suite.net.lifecycle import (
    TRANSITIONS, AdmittedProducer, ConnectionManager, IllegalTransition, Lifecycle, Phase,
)

INPUTS = ("busy", "idle", "drain", "close", "lost")


def inPhase(phase: Phase) -> Lifecycle:
    """
    A lifecycle brought to C{phase} through legal inputs.
    """
    lifecycle = Lifecycle()
    path = {Phase.OPEN: [], Phase.BUSY: ["busy"], Phase.DRAINING: ["busy", "drain"],
            Phase.CLOSING: ["close"], Phase.GONE: ["lost"]}[phase]
    for step in path:
        getattr(lifecycle, step)()
    assert lifecycle.phase is phase
    return lifecycle


class LifecycleTests(SynchronousTestCase):
    """
    L{Lifecycle} follows L{TRANSITIONS} and says when to close.
    """

    def test_starts(self) -> None:
        """
        A new connection is OPEN and serving.
        """
        lifecycle = Lifecycle()
        self.assertIs(lifecycle.phase, Phase.OPEN)
        self.assertTrue(lifecycle.serving)

    def test_closing(self) -> None:
        """
        Input is ignored only when closing or gone; a draining connection
        still reads what its work in hand needs.
        """
        self.assertEqual({phase: inPhase(phase).closing for phase in Phase},
                         {Phase.OPEN: False, Phase.BUSY: False, Phase.DRAINING: False,
                          Phase.CLOSING: True, Phase.GONE: True})

    def test_busyAndBack(self) -> None:
        """
        Work moves it to BUSY (still serving) and back to OPEN, with no close.
        """
        lifecycle = Lifecycle()
        lifecycle.busy()
        self.assertEqual((lifecycle.phase, lifecycle.serving), (Phase.BUSY, True))
        self.assertFalse(lifecycle.idle())
        self.assertIs(lifecycle.phase, Phase.OPEN)

    def test_drainWhenOpen(self) -> None:
        """
        A shutdown with nothing in hand says: close now; the connection no
        longer serves.
        """
        lifecycle = Lifecycle()
        self.assertTrue(lifecycle.drain())
        self.assertIs(lifecycle.phase, Phase.DRAINING)
        self.assertFalse(lifecycle.serving)

    def test_drainWhenBusy(self) -> None:
        """
        A shutdown during work waits for it: DRAINING, then "close now" when
        the work is done, and the goodbye's close is the first.
        """
        lifecycle = inPhase(Phase.BUSY)
        self.assertFalse(lifecycle.drain())
        self.assertEqual((lifecycle.phase, lifecycle.serving), (Phase.DRAINING, False))
        lifecycle.busy()                      # the work goes on (a commit after DATA)
        self.assertIs(lifecycle.phase, Phase.DRAINING)
        self.assertTrue(lifecycle.idle())
        self.assertTrue(lifecycle.close())
        self.assertIs(lifecycle.phase, Phase.CLOSING)
        self.assertFalse(lifecycle.idle())    # closing already: no second goodbye

    def test_drainTwice(self) -> None:
        """
        A second shutdown request changes nothing and never says close again.
        """
        lifecycle = Lifecycle()
        lifecycle.drain()
        self.assertFalse(lifecycle.drain())
        self.assertIs(lifecycle.phase, Phase.DRAINING)
        busy = inPhase(Phase.BUSY)
        busy.drain()
        self.assertFalse(busy.drain())
        self.assertIs(busy.phase, Phase.DRAINING)

    def test_closeOnce(self) -> None:
        """
        L{Lifecycle.close} is true for the first call only, from any live phase.
        """
        for phase in (Phase.OPEN, Phase.BUSY, Phase.DRAINING):
            lifecycle = inPhase(phase)
            self.assertEqual((lifecycle.close(), lifecycle.close()), (True, False), phase)
            self.assertIs(lifecycle.phase, Phase.CLOSING)

    def test_closeWhenGone(self) -> None:
        """
        Closing a connection that is gone does nothing.
        """
        lifecycle = inPhase(Phase.GONE)
        self.assertFalse(lifecycle.close())
        self.assertIs(lifecycle.phase, Phase.GONE)

    def test_busyWhenClosing(self) -> None:
        """
        Starting work on a closing or gone connection is a bug.
        """
        for phase in (Phase.CLOSING, Phase.GONE):
            lifecycle = inPhase(phase)
            self.assertRaises(IllegalTransition, lifecycle.busy)
            self.assertIs(lifecycle.phase, phase)

    def test_lostFromAnywhere(self) -> None:
        """
        Every phase goes to GONE when the connection is lost.
        """
        for phase in Phase:
            lifecycle = inPhase(phase)
            lifecycle.lost()
            self.assertIs(lifecycle.phase, Phase.GONE)

    def test_whenGone(self) -> None:
        """
        L{Lifecycle.whenGone} fires when the connection is lost, not before.
        """
        lifecycle = Lifecycle()
        first, second = lifecycle.whenGone(), lifecycle.whenGone()
        lifecycle.close()
        self.assertNoResult(first)
        lifecycle.lost()
        self.assertEqual((self.successResultOf(first), self.successResultOf(second)), (None, None))

    def test_whenGoneAfter(self) -> None:
        """
        Asked once the connection is gone, it fires at once.
        """
        self.assertIsNone(self.successResultOf(inPhase(Phase.GONE).whenGone()))

    def test_cheap(self) -> None:
        """
        A lifecycle has no per-instance dict and holds no list until asked.
        """
        lifecycle = Lifecycle()
        self.assertFalse(hasattr(lifecycle, "__dict__"))
        self.assertEqual(set(Lifecycle.__slots__), {"phase", "_whenGone"})


class TransitionTableTests(SynchronousTestCase):
    """
    L{TRANSITIONS} is the whole machine.
    """

    def test_complete(self) -> None:
        """
        Every (phase, input) pair is declared except starting work when
        closing or gone.
        """
        missing = {(phase, name) for phase in Phase for name in INPUTS} - set(TRANSITIONS)
        self.assertEqual(missing, {(Phase.CLOSING, "busy"), (Phase.GONE, "busy")})

    def test_methodsFollowTable(self) -> None:
        """
        Each input method lands in the phase the table names.
        """
        for (phase, name), target in TRANSITIONS.items():
            lifecycle = inPhase(phase)
            getattr(lifecycle, name)()
            self.assertIs(lifecycle.phase, target, (phase, name))

    def test_goneIsFinal(self) -> None:
        """
        Nothing leaves GONE.
        """
        targets = {target for (phase, name), target in TRANSITIONS.items() if phase is Phase.GONE}
        self.assertEqual(targets, {Phase.GONE})

    def test_neverBackToServing(self) -> None:
        """
        Once draining or closing, no input makes the connection serve again.
        """
        for (phase, name), target in TRANSITIONS.items():
            if phase in (Phase.DRAINING, Phase.CLOSING, Phase.GONE):
                self.assertNotIn(target, (Phase.OPEN, Phase.BUSY), (phase, name))


class _Producer(AdmittedProducer):
    """
    The least a connection needs to admit itself.
    """

    REFUSALS = {Refusal.BUSY: (b"-ERR busy\r\n", "busy"), Refusal.ADDRESS: (b"-ERR address\r\n", "address"),
                Refusal.DRAINING: (b"-ERR bye\r\n", "draining")}
    PROTOCOL = "TEST"
    log = Logger()

    def __init__(self, factory: object) -> None:
        self.factory = factory
        self.transport = StringTransport(peerAddress=IPv4Address("TCP", "192.0.2.9", 4321))
        self._lifecycle = Lifecycle()

    def pauseProducing(self) -> None:
        pass

    def resumeProducing(self) -> None:
        pass

    def stopProducing(self) -> None:
        pass


class AdmittedProducerTests(SynchronousTestCase):
    def setUp(self) -> None:
        clock = Clock()

        class Factory:
            manager = ConnectionManager(clock, ConnectionRegistry(1, 1))
            idle = IdleTracker(clock, 60.0, lambda connection: None)

        self.factory = Factory

    def test_admitted(self) -> None:
        """
        Admitted: counted, the transport's push producer, its idle timeout
        running, nothing written.
        """
        connection = _Producer(self.factory)
        self.assertTrue(connection._admit())
        self.assertEqual(connection.peer, "192.0.2.9")
        self.assertIs(connection.transport.producer, connection)
        self.assertTrue(connection.transport.streaming)
        self.assertEqual(connection.transport.value(), b"")
        self.assertIn(connection, self.factory.manager.registry.live)
        self.assertIn(connection, self.factory.idle)

    def test_refused(self) -> None:
        """
        Refused: its reply, the transport closing, not counted, closing.
        """
        self.assertTrue(_Producer(self.factory)._admit())
        connection = _Producer(self.factory)
        self.assertFalse(connection._admit())
        self.assertEqual(connection.transport.value(), b"-ERR busy\r\n")
        self.assertTrue(connection.transport.disconnecting)
        self.assertIsNone(connection.transport.producer)
        self.assertNotIn(connection, self.factory.manager.registry.live)
        self.assertTrue(connection._lifecycle.closing)
