# -*- test-case-name: tests.imap.test_account -*-
"""
Tests for L{twisted_mail_suite.imap.account} and
L{twisted_mail_suite.imap.avatars}: the C{IAccountIMAP} avatar through
the shared portal.
"""
from __future__ import annotations

from twisted.cred.credentials import UsernamePassword
from twisted.mail.interfaces import IAccountIMAP
from twisted.trial.unittest import SynchronousTestCase
from zope.interface.verify import verifyObject

from twisted_mail_suite.imap.account import IMAPAccount
from twisted_mail_suite.imap.responses import No

from .support import newSuite


class AccountTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.suite = newSuite(self)
        result = self.successResultOf(self.suite.portal.login(UsernamePassword(b"alice", b"secret"), None,
                                                              IAccountIMAP))
        self.interface, self.account, self.logout = result

    def test_interface(self) -> None:
        """
        The portal hands out an C{IAccountIMAP} (Twisted's contract).
        """
        self.assertIs(self.interface, IAccountIMAP)
        self.assertIsInstance(self.account, IMAPAccount)
        verifyObject(IAccountIMAP, self.account)
        self.logout()

    def test_firstLoginFolders(self) -> None:
        """
        The first login makes the special-use folders.
        """
        names = [name for name, _ in self.account.listMailboxes("", "*")]
        self.assertEqual(names, ["INBOX", "Drafts", "Junk", "Sent", "Trash"])
        self.assertIn(b"\\Sent", dict(self.account.listMailboxes("", "Sent"))["Sent"])

    def test_operations(self) -> None:
        """
        The Twisted methods create, rename, subscribe, select and delete.
        """
        self.assertTrue(self.account.addMailbox("a"))
        self.assertTrue(self.account.rename("a", "b"))
        self.assertTrue(self.account.subscribe("b"))
        self.assertTrue(self.account.isSubscribed("b"))
        self.assertTrue(self.account.unsubscribe("b"))
        mailbox = self.account.select("b", rw=False)
        self.assertTrue(mailbox.readOnly)
        self.assertTrue(self.account.delete("b"))
        self.assertRaises(No, self.account.select, "b")
        self.assertRaises(No, self.account.create, "INBOX")
        self.assertRaises(No, self.account.addMailbox, "c", object())

    def test_sharedFolders(self) -> None:
        """
        Two logins share the folder objects (UIDs assigned once).
        """
        other = self.successResultOf(self.suite.portal.login(UsernamePassword(b"alice", b"secret"), None,
                                                             IAccountIMAP))[1]
        self.assertIs(other.folders.open("INBOX"), self.account.folders.open("INBOX"))
        self.assertIs(other.cache, self.account.cache)
