# -*- test-case-name: tests.pop3.test_locks -*-
"""
Tests for L{twisted_mail_suite.pop3.locks} (one POP3 session per maildrop)
and POP3's avatar registration.
"""
from __future__ import annotations

from twisted.mail.pop3 import IMailbox
from twisted.internet.defer import Deferred, succeed
from twisted.trial.unittest import SynchronousTestCase
from zope.interface.verify import verifyObject

from twisted_mail_suite.errors import MailboxInUse
from twisted_mail_suite.identity.realm import MailSuiteRealm
from twisted_mail_suite.interfaces import IMaildropLocks
from twisted_mail_suite.pop3.avatars import registerAvatars
from twisted_mail_suite.pop3.locks import MaildropLocks


class LockTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.locks = MaildropLocks()

    def test_verifyObject(self) -> None:
        """
        L{MaildropLocks} provides L{IMaildropLocks}.
        """
        self.assertTrue(verifyObject(IMaildropLocks, self.locks))

    def test_oneHolder(self) -> None:
        """
        A held maildrop cannot be taken again until it is released.
        """
        release = self.locks.acquire("alice")
        self.assertTrue(self.locks.isHeld("alice"))
        self.assertRaises(MailboxInUse, self.locks.acquire, "alice")
        self.assertFalse(self.locks.isHeld("bob"))
        release()
        self.assertFalse(self.locks.isHeld("alice"))

    def test_releaseIdempotent(self) -> None:
        """
        Only the first call of a release frees the maildrop: a stale
        release does not free the next session's lock.
        """
        first = self.locks.acquire("alice")
        first()
        second = self.locks.acquire("alice")
        first()
        self.assertTrue(self.locks.isHeld("alice"))
        second()
        self.assertFalse(self.locks.isHeld("alice"))


class BrokenStore:
    """
    A store whose listing fails.
    """

    def listMessages(self, user: str) -> list:
        raise OSError("no such folder")


class AvatarTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.realm = MailSuiteRealm()
        self.locks = MaildropLocks()

    def test_mailboxHoldsTheLock(self) -> None:
        """
        The mailbox avatar holds its user's maildrop until logout.
        """
        registerAvatars(self.realm, FakeStore(), self.locks)
        interface, mailbox, logout = self.realm.requestAvatar("alice", None, IMailbox)
        self.assertIs(interface, IMailbox)
        self.assertTrue(verifyObject(IMailbox, mailbox))
        self.assertTrue(self.locks.isHeld("alice"))
        logout()
        self.assertFalse(self.locks.isHeld("alice"))

    def test_releasedWhenTheMailboxFails(self) -> None:
        """
        A mailbox that cannot be opened leaves the maildrop free.
        """
        registerAvatars(self.realm, BrokenStore(), self.locks)  # type: ignore[arg-type]
        self.assertRaises(OSError, self.realm.requestAvatar, "alice", None, IMailbox)
        self.assertFalse(self.locks.isHeld("alice"))

    def test_noAnonymousMailbox(self) -> None:
        """
        An anonymous login gets no mailbox.
        """
        registerAvatars(self.realm, FakeStore(), self.locks)
        self.assertRaises(NotImplementedError, self.realm.requestAvatar, (), None, IMailbox)
        self.assertFalse(self.locks.isHeld(""))


class FakeStore:
    """
    An empty store.
    """

    def listMessages(self, user: str) -> Deferred:
        return succeed([])
