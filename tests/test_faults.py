# -*- test-case-name: tests.test_faults -*-
"""
The harness's fault seams without sockets: L{FaultyStore} drops mail still
in flight when the harness is cleared and lets a clear wait for commits the
real store is doing.
"""
from __future__ import annotations

from typing import Any

from twisted.internet.defer import Deferred
from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase

from twisted_mail_suite.errors import DeliveryFailed
from twisted_mail_suite.testing.faults import Faults, FaultyStore


class FakeDelivery:
    size = 0

    def __init__(self, commits: list[Deferred]) -> None:
        self.commits = commits
        self.aborted = False

    def write(self, data: bytes) -> None:
        pass

    def abort(self) -> None:
        self.aborted = True

    def commit(self) -> Deferred:
        d: Deferred = Deferred()
        self.commits.append(d)
        return d


class FakeStore:
    def __init__(self) -> None:
        self.commits: list[Deferred] = []
        self.deliveries: list[FakeDelivery] = []

    def beginDelivery(self, users: Any, sender: str = "", subject: str = "") -> FakeDelivery:
        delivery = FakeDelivery(self.commits)
        self.deliveries.append(delivery)
        return delivery


class FaultyStoreTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.faults = Faults()
        self.clock = Clock()
        self.inner = FakeStore()
        self.store = FaultyStore(self.inner, self.faults, self.clock)

    def test_settleWaitsForCommitsInFlight(self) -> None:
        """
        C{settle()} fires only once the commits handed to the real store are done.
        """
        committing = self.store.beginDelivery(["bob"]).commit()
        settled = self.store.settle()
        self.assertNoResult(settled)
        self.inner.commits[0].callback(["uid"])
        self.successResultOf(settled)
        self.assertEqual(self.successResultOf(committing), ["uid"])

    def test_settleWithNothingInFlight(self) -> None:
        """
        With no commit in flight, C{settle()} fires at once.
        """
        self.successResultOf(self.store.settle())

    def test_delayedDeliveryDroppedBySettle(self) -> None:
        """
        A delivery waiting out C{delayDeliveries} when the harness settles
        is abandoned: it fails, its inner delivery is aborted, and nothing
        is committed when the delay would have passed.
        """
        self.faults.delay = 5.0
        delivery = self.store.beginDelivery(["bob"])
        committing = delivery.commit()
        self.faults.generation += 1
        self.successResultOf(self.store.settle())
        self.failureResultOf(committing, DeliveryFailed)
        self.assertTrue(self.inner.deliveries[0].aborted)
        self.clock.advance(10)
        self.assertEqual(self.inner.commits, [])
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def test_deliveryFromAnEarlierGeneration(self) -> None:
        """
        A delivery begun before a clear is not committed after it.
        """
        delivery = self.store.beginDelivery(["bob"])
        self.faults.generation += 1
        self.failureResultOf(delivery.commit(), DeliveryFailed)
        self.assertEqual(self.inner.commits, [])
        self.assertTrue(self.inner.deliveries[0].aborted)

    def test_delayThenCommit(self) -> None:
        """
        Without a clear, a delayed delivery is committed after the delay.
        """
        self.faults.delay = 2.0
        committing = self.store.beginDelivery(["bob"]).commit()
        self.clock.advance(1.9)
        self.assertEqual(self.inner.commits, [])
        self.clock.advance(0.2)
        self.inner.commits[0].callback(["uid"])
        self.assertEqual(self.successResultOf(committing), ["uid"])
