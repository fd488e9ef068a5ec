# -*- test-case-name: tests.chat.test_limits -*-
"""
Tests for L{twisted_mail_suite.chat.limits} and the chat's use of
L{twisted_mail_suite.net.idle}.
"""
from __future__ import annotations

from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase

from twisted_mail_suite.chat.limits import TokenBucket
from twisted_mail_suite.net.idle import IdleTracker


class TokenBucketTests(SynchronousTestCase):
    """
    L{TokenBucket} allows a burst, then the rate.
    """

    def test_burstThenRefuse(self) -> None:
        """
        C{capacity} lines pass at once; the next one is refused.
        """
        bucket = TokenBucket(rate=2.0, capacity=3, now=0.0)
        self.assertEqual([bucket.consume(0.0) for _ in range(4)], [True, True, True, False])

    def test_refills(self) -> None:
        """
        Tokens come back at C{rate} per second, up to C{capacity}.
        """
        bucket = TokenBucket(rate=2.0, capacity=3, now=0.0)
        for _ in range(3):
            bucket.consume(0.0)
        self.assertTrue(bucket.consume(0.5))
        self.assertFalse(bucket.consume(0.5))
        self.assertEqual([bucket.consume(100.0) for _ in range(4)], [True, True, True, False])


class IdleTrackerTests(SynchronousTestCase):
    """
    L{IdleTracker} expires keys not touched for C{timeout} seconds: what the
    chat expects of the chassis's tracker (which replaced the chat's own).
    """

    def setUp(self) -> None:
        self.clock = Clock()
        self.expired: list[str] = []
        self.tracker = IdleTracker(self.clock, 10.0, self.expired.append)

    def test_expires(self) -> None:
        """
        An untouched key expires after the timeout, not before.
        """
        self.tracker.touch("a")
        self.clock.advance(9.9)
        self.assertEqual(self.expired, [])
        self.clock.advance(0.1)
        self.assertEqual(self.expired, ["a"])

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

    def test_forget(self) -> None:
        """
        A forgotten key never expires; one timer serves every key.
        """
        self.tracker.touch("a")
        self.tracker.touch("b")
        self.tracker.forget("a")
        self.assertEqual(len(self.clock.getDelayedCalls()), 1)
        self.clock.advance(10)
        self.assertEqual(self.expired, ["b"])
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def test_disabled(self) -> None:
        """
        A timeout of 0 tracks nothing.
        """
        tracker = IdleTracker(self.clock, 0, self.expired.append)
        tracker.touch("a")
        self.assertEqual((len(tracker), self.clock.getDelayedCalls()), (0, []))

    def test_stop(self) -> None:
        """
        L{IdleTracker.stop} cancels the timer.
        """
        self.tracker.touch("a")
        self.tracker.stop()
        self.assertEqual(self.clock.getDelayedCalls(), [])
