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
        names = [name for name, _ in self.successResultOf(self.account.listMailboxes("", "*"))]
        self.assertEqual(names, ["INBOX", "Drafts", "Junk", "Sent", "Trash"])
        self.assertIn(b"\\Sent", dict(self.successResultOf(self.account.listMailboxes("", "Sent")))["Sent"])

    def test_operations(self) -> None:
        """
        The Twisted methods create, rename, subscribe, select and delete
        (answering Deferreds, as Twisted's interface allows).
        """
        account = self.account
        for d in (account.addMailbox("a"), account.rename("a", "b"), account.subscribe("b"),
                  account.isSubscribed("b"), account.unsubscribe("b")):
            self.assertTrue(self.successResultOf(d))
        mailbox = self.successResultOf(account.select("b", rw=False))
        self.assertTrue(mailbox.readOnly)
        self.assertTrue(self.successResultOf(account.delete("b")))
        self.failureResultOf(account.select("b"), No)
        self.failureResultOf(account.create("INBOX"), No)
        self.assertRaises(No, account.addMailbox, "c", object())

    def test_sharedFolders(self) -> None:
        """
        Two logins share the folder objects (UIDs assigned once).
        """
        other = self.successResultOf(self.suite.portal.login(UsernamePassword(b"alice", b"secret"), None,
                                                             IAccountIMAP))[1]
        self.assertIs(self.successResultOf(other.folders.open("INBOX")).folder,
                      self.successResultOf(self.account.folders.open("INBOX")).folder)
        self.assertIs(other.cache, self.account.cache)
