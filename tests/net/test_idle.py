# -*- test-case-name: tests.net.test_idle -*-
"""
Tests for L{twisted_mail_suite.net.idle}.
"""
from __future__ import annotations

from twisted.internet.task import Clock
from twisted.internet.testing import StringTransport
from twisted.trial.unittest import SynchronousTestCase

from twisted_mail_suite.net.idle import IdleTracker


class IdleTrackerTests(SynchronousTestCase):
    """
    L{IdleTracker} expires keys not touched for C{timeout} seconds.
    """

    def setUp(self) -> None:
        self.clock = Clock()
        self.expired: list[str] = []
        self.tracker = IdleTracker(self.clock, 10.0, self.expired.append)

    def test_expires(self) -> None:
        """
        An untouched key expires after the timeout, not before, and only once.
        """
        self.tracker.touch("a")
        self.clock.advance(9.9)
        self.assertEqual(self.expired, [])
        self.clock.advance(0.1)
        self.assertEqual(self.expired, ["a"])
        self.clock.advance(100)
        self.assertEqual(self.expired, ["a"])
        self.assertNotIn("a", self.tracker)

    def test_touchPostpones(self) -> None:
        """
        A touch restarts the key's timeout; others keep theirs.
        """
        self.tracker.touch("a")
        self.tracker.touch("b")
        self.clock.advance(6)
        self.tracker.touch("a")
        self.clock.advance(4)
        self.assertEqual(self.expired, ["b"])
        self.clock.advance(6)
        self.assertEqual(self.expired, ["b", "a"])

    def test_oneTimer(self) -> None:
        """
        One delayed call serves every key.
        """
        for key in "abcdefgh":
            self.tracker.touch(key)
            self.clock.advance(1)
        self.assertEqual(len(self.clock.getDelayedCalls()), 1)
        self.assertEqual(len(self.tracker), 8)

    def test_forget(self) -> None:
        """
        A forgotten key never expires; forgetting the last cancels the timer.
        """
        self.tracker.touch("a")
        self.tracker.touch("b")
        self.tracker.forget("a")
        self.tracker.forget("a")
        self.clock.advance(10)
        self.assertEqual(self.expired, ["b"])
        self.assertEqual(self.clock.getDelayedCalls(), [])
        self.tracker.touch("c")
        self.tracker.forget("c")
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def test_pauseUntilTouched(self) -> None:
        """
        A paused key (waiting on its own work) never expires while paused;
        the touch that ends the pause starts a full timeout.
        """
        self.tracker.touch("a")
        self.clock.advance(5)
        self.tracker.pause("a")
        self.clock.advance(100)
        self.assertEqual(self.expired, [])
        self.tracker.touch("a")
        self.clock.advance(9)
        self.assertEqual(self.expired, [])
        self.clock.advance(1)
        self.assertEqual(self.expired, ["a"])

    def test_pauseKeepsTimer(self) -> None:
        """
        Pausing the last key keeps the one timer, and the touch that ends
        the pause makes no other (no delayed call per message for a lone
        connection); the timer then finds nothing to expire and goes.
        """
        self.tracker.touch("a")
        calls = self.clock.getDelayedCalls()
        self.tracker.pause("a")
        self.assertEqual(self.clock.getDelayedCalls(), calls)
        self.tracker.touch("a")
        self.assertEqual(self.clock.getDelayedCalls(), calls)
        self.tracker.pause("a")
        self.clock.advance(100)
        self.assertEqual((self.expired, self.clock.getDelayedCalls()), ([], []))

    def test_keepTimer(self) -> None:
        """
        A tracker made with C{keepTimer} keeps its timer when the last key
        is forgotten: the next key needs no delayed call of its own.  The
        timer finds nothing to expire and goes; L{IdleTracker.stop}
        cancels it at once.
        """
        tracker = IdleTracker(self.clock, 10.0, self.expired.append, keepTimer=True)
        tracker.touch("a")
        calls = self.clock.getDelayedCalls()
        tracker.forget("a")
        self.assertEqual(self.clock.getDelayedCalls(), calls)
        tracker.touch("b")
        tracker.forget("b")
        self.assertEqual(self.clock.getDelayedCalls(), calls)
        self.clock.advance(10)
        self.assertEqual((self.expired, self.clock.getDelayedCalls()), ([], []))
        tracker.touch("c")
        tracker.forget("c")
        tracker.stop()
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def test_timeoutReadOnly(self) -> None:
        """
        The default timeout is given once, at construction.
        """
        self.assertEqual(self.tracker.timeout, 10.0)
        self.assertRaises(AttributeError, setattr, self.tracker, "timeout", 5.0)

    def test_defaultGivenExplicitly(self) -> None:
        """
        Touching with the default timeout spelled out is the same as without it.
        """
        self.tracker.touch("a", 10)
        self.tracker.touch("b")
        self.clock.advance(10)
        self.assertEqual(self.expired, ["a", "b"])
        self.assertEqual(len(self.clock.getDelayedCalls()), 0)

    def test_zeroTimeout(self) -> None:
        """
        With a timeout of 0 nothing expires and no timer is scheduled.
        """
        tracker = IdleTracker(self.clock, 0, self.expired.append)
        tracker.touch("a")
        self.assertEqual((self.clock.getDelayedCalls(), len(tracker)), ([], 0))

    def test_touchWithZeroStopsTracking(self) -> None:
        """
        Touching with a timeout of 0 takes the key out (that phase has no timeout).
        """
        self.tracker.touch("a")
        self.tracker.touch("a", 0)
        self.clock.advance(100)
        self.assertEqual(self.expired, [])
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def test_stop(self) -> None:
        """
        L{IdleTracker.stop} forgets every key and cancels the timer.
        """
        self.tracker.touch("a")
        self.tracker.touch("b", 3)
        self.tracker.stop()
        self.assertEqual((self.clock.getDelayedCalls(), len(self.tracker)), ([], 0))
        self.clock.advance(100)
        self.assertEqual(self.expired, [])

    def test_expireMayTouch(self) -> None:
        """
        A key touched again by its expire callback is tracked anew.
        """
        tracker = IdleTracker(self.clock, 10.0, lambda key: (self.expired.append(key), tracker.touch(key)))
        tracker.touch("a")
        self.clock.advance(10)
        self.clock.advance(10)
        self.assertEqual(self.expired, ["a", "a"])
        self.assertIn("a", tracker)

    def test_expireFailureLogged(self) -> None:
        """
        A failing expire callback is logged and the other keys still expire.
        """
        def expire(key: str) -> None:
            if key == "a":
                raise RuntimeError("boom")
            self.expired.append(key)

        tracker = IdleTracker(self.clock, 10.0, expire)
        tracker.touch("a")
        tracker.touch("b")
        tracker.touch("c")
        self.clock.advance(1)
        tracker.touch("c")
        self.clock.advance(9)
        self.assertEqual(self.expired, ["b"])
        self.assertEqual(len(self.flushLoggedErrors(RuntimeError)), 1)
        self.clock.advance(1)
        self.assertEqual(self.expired, ["b", "c"])


