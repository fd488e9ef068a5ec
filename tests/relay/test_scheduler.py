# -*- test-case-name: tests.relay.test_scheduler -*-
"""
Tests for L{twisted_mail_suite.relay.scheduler}: the retry state machine
on a C{task.Clock}, over a real queue on disk (fsyncs synchronous).
"""
from __future__ import annotations

import os

from twisted.internet.defer import Deferred, fail, succeed
from twisted.internet.task import Clock
from twisted.logger import globalLogPublisher
from twisted.trial.unittest import SynchronousTestCase

from twisted_mail_suite.relay.entry import BOUNCED, DEFERRED, FAILED, PENDING, SENT, CorruptEntry, Outcome
from twisted_mail_suite.relay.queue import DiskQueue
from twisted_mail_suite.relay.scheduler import Scheduler
from twisted_mail_suite.store.maildir import runSynchronously

SCHEDULE = (60.0, 300.0, 900.0)
LIFETIME = 3600.0


class Harness:
    """
    A scheduler whose deliveries and bounces the test answers.
    """

    def __init__(self, testCase: SynchronousTestCase, root: str | None = None) -> None:
        self.root = root or testCase.mktemp()
        self.clock = Clock()
        self.clock.advance(10_000)
        self.queue = DiskQueue(self.root, self.clock, runSynchronously)
        self.queue.load()
        self.attempts: list[tuple[str, list[str], Deferred]] = []
        self.bounces: list[tuple[str, list[str]]] = []
        self.bounceResult: object = None
        self.scheduler = Scheduler(self.queue, self.clock, self.deliver, self.bounce, SCHEDULE, LIFETIME)
        self.scheduler.start()

    def deliver(self, entry, addresses):  # type: ignore[no-untyped-def]
        d: Deferred = Deferred()
        self.attempts.append((entry.queueID, list(addresses), d))
        return d

    def bounce(self, entry, recipients):  # type: ignore[no-untyped-def]
        self.bounces.append((entry.queueID, [r.address for r in recipients]))
        if isinstance(self.bounceResult, Exception):
            return fail(self.bounceResult)
        return succeed(None)

    def enqueue(self, testCase: SynchronousTestCase, *recipients: str) -> str:
        pending = self.queue.begin("alice@example.test", list(recipients or ("a@x.test", "b@y.test")))
        pending.write(b"Subject: s\r\n\r\nbody\r\n")
        return testCase.successResultOf(pending.commit())  # type: ignore[no-any-return]

    def answer(self, *outcomes: tuple[str, str]) -> None:
        queueID, addresses, d = self.attempts.pop(0)
        d.callback([Outcome(address, status, f"{'250' if status == SENT else '451' if status == DEFERRED else '550'}"
                            f" reply", "mx.test[127.0.0.1]:25") for address, status in outcomes])


class RetryTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.h = Harness(self)
        self.events: list[dict] = []
        globalLogPublisher.addObserver(self.events.append)
        self.addCleanup(globalLogPublisher.removeObserver, self.events.append)

    def statuses(self) -> list[str]:
        return [e["status"] for e in self.events if "status" in e and "queueID" in e]

    def test_sentAndRemoved(self) -> None:
        """
        A new message is tried at once; once all are sent it is removed from disk.
        """
        queueID = self.h.enqueue(self)
        self.h.clock.advance(0)
        self.assertEqual([a[:2] for a in self.h.attempts], [(queueID, ["a@x.test", "b@y.test"])])
        self.h.answer(("a@x.test", SENT), ("b@y.test", SENT))
        self.assertEqual((self.h.queue.entries(), os.listdir(self.h.queue.activeDir)), ([], []))
        self.assertEqual(self.statuses(), ["sent", "sent"])

    def test_finishedFoundAgainRetired(self) -> None:
        """
        A finished message is removed without syncing its folder (as
        Postfix does); one a crash kept on disk (every recipient sent, the
        removal lost) is retired at the next start without being sent again.
        """
        queueID = self.h.enqueue(self)
        self.h.clock.advance(0)
        active = self.h.queue.activeDir
        unlink = os.unlink
        os.unlink = lambda path, *a, **k: None if path.startswith(active) else unlink(path, *a, **k)
        try:
            self.h.answer(("a@x.test", SENT), ("b@y.test", SENT))   # the removal is lost in a crash
        finally:
            os.unlink = unlink
        self.assertEqual((self.h.queue.entries(), sorted(os.listdir(active))), ([], [queueID, queueID + ".log"]))
        again = Harness(self, self.h.root)
        again.clock.advance(0)
        self.assertEqual((again.attempts, again.queue.entries(), os.listdir(again.queue.activeDir)), ([], [], []))

    def test_retrySchedule(self) -> None:
        """
        Deferred recipients are tried after 60 s, 300 s, then every 900 s; the sent one never again.
        """
        self.h.enqueue(self)
        self.h.clock.advance(0)
        self.h.answer(("a@x.test", SENT), ("b@y.test", DEFERRED))
        times = []
        for _ in range(4):
            start = self.h.clock.seconds()
            while not self.h.attempts:
                self.h.clock.advance(1)
            times.append(self.h.clock.seconds() - start)
            self.assertEqual(self.h.attempts[0][1], ["b@y.test"])
            self.h.answer(("b@y.test", DEFERRED))
        self.assertEqual(times, [60, 300, 900, 900])
        entry = self.h.queue.entries()[0]
        self.assertEqual((entry.attempts, entry.lastError), (5, "451 reply"))
        self.assertIn("deferred", self.statuses())

    def test_permanentBounces(self) -> None:
        """
        A 5xx recipient gets one bounce; the message is removed when nothing is left.
        """
        queueID = self.h.enqueue(self)
        self.h.clock.advance(0)
        self.h.answer(("a@x.test", FAILED), ("b@y.test", SENT))
        self.assertEqual(self.h.bounces, [(queueID, ["a@x.test"])])
        self.assertEqual(self.h.queue.entries(), [])
        self.assertEqual(self.statuses(), ["bounced", "sent"])

    def test_expiry(self) -> None:
        """
        Past the queue lifetime, a deferred recipient bounces as expired.
        """
        queueID = self.h.enqueue(self)
        self.h.clock.advance(0)
        self.h.answer(("a@x.test", SENT), ("b@y.test", DEFERRED))
        self.h.clock.advance(LIFETIME)
        while self.h.attempts:
            self.h.answer(("b@y.test", DEFERRED))
            self.h.clock.advance(900)
        self.assertEqual(self.h.bounces, [(queueID, ["b@y.test"])])
        self.assertEqual(self.h.queue.entries(), [])

    def test_bounceFailureRetried(self) -> None:
        """
        A bounce that cannot be queued is tried again later, not in a loop.
        """
        self.h.bounceResult = OSError("disk full")
        self.h.enqueue(self, "a@x.test")
        self.h.clock.advance(0)
        self.h.answer(("a@x.test", FAILED))
        self.assertEqual(len(self.h.bounces), 1)
        self.assertEqual(self.h.queue.entries()[0].recipients[0].status, FAILED)
        self.h.bounceResult = None
        self.h.clock.advance(SCHEDULE[0])
        self.assertEqual(len(self.h.bounces), 2)
        self.assertEqual(self.h.queue.entries(), [])
        self.flushLoggedErrors(OSError)

    def test_corruptQuarantined(self) -> None:
        """
        A message whose text cannot be read is quarantined, not retried.
        """
        queueID = self.h.enqueue(self, "a@x.test")
        self.h.scheduler.deliver = lambda entry, addresses: fail(CorruptEntry("size changed"))
        self.h.clock.advance(0)
        self.assertEqual(self.h.queue.entries(), [])
        self.assertEqual([n.split(".")[0] for n in os.listdir(self.h.queue.quarantineDir)], [queueID])


class OperatorTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.h = Harness(self)
        self.queueID = self.h.enqueue(self)
        self.entry = self.h.queue.get(self.queueID)
        self.h.clock.advance(0)
        self.h.answer(("a@x.test", DEFERRED), ("b@y.test", DEFERRED))

    def test_holdAndRelease(self) -> None:
        """
        A held message is not tried; released, it is tried when due.
        """
        self.successResultOf(self.h.scheduler.hold(self.entry))
        self.h.clock.advance(10_000)
        self.assertEqual(self.h.attempts, [])
        self.successResultOf(self.h.scheduler.release(self.entry))
        self.h.clock.advance(0)
        self.assertEqual(len(self.h.attempts), 1)

    def test_flush(self) -> None:
        """
        Flush tries a deferred message now.
        """
        self.h.scheduler.flush(self.entry)
        self.h.clock.advance(0)
        self.assertEqual(len(self.h.attempts), 1)

    def test_deleteWhileActive(self) -> None:
        """
        A message deleted during an attempt is gone; the attempt's outcome is not written back.
        """
        self.h.scheduler.flush(self.entry)
        self.h.clock.advance(0)
        self.successResultOf(self.h.scheduler.delete(self.entry))
        self.h.answer(("a@x.test", SENT), ("b@y.test", SENT))
        self.assertEqual((self.h.queue.entries(), os.listdir(self.h.queue.activeDir), self.h.bounces), ([], [], []))

    def test_restartKeepsSchedule(self) -> None:
        """
        After a restart the message is due when it was due, with its state.
        """
        self.h.scheduler.stop()
        again = Harness(self, self.h.root)
        again.clock.advance(self.entry.nextAttempt - again.clock.seconds() - 1)
        self.assertEqual(again.attempts, [])
        again.clock.advance(1)
        self.assertEqual(again.attempts[0][1], ["a@x.test", "b@y.test"])
        self.assertEqual(again.queue.get(self.queueID).attempts, 1)
        self.assertEqual(again.queue.get(self.queueID).recipients[0].status, PENDING)

    def test_stopWaitsForAttempt(self) -> None:
        """
        Stop fires once the attempt in flight is recorded.
        """
        self.h.scheduler.flush(self.entry)
        self.h.clock.advance(0)
        stopped = self.h.scheduler.stop()
        self.assertNoResult(stopped)
        self.h.answer(("a@x.test", SENT), ("b@y.test", DEFERRED))
        self.successResultOf(stopped)
        self.assertEqual(self.h.queue.get(self.queueID).recipients[0].status, SENT)

    def test_bouncedStatusRecorded(self) -> None:
        """
        After the bounce, failed recipients are recorded as bounced (not bounced twice after a restart).
        """
        self.h.scheduler.flush(self.entry)
        self.h.clock.advance(0)
        self.h.answer(("a@x.test", FAILED), ("b@y.test", DEFERRED))
        self.assertEqual(self.h.queue.get(self.queueID).recipients[0].status, BOUNCED)
        self.h.scheduler.stop()
        again = Harness(self, self.h.root)
        self.assertEqual(again.bounces, [])
