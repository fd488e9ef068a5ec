# -*- test-case-name: tests.store.test_folders -*-
"""
Tests for L{twisted_mail_suite.store.maildir.folders}: a user's Maildir++
tree, default folders, subscriptions, create, delete and rename.
"""
from __future__ import annotations

import os

from twisted.trial.unittest import SynchronousTestCase

from twisted_mail_suite.store.maildir.folders import (
    BadFolderName, FolderError, FolderExists, HasChildren, MaildirFolders, NoSuchFolder,
)


class FoldersTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.root = os.path.abspath(self.mktemp())
        self.store = MaildirFolders(self.root, fsync=lambda fd: None)
        self.folders = self.store.forUser("alice")

    def test_inboxIsTheMaildir(self) -> None:
        """
        INBOX (any case) is the user's Maildir, where the store delivers.
        """
        self.assertEqual(self.folders.names(), ["INBOX"])
        self.assertEqual(self.folders.open("inbox").path, os.path.join(self.root, "alice"))

    def test_defaultsOnFirstLogin(self) -> None:
        """
        The first login makes Sent, Drafts, Trash and Junk, subscribed,
        with their special uses; later logins leave the tree alone.
        """
        self.folders.ensureDefaults()
        self.assertEqual(self.folders.names(), ["INBOX", "Drafts", "Junk", "Sent", "Trash"])
        self.assertEqual(self.folders.subscriptions(), ["INBOX", "Sent", "Drafts", "Trash", "Junk"])
        self.assertEqual(self.folders.specialUse("Sent"), "\\Sent")
        self.assertTrue(os.path.isdir(os.path.join(self.root, "alice", ".Trash", "cur")))
        self.folders.delete("Junk")
        self.folders.ensureDefaults()
        self.assertNotIn("Junk", self.folders.names())

    def test_createWithParents(self) -> None:
        """
        Creating C{a.b.c} makes C{a} and C{a.b} too; a trailing separator
        is dropped.
        """
        self.folders.create("a.b.c.")
        self.assertEqual(self.folders.names(), ["INBOX", "a", "a.b", "a.b.c"])
        self.assertTrue(self.folders.hasChildren("a"))
        self.assertFalse(self.folders.hasChildren("a.b.c"))
        self.assertRaises(FolderExists, self.folders.create, "a.b")
        self.assertRaises(FolderExists, self.folders.create, "INBOX")

    def test_badNames(self) -> None:
        """
        Empty parts, slashes, dots alone and over-long names are refused.
        """
        for name in ["", "a..b", ".a", "a/b", "..", "x" * 300, "a\tb"]:
            self.assertRaises(BadFolderName, self.folders.create, name)

    def test_delete(self) -> None:
        """
        Deleting removes the folder; INBOX, missing folders and folders
        with children are refused.
        """
        self.folders.create("a.b")
        self.assertRaises(HasChildren, self.folders.delete, "a")
        self.folders.delete("a.b")
        self.folders.delete("a")
        self.assertEqual(self.folders.names(), ["INBOX"])
        self.assertRaises(NoSuchFolder, self.folders.delete, "a")
        self.assertRaises(FolderError, self.folders.delete, "INBOX")

    def test_deletedFolderSessions(self) -> None:
        """
        A session holding a deleted folder sees it empty; a new one made
        with the same name has a new UIDVALIDITY.
        """
        self.folders.create("x")
        held = self.folders.open("x")
        held.append(b"Subject: a\r\n\r\nb\r\n")
        validity = held.uidValidity
        self.folders.delete("x")
        self.assertEqual(held.messages, [])
        self.folders.create("x")
        self.assertNotEqual(self.folders.open("x").uidValidity, validity)

    def test_rename(self) -> None:
        """
        Renaming moves the folder and those below it, and their
        subscriptions; messages and UIDs go along.
        """
        self.folders.create("a.b")
        self.folders.subscribe("a.b")
        self.folders.open("a.b").append(b"Subject: a\r\n\r\nb\r\n")
        self.folders.rename("a", "z.y")
        self.assertEqual(self.folders.names(), ["INBOX", "z", "z.y", "z.y.b"])
        self.assertEqual(self.folders.subscriptions(), ["z.y.b"])
        self.assertEqual([m.uid for m in self.folders.open("z.y.b").messages], [1])
        self.assertRaises(NoSuchFolder, self.folders.rename, "nope", "other")
        self.assertRaises(FolderExists, self.folders.rename, "z", "z.y")
        self.assertRaises(BadFolderName, self.folders.rename, "z", "z.q")

    def test_renameInbox(self) -> None:
        """
        Renaming INBOX moves its messages to the new folder; INBOX stays,
        empty.
        """
        inbox = self.folders.open("INBOX")
        inbox.append(b"Subject: a\r\n\r\nb\r\n")
        self.folders.rename("INBOX", "Old")
        self.assertEqual(inbox.messages, [])
        self.assertEqual(len(self.folders.open("Old").messages), 1)

    def test_subscriptions(self) -> None:
        """
        Subscribing twice lists once; unsubscribing what is not is an error.
        """
        self.folders.subscribe("x")
        self.folders.subscribe("x")
        self.assertEqual(self.folders.subscriptions(), ["x"])
        self.folders.unsubscribe("x")
        self.assertRaises(NoSuchFolder, self.folders.unsubscribe, "x")

    def test_sharedFolders(self) -> None:
        """
        Sessions of one process share one folder object, and new mail
        makes it look at once.
        """
        inbox = self.folders.open("INBOX")
        self.assertIs(self.store.forUser("alice").open("INBOX"), inbox)
        heard = []
        inbox.listeners.append(heard.append)
        path = os.path.join(self.root, "alice", "new", "1.M1P1Q1.h")
        with open(path, "wb") as f:
            f.write(b"x\n")
        os.utime(os.path.join(self.root, "alice", "new"), (1, 1))
        self.store.newMail("alice")
        self.assertEqual(heard, [inbox])
        self.store.newMail("../nobody")


