# -*- test-case-name: tests.store.test_groupcommit -*-
"""
Tests for when L{GroupCommit} starts a batch: with a C{callSoon}, at the
end of the reactor turn, with every commit of that turn.
"""
from __future__ import annotations

import os
from typing import Any

from twisted.internet.defer import Deferred
from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase

from twisted_mail_suite.store.maildir import CommitThread, MaildirStore
from twisted_mail_suite.store.maildir.groupcommit import GroupCommit

from .test_maildir import MESSAGE, RecordingJob


class Soon:
    """
    A C{callSoon} whose calls wait until the test ends the turn.
    """

    def __init__(self) -> None:
        self.calls: list[Any] = []

    def __call__(self, f: Any) -> None:
        self.calls.append(f)

    def endTurn(self) -> None:
        calls, self.calls = self.calls, []
        for f in calls:
            f()


class TurnTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.folder = os.path.abspath(self.mktemp())
        os.makedirs(self.folder)
        self.steps: list[str] = []
        self.batches: list[tuple[Any, tuple, Deferred]] = []
        self.soon = Soon()

    def runBlocking(self, f: Any, *args: Any) -> Deferred:
        d: Deferred = Deferred()
        self.batches.append((f, args, d))
        return d

    def runBatch(self) -> int:
        f, args, d = self.batches.pop(0)
        d.callback(f(*args))
        return len(args[0])

    def test_oneBatchPerTurn(self) -> None:
        """
        Commits made in one turn while nothing runs wait for its end, then
        share one batch (one hand-over, one folder sync).
        """
        synced: list[int] = []
        committer = GroupCommit(self.runBlocking, synced.append, callSoon=self.soon)
        ds = [committer.submit(RecordingJob(self.folder, f"m{i}", self.steps)) for i in range(3)]
        self.assertEqual(self.batches, [])
        self.assertEqual(len(self.soon.calls), 1)
        self.soon.endTurn()
        self.assertEqual(self.runBatch(), 3)
        self.assertEqual([self.successResultOf(d) for d in ds], [["m0"], ["m1"], ["m2"]])
        self.assertEqual(len(synced), 4)          # three files, the folder once
        self.assertEqual(self.batches, [])
        self.successResultOf(committer.whenIdle())

    def test_whileRunning(self) -> None:
        """
        Commits made while a batch runs start the next batch as soon as it
        ends, not a turn later; whenIdle waits for a scheduled start.
        """
        committer = GroupCommit(self.runBlocking, lambda fd: None, callSoon=self.soon)
        first = committer.submit(RecordingJob(self.folder, "m0", self.steps))
        idle = committer.whenIdle()
        self.soon.endTurn()
        second = committer.submit(RecordingJob(self.folder, "m1", self.steps))
        self.assertEqual(self.soon.calls, [])
        self.runBatch()
        self.assertEqual(len(self.batches), 1)
        self.runBatch()
        self.successResultOf(first)
        self.successResultOf(second)
        self.successResultOf(idle)

    def test_idleBeforeTurnEnds(self) -> None:
        """
        A commit whose batch has not started yet keeps the committer busy.
        """
        committer = GroupCommit(self.runBlocking, lambda fd: None, callSoon=self.soon)
        committer.submit(RecordingJob(self.folder, "m0", self.steps))
        idle = committer.whenIdle()
        self.assertNoResult(idle)
        self.soon.endTurn()
        self.runBatch()
        self.successResultOf(idle)


class BatchTests(TurnTests):
    """
    Inside a batch every file is synced before any is named; after it the
    next batch is handed over before the finished one's Deferreds fire.
    """

    def test_syncAllThenNameAll(self) -> None:
        """
        A batch fsyncs all its files, then publishes them, then syncs the
        folder: a name given between two file syncs would dirty again what
        the next one writes (the inode table, on ext4 without a journal).
        """
        committer = GroupCommit(self.runBlocking, lambda fd: self.steps.append("fsync"), callSoon=self.soon)
        ds = [committer.submit(RecordingJob(self.folder, f"m{i}", self.steps)) for i in range(2)]
        self.soon.endTurn()
        self.runBatch()
        self.assertEqual(self.steps, ["prepare", "prepare", "fsync", "fsync", "publish", "publish", "fsync"])
        self.assertEqual([self.successResultOf(d) for d in ds], [["m0"], ["m1"]])

    def test_nameAfterFailedSync(self) -> None:
        """
        A file whose fsync fails is discarded and never published; the
        others of its batch are.
        """
        def fsync(fd: int) -> None:
            self.steps.append("fsync")
            if self.steps.count("fsync") == 1:
                raise OSError(5, "I/O error")

        committer = GroupCommit(self.runBlocking, fsync, callSoon=self.soon)
        first = committer.submit(RecordingJob(self.folder, "m0", self.steps))
        second = committer.submit(RecordingJob(self.folder, "m1", self.steps))
        self.soon.endTurn()
        self.runBatch()
        self.assertEqual(self.steps, ["prepare", "prepare", "fsync", "discard", "fsync", "publish", "fsync"])
        self.failureResultOf(first, OSError)
        self.assertEqual(self.successResultOf(second), ["m1"])

    def test_nextBatchBeforeReplies(self) -> None:
        """
        When a batch's result comes back, the commits made meanwhile are
        handed to the thread before the finished commits' Deferreds fire
        (the thread works while the reactor writes their replies).
        """
        committer = GroupCommit(self.runBlocking, lambda fd: None, callSoon=self.soon)
        first = committer.submit(RecordingJob(self.folder, "m0", self.steps))
        self.soon.endTurn()
        f, args, d = self.batches.pop(0)
        result = f(*args)                     # nothing waited while it ran: its folder is synced
        second = committer.submit(RecordingJob(self.folder, "m1", self.steps))
        handedOver: list[int] = []
        first.addCallback(lambda _: handedOver.append(len(self.batches)))
        d.callback(result)
        self.assertEqual(handedOver, [1])
        self.runBatch()
        self.assertEqual(self.successResultOf(second), ["m1"])
        self.successResultOf(committer.whenIdle())


class FakeReactor(Clock):
    """
    A clock whose C{callFromThread} records what the thread hands back.
    """

    def __init__(self) -> None:
        super().__init__()
        self.fromThreads: list[Any] = []

    def callFromThread(self, f: Any, *args: Any) -> None:
        self.fromThreads.append((f, args))


class CommitThreadSoonTests(SynchronousTestCase):
    def test_callSoonIsCallLaterZero(self) -> None:
        """
        The commit thread's C{callSoon} runs at the reactor's next timed
        calls (C{callLater(0)}), and a store on a commit thread uses it.
        """
        reactor = FakeReactor()
        thread = CommitThread(reactor)
        ran: list[int] = []
        thread.callSoon(lambda: ran.append(1))
        self.assertEqual(ran, [])
        reactor.advance(0)
        self.assertEqual(ran, [1])
        store = MaildirStore(os.path.abspath(self.mktemp()), runBlocking=thread)
        delivery = store.beginDelivery(["alice"])
        delivery.write(MESSAGE)
        delivery.commit()
        self.assertEqual(len(reactor.getDelayedCalls()), 1)
        self.assertFalse(thread.running)
