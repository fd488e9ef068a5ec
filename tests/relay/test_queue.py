# -*- test-case-name: tests.relay.test_queue -*-
"""
Tests for L{twisted_mail_suite.relay.queue} and L{twisted_mail_suite.relay.sync}:
the durable queue on disk, two-phase, crash-safe, quarantining what it
cannot read.
"""
from __future__ import annotations

import errno
import os

from twisted.internet.defer import Deferred
from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase
from zope.interface.verify import verifyObject

from twisted_mail_suite.errors import DeliveryFailed
from twisted_mail_suite.interfaces import IOutboundQueue, IPendingOutbound
from twisted_mail_suite.relay import queue as queueModule
from twisted_mail_suite.relay.entry import DEFERRED, FAILED, PENDING, SENT, CorruptEntry, Outcome
from twisted_mail_suite.relay.queue import DiskQueue, IRelayQueue
from twisted_mail_suite.relay.sync import Syncer
from twisted_mail_suite.store.maildir import runSynchronously

TEXT = b"From: a@example.test\r\nSubject: hi\r\n\r\nbody\r\n.dot line\r\n"


class RecordingSync:
    """
    An fsync that records what it synced and fails when told to.
    """

    def __init__(self) -> None:
        self.calls: list[int] = []
        self.fail: OSError | None = None

    def __call__(self, fd: int) -> None:
        if self.fail is not None:
            raise self.fail
        self.calls.append(fd)


def makeQueue(testCase: SynchronousTestCase, root: str | None = None) -> tuple[DiskQueue, RecordingSync, Clock]:
    clock = Clock()
    clock.advance(1000)
    fsync = RecordingSync()
    queue = DiskQueue(root or testCase.mktemp(), clock, runSynchronously, fsync)
    queue.load()
    return queue, fsync, clock


def enqueue(testCase: SynchronousTestCase, queue: DiskQueue, text: bytes = TEXT,
            recipients: tuple[str, ...] = ("b@remote.test", "c@other.test")) -> str:
    pending = queue.begin("a@example.test", list(recipients))
    pending.write(text)
    return testCase.successResultOf(pending.commit())  # type: ignore[no-any-return]


class EnqueueTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.queue, self.fsync, self.clock = makeQueue(self)

    def test_interfaces(self) -> None:
        """
        The queue provides both the seam and the relay's interface; a pending message the two-phase one.
        """
        verifyObject(IOutboundQueue, self.queue)
        verifyObject(IRelayQueue, self.queue)
        verifyObject(IPendingOutbound, self.queue.begin("", ["x@y.test"]))

    def test_commitIsDurable(self) -> None:
        """
        Commit fires with the id once the file and its folder were fsync'd; the text reads back.
        """
        queueID = enqueue(self, self.queue)
        self.assertEqual(os.listdir(self.queue.tmpDir), [])
        self.assertEqual(os.listdir(self.queue.activeDir), [queueID])
        self.assertEqual(len(self.fsync.calls), 2)           # the file, then the folder
        entry = self.queue.get(queueID)
        self.assertEqual((entry.sender, [r.address for r in entry.recipients], entry.size, entry.created),
                         ("a@example.test", ["b@remote.test", "c@other.test"], len(TEXT), 1000.0))
        self.assertEqual(b"".join(self.queue.openText(entry)), TEXT)

    def test_notVisibleBeforeCommit(self) -> None:
        """
        A prepared message is on disk but invisible until its commit.
        """
        seen: list[str] = []
        self.queue.subscribe(lambda entry: seen.append(entry.queueID))
        pending = self.queue.begin("a@example.test", ["b@remote.test"])
        pending.write(TEXT)
        self.successResultOf(pending.prepare())
        self.assertEqual((self.queue.entries(), os.listdir(self.queue.activeDir), seen), ([], [], []))
        queueID = self.successResultOf(pending.commit())
        self.assertEqual(seen, [queueID])

    def test_abortAfterPrepare(self) -> None:
        """
        Aborting a prepared message leaves nothing.
        """
        pending = self.queue.begin("a@example.test", ["b@remote.test"])
        pending.write(TEXT)
        self.successResultOf(pending.prepare())
        pending.abort()
        self.assertEqual((os.listdir(self.queue.tmpDir), os.listdir(self.queue.activeDir)), ([], []))
        self.failureResultOf(pending.commit(), DeliveryFailed)

    def test_fsyncFailure(self) -> None:
        """
        A failed fsync (a full or broken disk) fails the commit with nothing kept.
        """
        self.fsync.fail = OSError(errno.EIO, "I/O error")
        pending = self.queue.begin("a@example.test", ["b@remote.test"])
        pending.write(TEXT)
        failure = self.failureResultOf(pending.commit(), DeliveryFailed)
        self.assertFalse(failure.value.permanent)
        self.assertEqual((os.listdir(self.queue.tmpDir), os.listdir(self.queue.activeDir)), ([], []))

    def test_folderFsyncFailure(self) -> None:
        """
        A failed fsync of the folder after the rename takes the message back.
        """
        pending = self.queue.begin("a@example.test", ["b@remote.test"])
        pending.write(TEXT)
        self.successResultOf(pending.prepare())
        self.fsync.fail = OSError(errno.EIO, "I/O error")
        self.failureResultOf(pending.commit(), DeliveryFailed)
        self.assertEqual((os.listdir(self.queue.activeDir), self.queue.entries()), ([], []))

    def test_diskFull(self) -> None:
        """
        A write failing with ENOSPC is a temporary DeliveryFailed and removes the file.
        """
        pending = self.queue.begin("a@example.test", ["b@remote.test"])

        def full(fd: int, data: object) -> int:
            raise OSError(errno.ENOSPC, "No space left on device")

        self.patch(queueModule.os, "write", full)
        error = self.assertRaises(DeliveryFailed, pending.write, TEXT)
        self.assertFalse(error.permanent)
        self.assertEqual(os.listdir(self.queue.tmpDir), [])

    def test_groupedFsyncs(self) -> None:
        """
        Commits arriving while a sync runs share the next one.
        """
        jobs: list[tuple[Deferred, object, tuple]] = []

        def later(f, *args):  # type: ignore[no-untyped-def]
            d: Deferred = Deferred()
            jobs.append((d, f, args))
            return d

        syncer = Syncer(later, self.fsync)
        first = syncer.sync(folders=(self.queue.root,))
        second = syncer.sync(folders=(self.queue.root,))
        third = syncer.sync(folders=(self.queue.activeDir,))
        self.assertEqual(len(jobs), 1)
        d, f, args = jobs.pop()
        d.callback(f(*args))
        self.assertEqual(len(jobs), 1)               # second and third, together
        d, f, args = jobs.pop()
        self.assertEqual(args[1], sorted([self.queue.root, self.queue.activeDir]))
        d.callback(f(*args))
        for each in (first, second, third):
            self.successResultOf(each)


class RestartTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.root = self.mktemp()
        self.queue, self.fsync, self.clock = makeQueue(self, self.root)

    def reload(self) -> DiskQueue:
        queue, _, _ = makeQueue(self, self.root)
        return queue

    def test_stateSurvives(self) -> None:
        """
        Outcomes, attempts and holds are read back after a restart.
        """
        queueID = enqueue(self, self.queue)
        entry = self.queue.get(queueID)
        self.successResultOf(self.queue.record(entry, [Outcome("b@remote.test", SENT, "250 ok", "mx[1.2.3.4]:25"),
                                                       Outcome("c@other.test", DEFERRED, "451 later", "mx2")],
                                               (1, 1060.0, "451 later")))
        self.successResultOf(self.queue.setHeld(entry, True))
        back = self.reload().get(queueID)
        self.assertEqual([(r.status, r.reply) for r in back.recipients], [(SENT, "250 ok"), (PENDING, "451 later")])
        self.assertEqual((back.attempts, back.nextAttempt, back.held, back.size), (1, 1060.0, True, len(TEXT)))
        self.assertEqual(b"".join(self.reload().openText(back)), TEXT)

    def test_sentNeverAgain(self) -> None:
        """
        A recipient recorded as sent stays sent: later outcomes for it are ignored.
        """
        queueID = enqueue(self, self.queue)
        entry = self.queue.get(queueID)
        self.successResultOf(self.queue.record(entry, [Outcome("b@remote.test", SENT, "250 ok")]))
        self.successResultOf(self.queue.record(entry, [Outcome("b@remote.test", FAILED, "550 no")]))
        self.assertEqual(self.reload().get(queueID).recipient("b@remote.test").status, SENT)

    def test_crashLeftovers(self) -> None:
        """
        At start, C{tmp/} is emptied (never acknowledged) and a journal without its text removed.
        """
        pending = self.queue.begin("a@example.test", ["b@remote.test"])
        pending.write(TEXT)
        self.successResultOf(pending.prepare())       # killed before the rename
        with open(os.path.join(self.queue.activeDir, "ORPHAN.log"), "wb") as f:
            f.write(b"{}\n")
        self.reload()
        self.assertEqual((os.listdir(self.queue.tmpDir), os.listdir(self.queue.activeDir)), ([], []))

    def test_retire(self) -> None:
        """
        A retired message is gone from memory and disk.
        """
        queueID = enqueue(self, self.queue)
        entry = self.queue.get(queueID)
        self.successResultOf(self.queue.record(entry, [Outcome("b@remote.test", SENT, "250")]))
        self.successResultOf(self.queue.retire(entry))
        self.assertEqual((self.queue.entries(), os.listdir(self.queue.activeDir)), ([], []))
        self.assertEqual(self.reload().entries(), [])


