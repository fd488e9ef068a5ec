# -*- test-case-name: tests.pop3.test_mailbox -*-
"""
Tests for L{twisted_mail_suite.pop3.mailbox}: the POP3 avatar over the
Maildir store.
"""
from __future__ import annotations

import os

from twisted.mail.pop3 import IMailbox
from twisted.trial.unittest import SynchronousTestCase
from zope.interface.verify import verifyObject

from twisted_mail_suite.pop3.mailbox import IPeekMailbox, MaildirMailbox, uniqueID

from ..fakes import maildirOf
from .support import deliver, maildirFiles, newSuite, storeFile


class MaildirMailboxTests(SynchronousTestCase):
    """
    L{MaildirMailbox} keeps RFC 1939's semantics on a Maildir.
    """

    def setUp(self) -> None:
        self.suite = newSuite(self)
        self.uids = [deliver(self.suite, "alice", b"Subject: %d\r\n\r\nbody\r\n" % i) for i in range(3)]
        self.mailbox = MaildirMailbox(self.suite.store, "alice")

    def test_interfaces(self) -> None:
        """
        It provides Twisted's C{IMailbox} and L{IPeekMailbox}.
        """
        self.assertTrue(verifyObject(IMailbox, self.mailbox))
        self.assertTrue(verifyObject(IPeekMailbox, self.mailbox))

    def test_sizesAreCRLF(self) -> None:
        """
        Sizes count CRLF line ends, though the file has LF.
        """
        self.assertEqual(self.mailbox.listMessages(), [len(b"Subject: 0\r\n\r\nbody\r\n")] * 3)

    def test_listFixedAtLogin(self) -> None:
        """
        A message delivered after the mailbox was opened is not listed.
        """
        deliver(self.suite, "alice", b"Subject: late\r\n\r\n")
        self.assertEqual(len(self.mailbox.listMessages()), 3)

    def test_deleteOnlyMarks(self) -> None:
        """
        C{deleteMessage} touches no file; C{sync} removes it.
        """
        before = maildirFiles(self.suite, "alice")
        self.mailbox.deleteMessage(1)
        self.assertEqual(maildirFiles(self.suite, "alice"), before)
        self.assertEqual(self.mailbox.listMessages()[1], 0)
        self.assertRaises(ValueError, self.mailbox.getMessage, 1)
        self.mailbox.sync()
        self.assertEqual([m.uid for m in self.successResultOf(self.suite.store.listMessages("alice"))],
                         [self.uids[0], self.uids[2]])

    def test_undelete(self) -> None:
        """
        C{undeleteMessages} forgets the marks.
        """
        self.mailbox.deleteMessage(0)
        self.mailbox.undeleteMessages()
        self.mailbox.sync()
        self.assertEqual(len(self.successResultOf(self.suite.store.listMessages("alice"))), 3)

    def test_retrievedFiledAsSeen(self) -> None:
        """
        A message read with C{getMessage} goes to C{cur/} with flag S at
        C{sync}; one read with C{peekMessage} stays in C{new/}.
        """
        self.successResultOf(self.mailbox.getMessage(0)).close()
        self.successResultOf(self.mailbox.peekMessage(2)).close()
        self.mailbox.sync()
        files = maildirFiles(self.suite, "alice")
        self.assertEqual(files["cur"], [self.uids[0] + ":2,S"])
        self.assertEqual(files["new"], sorted([self.uids[1], self.uids[2]]))

    def test_openAfterRename(self) -> None:
        """
        A message another Maildir reader moved to C{cur/} since login is
        still found.
        """
        message = self.successResultOf(self.suite.store.listMessages("alice"))[0]
        os.rename(maildirOf(self.suite).pathOf("alice", message.uid),
                  os.path.join(self.suite.config.mailDir, "alice", "cur", message.uid + ":2,S"))
        content = self.successResultOf(self.mailbox.getMessage(0))
        self.assertEqual(b"".join(content.chunks()), b"Subject: 0\r\n\r\nbody\r\n")

    def test_uidl(self) -> None:
        """
        The unique-id is the Maildir unique name without Dovecot's size
        fields.
        """
        self.assertEqual(self.mailbox.getUidl(0), self.uids[0].split(",")[0].encode())


class UniqueIDTests(SynchronousTestCase):
    """
    L{uniqueID} keeps unique-ids within RFC 1939's rules.
    """

    def test_plainName(self) -> None:
        """
        A short printable unique name is used as it is.
        """
        self.assertEqual(uniqueID("1700000000.M1P2Q3.host,S=10,W=12"), b"1700000000.M1P2Q3.host")

    def test_longName(self) -> None:
        """
        A name over 70 characters becomes a stable 40-character digest.
        """
        uid = uniqueID("1700000000.M1P2Q3." + "h" * 80)
        self.assertEqual(len(uid), 40)
        self.assertEqual(uid, uniqueID("1700000000.M1P2Q3." + "h" * 80))

    def test_unprintable(self) -> None:
        """
        A name with a space or 8-bit characters is digested too.
        """
        for name in ("a b", "caf\u00e9"):
            uid = uniqueID(name)
            self.assertTrue(all(0x21 <= c <= 0x7E for c in uid))

    def test_foreignFile(self) -> None:
        """
        A file delivered by another program (no size fields) is listed
        with its CRLF size.
        """
        suite = newSuite(self)
        storeFile(suite, "bob", "1700000000.M1P2Q3.other", b"a: b\nc: d\n\nx\n")
        mailbox = MaildirMailbox(suite.store, "bob")
        self.assertEqual(mailbox.listMessages(), [len(b"a: b\r\nc: d\r\n\r\nx\r\n")])
        self.assertEqual(mailbox.getUidl(0), b"1700000000.M1P2Q3.other")
