# -*- test-case-name: tests.test_realm -*-
"""
Tests for the one realm and portal: every protocol's avatar, one password
for all, the maildrop lock and the chat user's offline mail.
"""
from __future__ import annotations

from twisted.cred.credentials import UsernamePassword
from twisted.mail.pop3 import IMailbox
from twisted.mail.smtp import IMessage, IMessageDelivery
from twisted.trial.unittest import SynchronousTestCase
from zope.interface.verify import verifyObject

from twisted_mail_suite.errors import MailboxInUse
from twisted_mail_suite.interfaces import IChatUser
from twisted_mail_suite.smtp.delivery import RelayDenied, UnknownUser

from .fakes import maildirOf, makeSuite


class AvatarTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.suite = makeSuite(self, aliases={"postmaster": "alice", "team": ["alice", "bob"]})
        self.portal = self.suite.portal

    def login(self, interface: type, user: str = "alice", password: str = "secret") -> tuple:
        session = self.portal.session("127.0.0.1", secure=False)
        return self.successResultOf(session.authenticate(
            UsernamePassword(user.encode(), password.encode()), interface))

    def test_onePasswordEverywhere(self) -> None:
        """
        The same password gives the SMTP, POP3 and chat avatars, each
        verified against its interface and with a logout callable.
        """
        for interface in (IMessageDelivery, IMailbox, IChatUser):
            got, avatar, logout = self.login(interface)
            self.assertIs(got, interface)
            verifyObject(interface, avatar)
            self.assertTrue(callable(logout))
            logout()

    def test_anonymousDeliveryOnly(self) -> None:
        """
        Without login only the MX delivery avatar is available.
        """
        interface, avatar, logout = self.successResultOf(self.portal.anonymousDelivery())
        verifyObject(IMessageDelivery, avatar)
        self.assertIsNone(avatar.user)

    def test_maildropLock(self) -> None:
        """
        A second POP3 login to a held maildrop fails until the first logs out.
        """
        _, _, logout = self.login(IMailbox)
        session = self.portal.session("127.0.0.1", False)
        self.failureResultOf(session.authenticate(UsernamePassword(b"alice", b"secret"), IMailbox),
                             MailboxInUse)
        logout()
        logout()
        self.login(IMailbox)

    def test_resolve(self) -> None:
        """
        Local users, aliases and plus-addresses resolve; foreign domains are
        relaying and unknown users are refused.
        """
        _, delivery, _ = self.successResultOf(self.portal.anonymousDelivery())
        self.assertEqual(delivery.resolve("Alice@EXAMPLE.test"), ("alice",))
        self.assertEqual(delivery.resolve("team@example.test"), ("alice", "bob"))
        self.assertEqual(delivery.resolve("postmaster"), ("alice",))
        self.assertEqual(delivery.resolve("bob+news@localhost"), ("bob",))
        self.assertRaises(RelayDenied, delivery.resolve, "alice@elsewhere.test")
        error = self.assertRaises(UnknownUser, delivery.resolve, "nobody@example.test")
        self.assertEqual(error.code, b"550 5.1.1")

    def test_catchAll(self) -> None:
        """
        With a catch-all, unknown local parts go to that user.
        """
        suite = makeSuite(self, catch_all="bob")
        _, delivery, _ = self.successResultOf(suite.portal.anonymousDelivery())
        self.assertEqual(delivery.resolve("whoever@example.test"), ("bob",))

    def test_twistedMessageContract(self) -> None:
        """
        C{validateTo} returns a factory of Twisted C{IMessage}s that deliver
        line by line into the store.
        """
        _, delivery, _ = self.successResultOf(self.portal.anonymousDelivery())
        message = delivery.validateTo(b"bob@example.test")()
        verifyObject(IMessage, message)
        message.lineReceived(b"Subject: x")
        message.lineReceived(b"")
        message.lineReceived(b"body")
        self.successResultOf(message.eomReceived())
        [stored] = self.successResultOf(self.suite.store.listMessages("bob"))
        with maildirOf(self.suite).openStored("bob", stored.uid) as f:
            self.assertEqual(f.read(), b"Subject: x\n\nbody\n")

    def test_receivedHeader(self) -> None:
        """
        The Received: field names the client, notes TLS and AUTH.
        """
        _, delivery, _ = self.login(IMessageDelivery)
        header = delivery.receivedHeader((b"client.test", b"192.0.2.1"), b"a@b", [b"bob@example.test"],
                                         tls="TLSv1.3")
        self.assertTrue(header.startswith(b"Received: from client.test ([192.0.2.1])"))
        self.assertIn(b"with ESMTPSA", header)
        self.assertIn(b"authenticated as alice", header)

    def test_chatOfflineMail(self) -> None:
        """
        A chat user's offline message becomes a mail from chat@hostname.
        """
        _, chatUser, _ = self.login(IChatUser, "bob", "hunter2")
        self.successResultOf(chatUser.sendOfflineMessage("alice", "see you at 5"))
        [stored] = self.successResultOf(self.suite.store.listMessages("bob"))
        with maildirOf(self.suite).openStored("bob", stored.uid) as f:
            text = f.read()
        self.assertIn(b"<chat@mx.example.test>", text)
        self.assertIn(b"see you at 5", text)

    def test_apopOffered(self) -> None:
        """
        APOP is offered only where a stored password allows it.
        """
        self.assertTrue(self.portal.allowsAPOP("alice"))    # the fake stores PLAIN
        self.assertFalse(self.portal.allowsAPOP("nobody"))