class RetireSyncTests(SynchronousTestCase):
    def test_durableOrNot(self) -> None:
        """
        C{retire(durable=False)} (a finished message) syncs nothing;
        C{retire()} (an operator's delete) syncs the folder.
        """
        queue, fsync, _ = makeQueue(self)
        for durable, syncs in ((False, 0), (True, 1)):
            entry = queue.get(enqueue(self, queue))
            before = len(fsync.calls)
            self.successResultOf(queue.retire(entry, durable=durable))
            self.assertEqual((len(fsync.calls) - before, os.listdir(queue.activeDir)), (syncs, []))


class OffTheCallingThreadTests(SynchronousTestCase):
    """
    The publishing rename and the removals of a retired message run in the
    syncer's job (a thread), never on the calling (reactor) thread.
    """

    def setUp(self) -> None:
        self.jobs: list[tuple] = []

        def heldJob(f, *args):  # type: ignore[no-untyped-def]
            d: Deferred = Deferred()
            self.jobs.append((f, args, d))
            return d

        self.clock = Clock()
        self.queue = DiskQueue(self.mktemp(), self.clock, heldJob, RecordingSync())
        self.queue.load()

    def runJobs(self) -> None:
        """
        Run the jobs waiting now (not those they queue).
        """
        jobs, self.jobs = self.jobs, []
        for f, args, d in jobs:
            d.callback(f(*args))

    def test_preparedThenPublished(self) -> None:
        """
        Prepared first (a local copy is committed in between), the text
        is fsync'd in one job and renamed into C{active/} in the next.
        """
        pending = self.queue.begin("a@example.test", ["b@remote.test"])
        pending.write(TEXT)
        prepared = pending.prepare()
        self.runJobs()
        self.successResultOf(prepared)
        committed = pending.commit()
        self.assertEqual((len(os.listdir(self.queue.tmpDir)), os.listdir(self.queue.activeDir)), (1, []))
        self.runJobs()
        queueID = self.successResultOf(committed)
        self.assertEqual((os.listdir(self.queue.tmpDir), os.listdir(self.queue.activeDir)), ([], [queueID]))

    def test_publishAndRetire(self) -> None:
        """
        Committed without a prepare, the text is fsync'd, renamed and its
        folder synced in one job; until the job runs, the text stays in
        C{tmp/} at commit and in C{active/} at retire.
        """
        pending = self.queue.begin("a@example.test", ["b@remote.test"])
        pending.write(TEXT)
        committed = pending.commit()
        self.assertEqual((len(os.listdir(self.queue.tmpDir)), len(self.jobs)), (1, 1))
        self.assertNoResult(committed)
        self.runJobs()                       # fsync, rename, folder fsync: one job
        queueID = self.successResultOf(committed)
        self.assertEqual((os.listdir(self.queue.tmpDir), os.listdir(self.queue.activeDir)), ([], [queueID]))
        retired = self.queue.retire(self.queue.get(queueID))
        self.assertEqual(os.listdir(self.queue.activeDir), [queueID])
        self.assertNoResult(retired)
        self.runJobs()
        self.successResultOf(retired)
        self.assertEqual(os.listdir(self.queue.activeDir), [])


class QuarantineTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.root = self.mktemp()
        self.queue, _, _ = makeQueue(self, self.root)
        self.good = enqueue(self, self.queue)
        self.bad = enqueue(self, self.queue)
        self.path = os.path.join(self.queue.activeDir, self.bad)

    def reloadQuarantines(self) -> None:
        queue, _, _ = makeQueue(self, self.root)
        self.assertEqual([e.queueID for e in queue.entries()], [self.good])
        self.assertEqual(os.listdir(self.queue.activeDir), [self.good])
        self.assertEqual({name.split(".")[0] for name in os.listdir(self.queue.quarantineDir)}, {self.bad})
        self.flushLoggedErrors()

    def test_truncated(self) -> None:
        """
        A truncated file is quarantined; the rest of the queue loads.
        """
        os.truncate(self.path, os.path.getsize(self.path) - 5)
        self.reloadQuarantines()

    def test_garbageHeader(self) -> None:
        """
        A file that does not start with a header is quarantined.
        """
        with open(self.path, "r+b") as f:
            f.write(b"\0\0\0\0garbage")
        self.reloadQuarantines()

    def test_corruptJournal(self) -> None:
        """
        A journal with a bad line quarantines its message.
        """
        with open(self.path + ".log", "wb") as f:
            f.write(b"\x00\xff not a record\n")
        self.reloadQuarantines()

    def test_changedWhileQueued(self) -> None:
        """
        Reading a text whose size changed on disk raises L{CorruptEntry}.
        """
        with open(self.path, "ab") as f:
            f.write(b"more")
        self.assertRaises(CorruptEntry, self.queue.openText, self.queue.get(self.bad))
