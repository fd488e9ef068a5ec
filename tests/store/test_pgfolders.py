# -*- test-case-name: tests.store.test_pgfolders -*-
"""
Tests for IMAP's folders in PostgreSQL (L{twisted_mail_suite.store.postgres.folders}
and L{twisted_mail_suite.store.postgres.folder}) against a real, private
PostgreSQL server: the folder tree, subscriptions, listing, flags,
expunge, append, copy and move, keywords, \\Recent claimed once, and
another node's changes (a second L{PostgresFolders} on the same database)
seen at the next refresh.
"""
from __future__ import annotations

from typing import Any

from twisted.internet.defer import inlineCallbacks
from twisted.trial.unittest import TestCase
from zope.interface.verify import verifyObject

from twisted_mail_suite.errors import BadFolderName, FolderError, FolderExists, HasChildren, NoSuchFolder
from twisted_mail_suite.mailfolders import IMailFolder, IMailFolders, IUserFolders
from twisted_mail_suite.store.postgres import PostgresFolders

from ..pgsupport import NO_POSTGRES, PostgresServerMixin

MESSAGE = b"From: a@b.test\r\nSubject: hi\r\n\r\nline one\r\n"


class FolderTests(PostgresServerMixin, TestCase):
    if NO_POSTGRES:
        skip = NO_POSTGRES

    def setUp(self) -> Any:
        self.startStore()
        self.folders = PostgresFolders(self.database)
        self.other = PostgresFolders(self.database)       # another node on the same database

    def deliver(self, user: str = "alice", message: bytes = MESSAGE) -> Any:
        delivery = self.store.beginDelivery([user])
        delivery.write(message)
        return delivery.commit()

    @inlineCallbacks
    def inbox(self, folders: Any = None, name: str = "INBOX") -> Any:
        tree = yield (folders or self.folders).forUser("alice")
        folder = yield tree.open(name)
        yield folder.refresh()
        return folder

    @inlineCallbacks
    def test_interfaces(self) -> Any:
        verifyObject(IMailFolders, self.folders)
        tree = yield self.folders.forUser("alice")
        verifyObject(IUserFolders, tree)
        verifyObject(IMailFolder, (yield tree.open("INBOX")))

    @inlineCallbacks
    def test_firstLoginFolders(self) -> Any:
        """
        The first login makes INBOX and the usual folders, subscribed; a
        later one does not make a deleted one again.
        """
        tree = yield self.folders.forUser("alice")
        self.assertEqual((yield tree.names()), ["INBOX", "Drafts", "Junk", "Sent", "Trash"])
        self.assertEqual((yield tree.subscriptions()), ["INBOX", "Drafts", "Junk", "Sent", "Trash"])
        self.assertEqual(tree.specialUse("Sent"), "\\Sent")
        yield tree.delete("Junk")
        again = yield self.other.forUser("alice")
        self.assertEqual((yield again.names()), ["INBOX", "Drafts", "Sent", "Trash"])

    @inlineCallbacks
    def test_tree(self) -> Any:
        """
        CREATE makes parents; DELETE refuses INBOX, missing folders and
        parents; RENAME moves the folders below; names are checked.
        """
        tree = yield self.folders.forUser("alice")
        yield tree.create("a.b.c")
        self.assertTrue((yield tree.exists("a.b")))
        yield self.assertFailure(tree.create("a.b"), FolderExists)
        yield self.assertFailure(tree.create("INBOX"), FolderExists)
        yield self.assertFailure(tree.create("a..b"), BadFolderName)
        yield self.assertFailure(tree.delete("a"), HasChildren)
        yield self.assertFailure(tree.delete("INBOX"), FolderError)
        yield self.assertFailure(tree.delete("nope"), NoSuchFolder)
        yield self.assertFailure(tree.open("nope"), NoSuchFolder)
        yield tree.subscribe("a.b")
        yield tree.rename("a", "x.y")
        names = yield tree.names()
        self.assertEqual([n for n in names if n[0] in "ax"], ["x", "x.y", "x.y.b", "x.y.b.c"])
        self.assertIn("x.y.b", (yield tree.subscriptions()))
        yield self.assertFailure(tree.rename("x", "x.y.z"), FolderError)
        yield self.assertFailure(tree.unsubscribe("a.b"), NoSuchFolder)
        yield tree.unsubscribe("x.y.b")
        yield tree.delete("x.y.b.c")
        self.assertFalse((yield tree.exists("x.y.b.c")))

    @inlineCallbacks
    def test_listingAndContent(self) -> Any:
        yield self.deliver()
        yield self.deliver(message=b"Subject: two\r\n\r\nsecond\r\n")
        folder = yield self.inbox()
        self.assertEqual([(m.uid, m.size, m.flags, m.recent) for m in folder.messages],
                         [(1, len(MESSAGE), "", True), (2, 24, "", True)])
        self.assertEqual(folder.uidNext, 3)
        content = yield folder.open(folder.messages[0])
        self.assertEqual(b"".join(content.chunks()), MESSAGE)
        gone = folder.messages[0]
        yield folder.expunge([1])
        self.assertEqual([m.uid for m in folder.messages], [2])
        yield self.assertFailure(folder.open(gone), KeyError)

    @inlineCallbacks
    def test_readAhead(self) -> Any:
        """
        Opening messages in UID order reads the following ones in the same
        query; opening one out of order reads it alone.
        """
        for n in range(5):
            yield self.deliver(message=b"Subject: %d\r\n\r\nbody\r\n" % n)
        folder = yield self.inbox()
        queries: list[Any] = []
        run = folder.run

        def counted(f: Any, *args: Any) -> Any:
            queries.append(f.__name__)
            return run(f, *args)
        folder.run = counted
        for message in folder.messages:
            content = yield folder.open(message)
            self.assertIn(b"Subject: %d" % (message.uid - 1), b"".join(content.chunks()))
        self.assertEqual(queries, ["_read", "_readMany"])
        yield folder.open(folder.messages[2])
        self.assertEqual(queries[2:], ["_read"])

    @inlineCallbacks
    def test_sharedInProcess(self) -> Any:
        """
        Sessions of one process share the folder; a change calls its listeners.
        """
        first = yield self.inbox()
        second = yield self.inbox()
        self.assertIs(first, second)
        calls: list[Any] = []
        first.listeners.append(calls.append)
        yield self.deliver()
        self.assertTrue((yield first.refresh()))
        self.assertEqual(calls, [first])
        self.assertFalse((yield first.refresh()))

    @inlineCallbacks
    def test_otherNodeChangesSeenAtRefresh(self) -> Any:
        """
        New mail, flags and expunges made through another node show at the
        next refresh; POP3's changes too.
        """
        yield self.deliver()
        yield self.deliver()
        here = yield self.inbox()
        there = yield self.inbox(self.other)
        self.assertIsNot(here, there)
        changed = yield there.setFlags([1], add="SF")
        self.assertEqual([(m.uid, m.flags) for m in changed], [(1, "FS")])
        yield self.deliver()
        self.assertTrue((yield here.refresh()))
        self.assertEqual([(m.uid, m.flags) for m in here.messages], [(1, "FS"), (2, ""), (3, "")])
        yield there.refresh()
        yield there.expunge([2])
        yield here.refresh()
        self.assertEqual([m.uid for m in here.messages], [1, 3])
        yield self.store.markSeen("alice", ["3"])          # POP3 on the same store
        yield here.refresh()
        self.assertEqual(here.byUID[3].flags, "S")

    @inlineCallbacks
    def test_recentClaimedOnce(self) -> Any:
        """
        Each message is \\Recent for one session of any node.
        """
        yield self.deliver()
        yield self.deliver()
        here = yield self.inbox()
        there = yield self.inbox(self.other)
        self.assertEqual((yield here.claimRecent()), [1, 2])
        self.assertEqual((yield there.claimRecent()), [])
        self.assertEqual((yield here.claimRecent()), [])

    @inlineCallbacks
    def test_setFlagsReplaceAndRemove(self) -> Any:
        yield self.deliver()
        folder = yield self.inbox()
        yield folder.setFlags([1], replaceWith="DT")
        self.assertEqual(folder.byUID[1].flags, "DT")
        changed = yield folder.setFlags([1], remove="T")
        self.assertEqual([m.flags for m in changed], ["D"])
        self.assertEqual((yield folder.setFlags([1], add="D")), [])
        self.assertEqual((yield folder.setFlags([99], add="S")), [])

    @inlineCallbacks
    def test_appendCopyMove(self) -> Any:
        """
        APPEND gives the next UID; COPY and MOVE keep flags and dates and
        give the target's UIDs in order; MOVE removes from the source.
        """
        yield self.deliver()
        yield self.deliver()
        inbox = yield self.inbox()
        uid = yield inbox.append(b"Subject: appended\n\nbare LF\n", "S", 1_700_000_000.0)
        self.assertEqual(uid, 3)
        yield inbox.refresh()
        appended = inbox.byUID[3]
        self.assertEqual((appended.flags, appended.internalDate, appended.recent), ("S", 1_700_000_000.0, False))
        content = yield inbox.open(appended)
        self.assertEqual(b"".join(content.chunks()), b"Subject: appended\r\n\r\nbare LF\r\n")
        sent = yield self.inbox(name="Sent")
        pairs = yield inbox.copyTo([3, 1], sent)
        self.assertEqual(pairs, [(1, 1), (3, 2)])
        pairs = yield inbox.copyTo([2], sent, move=True)
        self.assertEqual(pairs, [(2, 3)])
        self.assertEqual([m.uid for m in inbox.messages], [1, 3])
        yield sent.refresh()
        self.assertEqual([(m.uid, m.flags) for m in sent.messages], [(1, ""), (2, "S"), (3, "")])
        again = yield self.inbox(self.other)
        self.assertEqual([m.uid for m in again.messages], [1, 3])

    @inlineCallbacks
    def test_renameInbox(self) -> Any:
        yield self.deliver()
        tree = yield self.folders.forUser("alice")
        yield tree.rename("INBOX", "Old")
        old = yield self.inbox(name="Old")
        inbox = yield self.inbox()
        self.assertEqual(([m.uid for m in old.messages], inbox.messages), ([1], []))

    @inlineCallbacks
    def test_keywords(self) -> Any:
        """
        Keywords get letters in order, shared with another node at refresh.
        """
        yield self.deliver()
        folder = yield self.inbox()
        self.assertIsNone(folder.keywordLetter("$Junk"))
        self.assertEqual((yield folder.addKeyword("$Junk")), "a")
        self.assertEqual((yield folder.addKeyword("work")), "b")
        self.assertEqual((yield folder.addKeyword("$junk")), "a")
        self.assertEqual((folder.keywordOf("b"), folder.keywords()), ("work", ["$Junk", "work"]))
        there = yield self.inbox(self.other)
        self.assertEqual(there.keywordLetter("WORK"), "b")

    @inlineCallbacks
    def test_deletedFolderEmpties(self) -> Any:
        """
        A folder deleted (here or on another node) lists no message at its
        sessions' next refresh.
        """
        tree = yield self.folders.forUser("alice")
        yield tree.create("box")
        folder = yield self.inbox(name="box")
        yield folder.append(MESSAGE)
        yield folder.refresh()
        there = yield self.inbox(self.other, name="box")
        otherTree = yield self.other.forUser("alice")
        yield otherTree.delete("box")
        self.assertEqual(len(folder.messages), 1)
        yield folder.refresh()
        self.assertEqual((folder.messages, folder.deleted), ([], True))
        self.assertTrue(there.deleted)
