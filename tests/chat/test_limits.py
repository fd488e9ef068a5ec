# -*- test-case-name: tests.chat.test_limits -*-
"""
Tests for L{twisted_mail_suite.chat.limits} and the chat's use of
L{twisted_mail_suite.net.idle}.
"""
from __future__ import annotations

from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase

from twisted_mail_suite.chat.limits import AddressBudgets, TokenBucket, addressGroup
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


class SpendTests(SynchronousTestCase):
    """
    L{TokenBucket.spend} and L{TokenBucket.level}: costs known only once
    spent, paid back at the rate.
    """

    def test_debt(self) -> None:
        """
        A cost larger than what is left puts the bucket in debt, paid back
        at C{rate}.
        """
        bucket = TokenBucket(rate=100.0, capacity=1000, now=0.0)
        bucket.spend(0.0, 1500)
        self.assertEqual(bucket.level(0.0), -500)
        self.assertEqual(bucket.level(5.0), 0)
        self.assertEqual(bucket.level(60.0), 1000)

    def test_low(self) -> None:
        """
        A bucket is low with less than half of its capacity left.
        """
        bucket = TokenBucket(rate=1.0, capacity=10, now=0.0)
        bucket.spend(0.0, 5)
        self.assertFalse(bucket.low(0.0))
        bucket.spend(0.0, 1)
        self.assertTrue(bucket.low(0.0))


class AddressGroupTests(SynchronousTestCase):
    """
    L{addressGroup}: whose budget a client address uses.
    """

    def test_ipv4(self) -> None:
        """
        An IPv4 address is its own group, also written IPv4-mapped.
        """
        self.assertEqual((addressGroup("192.0.2.7"), addressGroup("::ffff:192.0.2.7")), ("192.0.2.7",) * 2)

    def test_ipv6(self) -> None:
        """
        IPv6 addresses group by the prefix (64 by default).
        """
        self.assertEqual(addressGroup("2001:db8:1:2:3:4:5:6"), "2001:db8:1:2::/64")
        self.assertEqual(addressGroup("2001:db8:1:2:3:4:5:6", 48), "2001:db8:1::/48")
        self.assertEqual(addressGroup("fe80::1%eth0"), "fe80::/64")

    def test_other(self) -> None:
        """
        Anything else (a UNIX socket's peer) is its own group.
        """
        self.assertEqual(addressGroup("local"), "local")


class AddressBudgetsTests(SynchronousTestCase):
    """
    L{AddressBudgets}: one budget per group while used, kept while spent.
    """

    def test_shared(self) -> None:
        """
        Connections of one group get one budget; other groups their own.
        """
        budgets = AddressBudgets(20, 60, 1000, 4000)
        a, b = budgets.acquire("2001:db8::1", 0.0), budgets.acquire("2001:db8::2", 0.0)
        c = budgets.acquire("192.0.2.1", 0.0)
        self.assertIs(a, b)
        self.assertIsNot(a, c)
        self.assertEqual((a.users, len(budgets)), (2, 2))

    def test_forgottenWhenRested(self) -> None:
        """
        A full budget is forgotten with its last connection; a spent one
        is kept until it is full again.
        """
        budgets = AddressBudgets(10, 10, 0, 0)
        full = budgets.acquire("192.0.2.1", 0.0)
        budgets.release(full, 0.0)
        self.assertEqual(len(budgets), 0)
        spent = budgets.acquire("192.0.2.2", 0.0)
        assert spent.lines is not None
        spent.lines.spend(0.0, 10)
        budgets.release(spent, 0.0)
        self.assertIs(budgets.acquire("192.0.2.2", 0.5), spent)
        budgets.release(spent, 0.5)
        budgets.acquire("192.0.2.3", 0.6)
        self.assertEqual(len(budgets), 2)
        budgets.acquire("192.0.2.4", 2.0)
        self.assertEqual(len(budgets), 2)       # .2 rested and forgotten; .3 and .4

    def test_strained(self) -> None:
        """
        An address is strained once it spent half of either budget.
        """
        budgets = AddressBudgets(10, 10, 1000, 1000)
        budget = budgets.acquire("192.0.2.1", 0.0)
        self.assertFalse(budget.strained(0.0))
        assert budget.bytes is not None
        budget.bytes.spend(0.0, 600)
        self.assertTrue(budget.strained(0.0))
        self.assertFalse(budget.strained(1.0))

    def test_disabled(self) -> None:
        """
        With both rates 0 there is no budget.
        """
        self.assertFalse(AddressBudgets(0, 10, 0, 10).enabled)