class KeptFoldersTests(SynchronousTestCase):
    """
    A folder stays described after its last session closes: the next
    session does not look at each message file again.
    """

    def setUp(self) -> None:
        from twisted_mail_suite.store.maildir import folders as foldersModule

        self.module = foldersModule
        self.root = os.path.abspath(self.mktemp())
        self.store = MaildirFolders(self.root, fsync=lambda fd: None)
        self.home = self.store.forUser("alice").home
        for n in range(3):
            with open(os.path.join(self.home, "new", f"100{n}.M1P1Q{n}.host"), "wb") as f:
                f.write(b"Subject: x\n\nbody\n")

    def test_describedOnce(self) -> None:
        """
        Reopening the INBOX after every reference was dropped reads no
        message file again (their sizes without C{,W=} need a read).
        """
        import gc

        from twisted_mail_suite.store.maildir import folder as folderModule

        reads: list[str] = []
        original = folderModule.wireSize

        def counting(path: str, name: str) -> int:
            reads.append(name)
            return original(path, name)

        self.patch(folderModule, "wireSize", counting)
        first = self.store.folderAt(self.home)
        first.refresh(force=True)
        self.assertEqual(len(reads), 3)
        del first
        gc.collect()
        again = self.store.folderAt(self.home)
        again.refresh()
        self.assertEqual((len(reads), len(again.messages)), (3, 3))

    def test_keptAreBounded(self) -> None:
        """
        Only the last C{KEPT_FOLDERS} opened are kept.
        """
        import gc

        self.patch(self.module, "KEPT_FOLDERS", 2)
        folders = self.store.forUser("alice")
        for name in ("a", "b", "c"):
            folders.create(name)
            self.store.folderAt(folders.pathOf(name))
        gc.collect()
        self.assertIsNone(self.store.opened(folders.pathOf("a")))
        self.assertIsNotNone(self.store.opened(folders.pathOf("c")))

    def test_newMailLooksOnlyWhenWatched(self) -> None:
        """
        New mail makes a folder look at its files only while a session
        listens; a kept folder looks when it is opened again.
        """
        folder = self.store.folderAt(self.home)
        folder.refresh(force=True)
        looked: list[bool] = []
        self.patch(folder, "refresh", lambda force=False: looked.append(force))
        self.store.newMail("alice")
        self.assertEqual(looked, [])
        folder.listeners.append(lambda f: None)
        self.store.newMail("alice")
        self.assertEqual(looked, [False])
