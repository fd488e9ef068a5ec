# -*- test-case-name: tests.store.test_maildir -*-
"""
Tests for the Maildir store: two-phase durable delivery, abort, listing,
reading, flags and cleanup.
"""
from __future__ import annotations

import mailbox
import os
import time
from typing import Any

from twisted.application.service import IService
from twisted.internet.defer import Deferred
from twisted.trial.unittest import SynchronousTestCase
from zope.interface import implementer
from zope.interface.verify import verifyObject

from twisted_mail_suite.errors import DeliveryFailed
from twisted_mail_suite.bus import EventBus
from twisted_mail_suite.events import NewMailEvent
from twisted_mail_suite.interfaces import IMailStore, IPendingDelivery, StoredMessage
from twisted_mail_suite.store.maildir import MaildirDelivery, MaildirStore, runSynchronously, wireSize
from twisted_mail_suite.store.maildir.groupcommit import GroupCommit, ICommitJob
from twisted_mail_suite.store.maildir.store import TMP_MAX_AGE
from twisted_mail_suite.store.notifying import NotifyingStore

from ..fakes import maildirOf, makeSuite

MESSAGE = b"From: a@b.test\r\nSubject: hi\r\n\r\nline one\r\n.dot line\r\n"


class StoreTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.root = os.path.abspath(self.mktemp())
        self.bus = EventBus()
        self.events: list[NewMailEvent] = []
        self.bus.subscribe(NewMailEvent, self.events.append)
        self.synced: list[int] = []

        def fsync(fd: int) -> None:
            self.synced.append(os.fstat(fd).st_mode)
            os.fsync(fd)

        self.maildir = MaildirStore(self.root, fsync=fsync, runBlocking=runSynchronously)
        self.store = NotifyingStore(self.maildir, self.bus)

    def deliver(self, users: list[str], data: bytes = MESSAGE) -> list[str]:
        delivery = self.store.beginDelivery(users, "a@b.test", "hi")
        delivery.write(data)
        return self.successResultOf(delivery.commit())

    def folder(self, user: str, sub: str) -> list[str]:
        path = os.path.join(self.root, user, sub)
        return sorted(os.listdir(path)) if os.path.isdir(path) else []

    def test_interfaces(self) -> None:
        """
        The store and its pending delivery provide their interfaces.
        """
        verifyObject(IMailStore, self.store)
        verifyObject(IMailStore, self.maildir)
        delivery = self.store.beginDelivery(["alice"])
        verifyObject(IPendingDelivery, delivery)
        delivery.abort()

    def test_deliverFsyncsFileAndDirectory(self) -> None:
        """
        Commit fsyncs the message file and the C{new/} folder before firing,
        and leaves nothing in C{tmp/}.
        """
        uids = self.deliver(["alice"])
        import stat

        kinds = [stat.S_ISREG(m) for m in self.synced], [stat.S_ISDIR(m) for m in self.synced]
        self.assertEqual(kinds, ([True, False], [False, True]))
        self.assertEqual(self.folder("alice", "new"), uids)
        self.assertEqual(self.folder("alice", "tmp"), [])

    def test_storedWithLF(self) -> None:
        """
        Messages are kept with LF line ends; the name carries both sizes.
        """
        [uid] = self.deliver(["alice"])
        with open(os.path.join(self.root, "alice", "new", uid), "rb") as f:
            stored = f.read()
        self.assertEqual(stored, MESSAGE.replace(b"\r\n", b"\n"))
        self.assertTrue(uid.endswith(f",S={len(stored)},W={len(MESSAGE)}"))

    def test_chunkSplitInsideCRLF(self) -> None:
        """
        A CRLF split between two writes still becomes one LF.
        """
        delivery = self.store.beginDelivery(["alice"])
        delivery.write(b"a\r")
        delivery.write(b"\nb\r\n")
        [uid] = self.successResultOf(delivery.commit())
        with self.maildir.openStored("alice", uid) as f:
            self.assertEqual(f.read(), b"a\nb\n")

    def test_severalRecipients(self) -> None:
        """
        One delivery lands in every recipient's C{new/}, one event each.
        """
        self.deliver(["alice", "bob"])
        self.assertEqual(len(self.folder("alice", "new")), 1)
        self.assertEqual(len(self.folder("bob", "new")), 1)
        self.assertEqual([e.user for e in self.events], ["alice", "bob"])
        self.assertEqual(self.events[0].subject, "hi")

    def test_failureBeforeRenameLeavesNothing(self) -> None:
        """
        If fsync fails, commit fails with L{DeliveryFailed} and neither
        C{tmp/} nor C{new/} keeps anything; no event is published.
        """
        def broken(fd: int) -> None:
            raise OSError(28, "No space left on device")

        self.maildir.fsync = broken
        delivery = self.store.beginDelivery(["alice", "bob"])
        delivery.write(MESSAGE)
        self.failureResultOf(delivery.commit(), DeliveryFailed)
        for user in ("alice", "bob"):
            self.assertEqual(self.folder(user, "tmp") + self.folder(user, "new"), [])
        self.assertEqual(self.events, [])

    def test_failureAfterFirstRenameUndone(self) -> None:
        """
        A failure while syncing the second recipient's folder removes the
        message from the first recipient's C{new/} too: all or nothing.
        """
        calls = []

        def failOnThird(fd: int) -> None:
            calls.append(fd)
            if len(calls) == 3:
                raise OSError(5, "I/O error")

        self.maildir.fsync = failOnThird
        delivery = self.store.beginDelivery(["alice", "bob"])
        delivery.write(MESSAGE)
        self.failureResultOf(delivery.commit(), DeliveryFailed)
        for user in ("alice", "bob"):
            self.assertEqual(self.folder(user, "tmp") + self.folder(user, "new"), [])

    def test_abort(self) -> None:
        """
        Abort removes the tmp file; aborting twice is harmless.
        """
        delivery = self.store.beginDelivery(["alice"])
        delivery.write(MESSAGE)
        delivery.abort()
        delivery.abort()
        self.assertEqual(self.folder("alice", "tmp"), [])
        self.assertEqual(self.successResultOf(self.store.listMessages("alice")), [])

    def test_listAndRead(self) -> None:
        """
        Listing gives UIDs oldest first and CRLF sizes; reading streams the
        stored bytes.
        """
        first = self.deliver(["alice"])[0]
        second = self.deliver(["alice"], b"x\r\n")[0]
        listed = self.successResultOf(self.store.listMessages("alice"))
        self.assertEqual([m.uid for m in listed], [first, second])
        self.assertEqual([m.size for m in listed], [len(MESSAGE), 3])
        with self.maildir.openStored("alice", second) as f:
            self.assertEqual(f.read(), b"x\n")

    def test_markSeenAndDelete(self) -> None:
        """
        Seen messages move to C{cur/} with flag S, keeping their UID;
        deletion removes them.
        """
        [uid] = self.deliver(["alice"])
        self.successResultOf(self.store.markSeen("alice", [uid]))
        self.assertEqual(self.folder("alice", "cur"), [uid + ":2,S"])
        self.assertEqual(self.successResultOf(self.store.listMessages("alice"))[0].uid, uid)
        self.assertTrue(self.successResultOf(self.store.listMessages("alice"))[0].seen)
        self.successResultOf(self.store.deleteMessages("alice", [uid]))
        self.assertEqual(self.successResultOf(self.store.listMessages("alice")), [])

    def test_foreignMaildir(self) -> None:
        """
        Messages written by other tools (Python's mailbox, no size in the
        name) are listed with their CRLF size.
        """
        os.makedirs(self.root, exist_ok=True)
        box = mailbox.Maildir(os.path.join(self.root, "carol"), create=True)
        key = box.add(b"Subject: x\n\nbody\n")
        [message] = self.successResultOf(self.store.listMessages("carol"))
        self.assertEqual(message.uid, key)
        self.assertEqual(message.size, len(b"Subject: x\r\n\r\nbody\r\n"))

    def test_wireSizeCRLFFile(self) -> None:
        """
        A file already stored with CRLF is counted as it is.
        """
        path = os.path.join(self.root, "f")
        os.makedirs(self.root, exist_ok=True)
        with open(path, "wb") as f:
            f.write(b"a\r\nb\nc")
        self.assertEqual(wireSize(path, "f"), len(b"a\r\nb\r\nc"))

    def test_cleanTemporary(self) -> None:
        """
        Leftovers in C{tmp/} (a crash before rename) are removed at start.
        """
        delivery = self.store.beginDelivery(["alice"])
        delivery.write(MESSAGE * (2 * MaildirDelivery.SPILL // len(MESSAGE)))   # big: streams to tmp/
        self.assertEqual(self.maildir.cleanTemporary(), 1)
        self.assertEqual(self.folder("alice", "tmp"), [])

    def test_badUserName(self) -> None:
        """
        A user name cannot escape the store's folder.
        """
        self.assertRaises(ValueError, self.store.beginDelivery, ["../evil"])


class GroupCommitTests(SynchronousTestCase):
    """
    Concurrent commits share their fsyncs; nothing fires before its file
    and its C{new/} entry are durable.
    """

    def setUp(self) -> None:
        self.root = os.path.abspath(self.mktemp())
        self.jobs: list[tuple[Any, tuple, Deferred]] = []
        self.synced: list[str] = []

        def runBlocking(f: Any, *args: Any) -> Deferred:
            d: Deferred = Deferred()
            self.jobs.append((f, args, d))
            return d

        def fsync(fd: int) -> None:
            import stat

            self.synced.append("dir" if stat.S_ISDIR(os.fstat(fd).st_mode) else "file")

        self.store = MaildirStore(self.root, fsync=fsync, runBlocking=runBlocking)

    def runJob(self) -> None:
        f, args, d = self.jobs.pop(0)
        d.callback(f(*args))

    def test_batched(self) -> None:
        """
        Commits made while a job runs are synced together by the next job:
        their files, then the folder of the commit before (carried over as
        more commits were waiting) and theirs, once; none fires before its
        folder is synced, and the reactor thread does no file-system step
        (the jobs do them all, here when L{runJob} runs one).
        """
        first = self.store.beginDelivery(["alice"])
        first.write(MESSAGE)
        d1 = first.commit()
        others = []
        for _ in range(3):
            delivery = self.store.beginDelivery(["alice"])
            delivery.write(MESSAGE)
            others.append(delivery.commit())
        self.assertEqual(len(self.jobs), 1)
        self.assertEqual(os.listdir(os.path.join(self.root, "alice", "new")), [])
        self.runJob()                          # first's file, named; its folder waits for the next job
        self.assertEqual(self.synced, ["file"])
        self.assertEqual(len(os.listdir(os.path.join(self.root, "alice", "new"))), 1)
        self.assertNoResult(d1)
        self.assertEqual(len(self.jobs), 1)
        self.runJob()                          # the three files, then the one folder, once
        self.successResultOf(d1)
        for d in others:
            self.successResultOf(d)
        self.assertEqual(self.synced, ["file", "file", "file", "file", "dir"])
        self.assertEqual(self.jobs, [])
        self.assertEqual(len(self.successResultOf(self.store.listMessages("alice"))), 4)
        self.assertEqual(os.listdir(os.path.join(self.root, "alice", "tmp")), [])

    def test_alone(self) -> None:
        """
        A commit with none waiting behind it is synced in one job, its
        folder included.
        """
        delivery = self.store.beginDelivery(["alice"])
        delivery.write(MESSAGE)
        d = delivery.commit()
        self.runJob()
        self.assertEqual(len(self.successResultOf(d)), 1)
        self.assertEqual(self.synced, ["file", "dir"])
        self.assertEqual(self.jobs, [])

    def test_namedFallback(self) -> None:
        """
        Without unnamed files (not Linux, no C{/proc}) a named file in
        C{tmp/} is renamed into C{new/}.
        """
        self.store.writer.anonymous = False
        delivery = self.store.beginDelivery(["alice", "bob"])
        delivery.write(MESSAGE)
        d = delivery.commit()
        self.runJob()
        self.assertEqual(len(self.successResultOf(d)), 2)
        for user in ("alice", "bob"):
            self.assertEqual(len(self.successResultOf(self.store.listMessages(user))), 1)
            self.assertEqual(os.listdir(os.path.join(self.root, user, "tmp")), [])


class ContractTests(SynchronousTestCase):
    """
    The asynchronous contract on Maildir: neutral listings, wire-form
    content, the store as a service.
    """

    def setUp(self) -> None:
        self.root = os.path.abspath(self.mktemp())
        self.store = MaildirStore(self.root, runBlocking=runSynchronously)

    def deliver(self, data: bytes = MESSAGE) -> str:
        delivery = self.store.beginDelivery(["alice"])
        delivery.write(data)
        [uid] = self.successResultOf(delivery.commit())
        return uid

    def test_readMessageWireForm(self) -> None:
        """
        C{readMessage} gives the message with CRLF line ends and its size.
        """
        uid = self.deliver()
        content = self.successResultOf(self.store.readMessage("alice", uid))
        self.assertEqual(content.size, len(MESSAGE))
        self.assertEqual(b"".join(content.chunks()), MESSAGE)

    def test_readUnknown(self) -> None:
        """
        Reading a UID that is not there fails with C{KeyError}.
        """
        self.failureResultOf(self.store.readMessage("alice", "nothing"), KeyError)

    def test_storedMessageIsNeutral(self) -> None:
        """
        A listed message has a UID, a wire size, flags and a date, and no
        path.
        """
        before = time.time()
        uid = self.deliver()
        self.successResultOf(self.store.markSeen("alice", [uid]))
        [message] = self.successResultOf(self.store.listMessages("alice"))
        self.assertIsInstance(message, StoredMessage)
        self.assertEqual((message.uid, message.size, message.flags), (uid, len(MESSAGE), frozenset("S")))
        self.assertTrue(message.seen)
        self.assertTrue(int(before) <= message.internalDate <= time.time())
        self.assertFalse(hasattr(message, "path"))

    def test_readAfterRename(self) -> None:
        """
        A message another Maildir reader renamed since the listing is read
        all the same.
        """
        uid = self.deliver()
        self.successResultOf(self.store.listMessages("alice"))
        os.rename(self.store.pathOf("alice", uid), os.path.join(self.root, "alice", "cur", uid + ":2,S"))
        content = self.successResultOf(self.store.readMessage("alice", uid))
        self.assertEqual(b"".join(content.chunks()), MESSAGE)

    def test_beginFailureIsDeliveryFailed(self) -> None:
        """
        When the recipient's folders cannot be made, C{beginDelivery}
        raises a temporary L{DeliveryFailed}.
        """
        os.makedirs(self.root)
        open(os.path.join(self.root, "alice"), "wb").close()     # a file where the Maildir goes
        error = self.assertRaises(DeliveryFailed, self.store.beginDelivery, ["alice"])
        self.assertFalse(error.permanent)

    def test_serviceStartCleansTemporary(self) -> None:
        """
        Starting the store removes leftovers in C{tmp/} (a crash before
        rename; older than 36 hours, the Maildir rule).
        """
        leftover = os.path.join(self.store.ensureMaildir("alice"), "tmp", "leftover")
        open(leftover, "wb").close()
        old = time.time() - TMP_MAX_AGE - 60
        os.utime(leftover, (old, old))
        verifyObject(IService, self.store)
        self.store.startService()
        self.assertFalse(os.path.exists(leftover))
        self.assertTrue(self.store.running)

    def test_suiteStartsStore(self) -> None:
        """
        The suite starts its store (under the event decorator) when it
        starts, so leftovers are cleaned before any connection.
        """
        suite = makeSuite(self)
        leftover = os.path.join(maildirOf(suite).ensureMaildir("alice"), "tmp", "leftover")
        open(leftover, "wb").close()
        old = time.time() - TMP_MAX_AGE - 60
        os.utime(leftover, (old, old))
        suite.startService()
        self.addCleanup(suite.stopService)
        self.assertFalse(os.path.exists(leftover))


class StopTests(SynchronousTestCase):
    """
    Stopping the store lets commits in flight finish first.
    """

    def test_stopWaitsForCommit(self) -> None:
        """
        C{stopService} fires only once the commit under way has fired.
        """
        jobs: list[tuple[Any, tuple, Deferred]] = []

        def runBlocking(f: Any, *args: Any) -> Deferred:
            d: Deferred = Deferred()
            jobs.append((f, args, d))
            return d

        store = MaildirStore(os.path.abspath(self.mktemp()), runBlocking=runBlocking)
        store.startService()
        delivery = store.beginDelivery(["alice"])
        delivery.write(MESSAGE)
        committed = delivery.commit()
        stopped = store.stopService()
        while jobs:
            self.assertNoResult(stopped)
            f, args, d = jobs.pop(0)
            d.callback(f(*args))
        self.successResultOf(committed)
        self.successResultOf(stopped)


@implementer(ICommitJob)
class RecordingJob:
    """
    A commit job outside Maildir, as L{GroupCommit} sees any job.
    """

    def __init__(self, folder: str, name: str, steps: list[str]) -> None:
        self.path = os.path.join(folder, name)
        self.steps = steps
        self.fd = -1

    def prepare(self) -> int:
        self.steps.append("prepare")
        self.fd = os.open(self.path + ".tmp", os.O_CREAT | os.O_WRONLY, 0o600)
        return self.fd

    def publish(self) -> list[str]:
        self.steps.append("publish")
        os.close(self.fd)
        os.rename(self.path + ".tmp", self.path)
        return [self.path]

    def unpublish(self, created: list[str]) -> None:
        self.steps.append("unpublish")

    def discard(self) -> None:
        self.steps.append("discard")
        os.close(self.fd)


class GroupCommitJobTests(SynchronousTestCase):
    """
    L{GroupCommit} drives any L{ICommitJob} through its public steps.
    """

    def setUp(self) -> None:
        self.folder = os.path.abspath(self.mktemp())
        os.makedirs(self.folder)
        self.steps: list[str] = []
        self.synced: list[int] = []

    def test_steps(self) -> None:
        """
        prepare, fsync of the file, publish, fsync of the folder; the
        Deferred fires with the published names.
        """
        committer = GroupCommit(runSynchronously, self.synced.append)
        d = committer.submit(RecordingJob(self.folder, "m1", self.steps))
        self.assertEqual(self.successResultOf(d), ["m1"])
        self.assertEqual(self.steps, ["prepare", "publish"])
        self.assertEqual(len(self.synced), 2)
        self.successResultOf(committer.whenIdle())

    def test_fileSyncFailure(self) -> None:
        """
        If the file's fsync fails the job is discarded, never published.
        """
        def broken(fd: int) -> None:
            raise OSError(5, "I/O error")

        committer = GroupCommit(runSynchronously, broken)
        self.failureResultOf(committer.submit(RecordingJob(self.folder, "m1", self.steps)), OSError)
        self.assertEqual(self.steps, ["prepare", "discard"])

    def test_carriedFolderSyncFailure(self) -> None:
        """
        A job whose folder sync was carried over to the next batch (more
        commits were waiting) is taken back and fails if that sync fails,
        with the jobs of that batch.
        """
        jobs: list[tuple[Any, tuple, Deferred]] = []

        def runBlocking(f: Any, *args: Any) -> Deferred:
            d: Deferred = Deferred()
            jobs.append((f, args, d))
            return d

        failing: list[bool] = []

        def fsync(fd: int) -> None:
            import stat

            if failing and stat.S_ISDIR(os.fstat(fd).st_mode):
                raise OSError(5, "I/O error")

        committer = GroupCommit(runBlocking, fsync)
        first = committer.submit(RecordingJob(self.folder, "m1", self.steps))
        second = committer.submit(RecordingJob(self.folder, "m2", self.steps))
        f, args, d = jobs.pop(0)
        d.callback(f(*args))                   # m1 named, its folder carried over
        self.assertNoResult(first)
        failing.append(True)
        f, args, d = jobs.pop(0)
        d.callback(f(*args))
        self.failureResultOf(first, OSError)
        self.failureResultOf(second, OSError)
        self.assertEqual(self.steps, ["prepare", "publish", "prepare", "publish", "unpublish", "unpublish"])
        self.successResultOf(committer.whenIdle())

    def test_folderSyncFailure(self) -> None:
        """
        If the folder's fsync fails the published job is taken back.
        """
        calls: list[int] = []

        def secondFails(fd: int) -> None:
            calls.append(fd)
            if len(calls) == 2:
                raise OSError(5, "I/O error")

        committer = GroupCommit(runSynchronously, secondFails)
        self.failureResultOf(committer.submit(RecordingJob(self.folder, "m1", self.steps)), OSError)
        self.assertEqual(self.steps, ["prepare", "publish", "unpublish"])
