# -*- test-case-name: tests.store.test_mailfolders -*-
"""
Tests for the Maildir++ folders behind IMAP's folder seam
(L{twisted_mail_suite.store.maildir.mailboxes}): they provide the
interfaces of L{twisted_mail_suite.mailfolders} and answer with Deferreds
that have already fired, errors included.
"""
from __future__ import annotations

from twisted.trial.unittest import SynchronousTestCase
from zope.interface.verify import verifyObject

from twisted_mail_suite.errors import FolderExists, NoSuchFolder
from twisted_mail_suite.mailfolders import IMailFolder, IMailFolders, IUserFolders
from twisted_mail_suite.store.maildir.mailboxes import MaildirMailFolders

MESSAGE = b"Subject: hi\r\n\r\nbody\r\n"


class MaildirSeamTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.folders = MaildirMailFolders(self.mktemp(), fsync=lambda fd: None)
        self.tree = self.successResultOf(self.folders.forUser("alice"))

    def test_interfaces(self) -> None:
        verifyObject(IMailFolders, self.folders)
        verifyObject(IUserFolders, self.tree)
        verifyObject(IMailFolder, self.successResultOf(self.tree.open("INBOX")))

    def test_firedResults(self) -> None:
        """
        Every answer has fired already: values, folder errors, C{KeyError}.
        """
        self.assertEqual(self.successResultOf(self.tree.names()), ["INBOX", "Drafts", "Junk", "Sent", "Trash"])
        self.failureResultOf(self.tree.create("Sent"), FolderExists)
        self.failureResultOf(self.tree.open("nope"), NoSuchFolder)
        inbox = self.successResultOf(self.tree.open("INBOX"))
        uid = self.successResultOf(inbox.append(MESSAGE, "S"))
        self.assertEqual([(m.uid, m.flags, m.recent) for m in inbox.messages], [(uid, "S", False)])
        message = inbox.messages[0]
        self.successResultOf(inbox.expunge([uid]))
        self.failureResultOf(inbox.open(message), KeyError)

    def test_sharedFolder(self) -> None:
        """
        Two opens wrap the one shared folder: what they know and their listeners.
        """
        first = self.successResultOf(self.tree.open("INBOX"))
        second = self.successResultOf(self.tree.open("INBOX"))
        self.assertIs(first.folder, second.folder)
        self.assertIs(first.listeners, second.listeners)
        self.assertEqual(self.successResultOf(first.addKeyword("$Junk")), "a")
        self.assertEqual(second.keywordLetter("$junk"), "a")
        trash = self.successResultOf(self.tree.open("Trash"))
        self.successResultOf(first.append(MESSAGE))
        self.assertEqual(self.successResultOf(first.copyTo([1], trash, move=True)), [(1, 1)])
        self.assertEqual((second.messages, [m.uid for m in trash.messages]), ([], [1]))
