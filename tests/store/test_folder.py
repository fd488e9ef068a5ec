# -*- test-case-name: tests.store.test_folder -*-
"""
Tests for L{twisted_mail_suite.store.maildir.folder} (one folder: UIDs,
flags, expunge, append, copy, move, keywords, changes by others) and
L{twisted_mail_suite.store.cache}.
"""
from __future__ import annotations

import os
import time

from twisted.trial.unittest import SynchronousTestCase

from twisted_mail_suite.store.cache import MessageCache
from twisted_mail_suite.store.maildir.folder import MaildirFolder
from twisted_mail_suite.store.maildir.layout import MaildirLayout
from twisted_mail_suite.store.maildir.uidlist import FILENAME


def makeMaildir(path: str) -> str:
    for sub in ("tmp", "new", "cur"):
        os.makedirs(os.path.join(path, sub), exist_ok=True)
    return path


def drop(folder: str, name: str, data: bytes = b"Subject: x\n\nbody\n", sub: str = "new") -> str:
    path = os.path.join(folder, sub, name)
    with open(path, "wb") as f:
        f.write(data)
    return path


def touchDirectories(folder: str) -> None:
    """
    Move the folders' mtimes (a test may run within one clock tick).
    """
    later = time.time() + 5
    for sub in ("new", "cur"):
        os.utime(os.path.join(folder, sub), (later, later))


class FolderTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.root = os.path.abspath(self.mktemp())
        self.path = makeMaildir(os.path.join(self.root, "alice"))
        self.layout = MaildirLayout(self.root)

    def folder(self) -> MaildirFolder:
        return MaildirFolder(self.path, self.layout, fsync=lambda fd: None)

    def test_uidsInDeliveryOrder(self) -> None:
        """
        Messages get UIDs in delivery order (their unique names' times),
        wherever they are.
        """
        drop(self.path, "1700000002.M1P1Q2.h,S=18,W=21")
        drop(self.path, "1700000001.M1P1Q1.h,S=18,W=21:2,S", sub="cur")
        folder = self.folder()
        self.assertEqual([(m.uid, m.unique) for m in folder.messages],
                         [(1, "1700000001.M1P1Q1.h,S=18,W=21"), (2, "1700000002.M1P1Q2.h,S=18,W=21")])
        self.assertEqual([m.flags for m in folder.messages], ["S", ""])
        self.assertEqual([m.size for m in folder.messages], [21, 21])

    def test_uidsStableAcrossRestarts(self) -> None:
        """
        A new folder object (a restart) finds the same UIDs and validity.
        """
        drop(self.path, "1.M1P1Q1.h")
        first = self.folder()
        drop(self.path, "2.M1P1Q1.h")
        first.refresh(force=True)
        again = self.folder()
        self.assertEqual([(m.uid, m.unique) for m in again.messages], [(1, "1.M1P1Q1.h"), (2, "2.M1P1Q1.h")])
        self.assertEqual(again.uidValidity, first.uidValidity)
        self.assertEqual(again.uidNext, 3)

    def test_sizeWithoutW(self) -> None:
        """
        A name without C{,W=} has its CRLF size counted by reading.
        """
        drop(self.path, "1.M1P1Q1.h", b"a\nb\n")
        self.assertEqual(self.folder().messages[0].size, 6)

    def test_refreshSeesOthers(self) -> None:
        """
        A delivery, a deletion and a flag change by another program are
        found by a refresh, which bumps the version and calls listeners.
        """
        drop(self.path, "1.M1P1Q1.h")
        folder = self.folder()
        heard = []
        folder.listeners.append(heard.append)
        version = folder.version
        self.assertFalse(folder.refresh())
        drop(self.path, "2.M1P1Q1.h")
        os.rename(os.path.join(self.path, "new", "1.M1P1Q1.h"), os.path.join(self.path, "cur", "1.M1P1Q1.h:2,S"))
        touchDirectories(self.path)
        self.assertTrue(folder.refresh())
        self.assertEqual([(m.uid, m.flags) for m in folder.messages], [(1, "S"), (2, "")])
        self.assertEqual(heard, [folder])
        self.assertGreater(folder.version, version)
        os.unlink(os.path.join(self.path, "new", "2.M1P1Q1.h"))
        touchDirectories(self.path)
        self.assertTrue(folder.refresh())
        self.assertEqual([m.uid for m in folder.messages], [1])

    def test_claimRecent(self) -> None:
        """
        Claiming moves messages from C{new/} to C{cur/} and names them.
        """
        drop(self.path, "1.M1P1Q1.h")
        folder = self.folder()
        self.assertEqual(folder.claimRecent(), [1])
        self.assertEqual(os.listdir(os.path.join(self.path, "cur")), ["1.M1P1Q1.h:2,"])
        self.assertEqual(folder.claimRecent(), [])

    def test_setFlags(self) -> None:
        """
        Flags are set, added and removed by renaming; only real changes
        are reported.
        """
        drop(self.path, "1.M1P1Q1.h")
        folder = self.folder()
        changed = folder.setFlags([1], add="SF")
        self.assertEqual([m.flags for m in changed], ["FS"])
        self.assertEqual(os.listdir(os.path.join(self.path, "cur")), ["1.M1P1Q1.h:2,FS"])
        self.assertEqual(folder.setFlags([1], add="S"), [])
        self.assertEqual([m.flags for m in folder.setFlags([1], remove="F")], ["S"])
        self.assertEqual([m.flags for m in folder.setFlags([1], replaceWith="Ta")], ["Ta"])
        self.assertEqual([m.flags for m in folder.setFlags([99], add="S")], [])

    def test_setFlagsAfterOtherRename(self) -> None:
        """
        A message renamed by someone else meanwhile is found and changed.
        """
        drop(self.path, "1.M1P1Q1.h")
        folder = self.folder()
        os.rename(os.path.join(self.path, "new", "1.M1P1Q1.h"), os.path.join(self.path, "cur", "1.M1P1Q1.h:2,R"))
        changed = folder.setFlags([1], add="S")
        self.assertEqual([m.flags for m in changed], ["RS"])

    def test_expunge(self) -> None:
        """
        Expunged messages' files are gone, even if one was renamed meanwhile.
        """
        drop(self.path, "1.M1P1Q1.h")
        drop(self.path, "2.M1P1Q1.h")
        folder = self.folder()
        os.rename(os.path.join(self.path, "new", "2.M1P1Q1.h"), os.path.join(self.path, "cur", "2.M1P1Q1.h:2,S"))
        self.assertEqual(folder.expunge([1, 2, 7]), [1, 2])
        self.assertEqual(folder.messages, [])
        self.assertEqual(os.listdir(os.path.join(self.path, "cur")) + os.listdir(os.path.join(self.path, "new")), [])

    def test_append(self) -> None:
        """
        An appended message is stored with LF, named with both sizes and
        its flags, dated as asked, and read back in wire form.
        """
        synced = []
        folder = MaildirFolder(self.path, self.layout, fsync=synced.append)
        data = b"Subject: hi\r\n\r\nbody\r\n"
        uid = folder.append(data, "S", internalDate=1_000_000_000.0)
        self.assertEqual(uid, 1)
        message = folder.byUID[1]
        self.assertEqual((message.flags, message.size, message.internalDate), ("S", len(data), 1_000_000_000.0))
        self.assertIn(f",S={len(data) - 3},W={len(data)}:2,S", message.filename)
        content = folder.open(message)
        self.assertEqual(b"".join(content.chunks()), data)
        self.assertEqual(len(synced), 2)            # the message, then the uidlist

    def test_copyAndMove(self) -> None:
        """
        Copies keep flags and dates and get new UIDs in the target, in
        order; a move also removes the source messages.
        """
        drop(self.path, "1.M1P1Q1.h")
        drop(self.path, "2.M1P1Q1.h")
        source = self.folder()
        source.setFlags([2], add="F")
        target = MaildirFolder(makeMaildir(os.path.join(self.path, ".Archive")), self.layout, lambda fd: None)
        self.assertEqual(source.copyTo([2, 1], target), [(1, 1), (2, 2)])
        self.assertEqual([m.flags for m in target.messages], ["", "F"])
        self.assertEqual(len(source.messages), 2)
        self.assertEqual(source.copyTo([1], target, move=True), [(1, 3)])
        self.assertEqual([m.uid for m in source.messages], [2])
        source.refresh(force=True)
        self.assertEqual([m.uid for m in source.messages], [2])
        self.assertEqual(b"".join(target.open(target.byUID[3]).chunks()), b"Subject: x\r\n\r\nbody\r\n")

    def test_keywords(self) -> None:
        """
        Keywords get letters a-z, kept in a file; at most 26.
        """
        folder = self.folder()
        self.assertIsNone(folder.keywordLetter("Work"))
        self.assertEqual(folder.keywordLetter("Work", create=True), "a")
        self.assertEqual(folder.keywordLetter("work"), "a")
        self.assertEqual(folder.keywordLetter("$Label1", create=True), "b")
        self.assertEqual(self.folder().keywordOf("b"), "$Label1")
        for i in range(24):
            folder.keywordLetter(f"k{i}", create=True)
        self.assertIsNone(folder.keywordLetter("one-too-many", create=True))

    def test_deletedFolder(self) -> None:
        """
        A folder removed from disk lists nothing.
        """
        drop(self.path, "1.M1P1Q1.h")
        folder = self.folder()
        import shutil
        shutil.rmtree(self.path)
        self.assertTrue(folder.refresh())
        self.assertEqual(folder.messages, [])

    def test_uidlistFile(self) -> None:
        """
        The folder's UIDs are in its uidlist file.
        """
        drop(self.path, "1.M1P1Q1.h")
        self.folder()
        self.assertTrue(os.path.exists(os.path.join(self.path, FILENAME)))


class CacheTests(SynchronousTestCase):
    def test_lru(self) -> None:
        """
        The least recently used entries go once the weight passes the budget.
        """
        cache = MessageCache(maxWeight=10)
        cache.put("a", 1, 4)
        cache.put("b", 2, 4)
        self.assertEqual(cache.get("a"), 1)
        cache.put("c", 3, 4)
        self.assertIsNone(cache.get("b"))
        self.assertEqual((cache.get("a"), cache.get("c")), (1, 3))
        self.assertEqual(cache.weight, 8)

    def test_tooHeavy(self) -> None:
        """
        A value heavier than the budget is not kept.
        """
        cache = MessageCache(maxWeight=10)
        cache.put("a", 1, 11)
        self.assertIsNone(cache.get("a"))
        self.assertEqual(len(cache), 0)