class LaneTests(SynchronousTestCase):
    """
    L{IdleTracker.touch} with a timeout other than the default: SMTP's
    command and DATA timeouts on one timer.
    """

    def setUp(self) -> None:
        self.clock = Clock()
        self.expired: list[str] = []
        self.tracker = IdleTracker(self.clock, 300.0, self.expired.append)

    def test_ownTimeout(self) -> None:
        """
        A key touched with its own timeout expires at it.
        """
        self.tracker.touch("data", 600)
        self.tracker.touch("command")
        self.clock.advance(300)
        self.assertEqual(self.expired, ["command"])
        self.clock.advance(300)
        self.assertEqual(self.expired, ["command", "data"])

    def test_oneTimerForAllLanes(self) -> None:
        """
        Keys with different timeouts still share one delayed call.
        """
        self.tracker.touch("a")
        self.tracker.touch("b", 600)
        self.tracker.touch("c", 30)
        self.assertEqual(len(self.clock.getDelayedCalls()), 1)

    def test_shorterLaneLater(self) -> None:
        """
        A shorter timeout touched after a longer one brings the timer forward.
        """
        self.tracker.touch("long")
        self.clock.advance(10)
        self.tracker.touch("short", 30)
        self.clock.advance(29)
        self.assertEqual(self.expired, [])
        self.clock.advance(1)
        self.assertEqual(self.expired, ["short"])
        self.clock.advance(260)
        self.assertEqual(self.expired, ["short", "long"])

    def test_moveBetweenLanes(self) -> None:
        """
        A key is in one lane at a time: moving it to the long timeout takes
        it out of the short one.
        """
        self.tracker.touch("a", 30)
        self.tracker.touch("a", 600)
        self.clock.advance(300)
        self.assertEqual(self.expired, [])
        self.clock.advance(300)
        self.assertEqual(self.expired, ["a"])
        self.assertEqual(len(self.tracker), 0)

    def test_forgetFromAnyLane(self) -> None:
        """
        Forgetting works whatever timeout the key was touched with.
        """
        self.tracker.touch("a", 600)
        self.tracker.touch("b")
        self.tracker.forget("a")
        self.tracker.forget("b")
        self.assertEqual(self.clock.getDelayedCalls(), [])
        self.clock.advance(1000)
        self.assertEqual(self.expired, [])


class CloseWithinTests(SynchronousTestCase):
    """
    L{IdleTracker.closeWithin}: the transport closes now, and the key
    expires (its protocol aborts it) after the grace if still there.
    """

    def setUp(self) -> None:
        self.clock, self.expired = Clock(), []
        self.idle = IdleTracker(self.clock, 60, self.expired.append)

    def transport(self) -> StringTransport:
        """
        A transport with the connection registered as its producer (as
        the protocols that close this way are).
        """
        transport = StringTransport()
        transport.registerProducer(object(), True)
        return transport

    def test_expiredAfterGrace(self) -> None:
        transport = self.transport()
        self.idle.closeWithin("c", transport, 3.0)
        self.assertTrue(transport.disconnecting)
        self.clock.advance(2.9)
        self.assertEqual(self.expired, [])
        self.clock.advance(0.1)
        self.assertEqual(self.expired, ["c"])

    def test_forgotten(self) -> None:
        """
        Forgetting the key (the connection went) means no expiry.
        """
        self.idle.closeWithin("c", self.transport(), 1.0)
        self.idle.forget("c")
        self.clock.advance(2)
        self.assertEqual(self.expired, [])

    def test_producerUnregistered(self) -> None:
        """
        The connection's producer is unregistered before the close (it
        would keep a closing TCP transport open).
        """
        transport = self.transport()
        self.idle.closeWithin("c", transport, 1.0)
        self.assertIsNone(transport.producer)
        self.assertTrue(transport.disconnecting)
