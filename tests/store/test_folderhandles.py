# -*- test-case-name: tests.store.test_folderhandles -*-
"""
Tests for the folder descriptors the group commit keeps: a folder is
opened once, named into and synced through the same descriptor, and
closed when the store stops.
"""
from __future__ import annotations

import os
import shutil
import stat

from twisted.trial.unittest import SkipTest, SynchronousTestCase

from twisted_mail_suite.store.maildir import MaildirStore, runSynchronously
from twisted_mail_suite.store.maildir.groupcommit import FolderHandles

from .test_maildir import MESSAGE


def isOpen(fd: int) -> bool:
    try:
        os.fstat(fd)
    except OSError:
        return False
    return True


class FolderHandlesTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.root = os.path.abspath(self.mktemp())
        self.folders = [os.path.join(self.root, name) for name in ("a", "b", "c")]
        for folder in self.folders:
            os.makedirs(folder)
        self.handles = FolderHandles()
        self.addCleanup(self.handles.close)

    def test_openedOnce(self) -> None:
        """
        A folder is opened at its first use and the same descriptor serves
        every later one.
        """
        fd = self.handles.handleOf(self.folders[0])
        self.assertEqual(self.handles.handleOf(self.folders[0]), fd)
        self.assertEqual(os.fstat(fd).st_ino, os.stat(self.folders[0]).st_ino)

    def test_bounded(self) -> None:
        """
        Past L{FolderHandles.LIMIT} folders the oldest descriptor is closed.
        """
        if not os.path.isdir("/proc/self/fd"):
            raise SkipTest("no /proc/self/fd to count open descriptors")
        self.handles.LIMIT = 2
        before = len(os.listdir("/proc/self/fd"))
        second = [self.handles.handleOf(folder) for folder in self.folders][1]
        self.assertEqual(len(os.listdir("/proc/self/fd")), before + 2)
        self.assertEqual(self.handles.handleOf(self.folders[1]), second)

    def test_failedSyncDrops(self) -> None:
        """
        A folder whose sync failed is opened anew at its next use (Linux
        reports a write-back error once per descriptor).
        """
        fd = self.handles.handleOf(self.folders[0])

        def broken(fd: int) -> None:
            raise OSError(5, "I/O error")

        self.assertRaises(OSError, self.handles.sync, self.folders[0], broken)
        self.assertFalse(isOpen(fd))
        synced: list[int] = []
        self.handles.sync(self.folders[0], synced.append)
        self.assertEqual(os.fstat(synced[0]).st_ino, os.stat(self.folders[0]).st_ino)

    def test_close(self) -> None:
        """
        L{FolderHandles.close} closes every descriptor; a later use opens
        again.
        """
        fds = [self.handles.handleOf(folder) for folder in self.folders]
        self.handles.close()
        self.assertEqual([isOpen(fd) for fd in fds], [False] * 3)
        self.assertTrue(isOpen(self.handles.handleOf(self.folders[0])))


class StoreFolderTests(SynchronousTestCase):
    """
    The store syncs C{new/} through a descriptor it keeps, names files
    through it, and closes it when it stops.
    """

    def setUp(self) -> None:
        self.root = os.path.abspath(self.mktemp())
        self.synced: list[int] = []

        def fsync(fd: int) -> None:
            if stat.S_ISDIR(os.fstat(fd).st_mode):
                self.synced.append(fd)

        self.store = MaildirStore(self.root, fsync=fsync, runBlocking=runSynchronously)
        self.store.startService()

    def deliver(self) -> list[str]:
        delivery = self.store.beginDelivery(["alice"])
        delivery.write(MESSAGE)
        return self.successResultOf(delivery.commit())

    def test_keptOpen(self) -> None:
        """
        Two commits one after the other sync C{new/} through one descriptor,
        still open after them; the store's stop closes it.
        """
        self.deliver()
        self.deliver()
        new = os.path.join(self.root, "alice", "new")
        self.assertEqual(len(self.synced), 2)
        self.assertEqual(self.synced[0], self.synced[1])
        self.assertEqual(os.fstat(self.synced[0]).st_ino, os.stat(new).st_ino)
        self.successResultOf(self.store.stopService())
        self.assertFalse(isOpen(self.synced[0]))

    def test_folderMadeAnew(self) -> None:
        """
        A Maildir removed and made again while the store runs gets the next
        message, named and synced in the new C{new/}, not the removed one.
        """
        self.deliver()
        maildir = os.path.join(self.root, "alice")
        shutil.rmtree(maildir)
        for sub in ("tmp", "new", "cur"):
            os.makedirs(os.path.join(maildir, sub))
        uids = self.deliver()
        new = os.path.join(maildir, "new")
        self.assertEqual([name.split(",")[0] for name in os.listdir(new)], [uid.split(",")[0] for uid in uids])
        self.assertEqual(os.fstat(self.synced[-1]).st_ino, os.stat(new).st_ino)
        self.successResultOf(self.store.stopService())
