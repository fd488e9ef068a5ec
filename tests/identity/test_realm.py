# -*- test-case-name: tests.identity.test_realm -*-
"""
Tests for the one realm and portal: every protocol's avatar, one password
for all, the maildrop lock, and the realm as a registry.
"""
from __future__ import annotations

import ast
import os
from typing import Callable

from twisted.cred.credentials import UsernamePassword
from twisted.cred.portal import IRealm
from twisted.internet.defer import succeed
from twisted.mail.pop3 import IMailbox
from twisted.mail.smtp import IMessage, IMessageDelivery
from twisted.trial.unittest import SynchronousTestCase
from zope.interface import Interface
from zope.interface.verify import verifyObject

from twisted_mail_suite.errors import MailboxInUse
from twisted_mail_suite.identity.realm import MailSuiteRealm
from twisted_mail_suite.interfaces import IChatUser
from twisted_mail_suite.smtp.delivery import RelayDenied, UnknownUser

from ..fakes import ROOT, maildirOf, makeSuite


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
        interface, avatar, logout = self.successResultOf(self.portal.loginAnonymous(IMessageDelivery))
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
        _, delivery, _ = self.successResultOf(self.portal.loginAnonymous(IMessageDelivery))
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
        _, delivery, _ = self.successResultOf(suite.portal.loginAnonymous(IMessageDelivery))
        self.assertEqual(delivery.resolve("whoever@example.test"), ("bob",))

    def test_twistedMessageContract(self) -> None:
        """
        C{validateTo} returns a factory of Twisted C{IMessage}s that deliver
        line by line into the store.
        """
        _, delivery, _ = self.successResultOf(self.portal.loginAnonymous(IMessageDelivery))
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

    def test_apopOffered(self) -> None:
        """
        APOP is offered only where a stored password allows it.
        """
        self.assertTrue(self.portal.checker.allowsHashedCredentials("alice"))    # the fake stores PLAIN
        self.assertFalse(self.portal.checker.allowsHashedCredentials("nobody"))
        self.assertTrue(self.portal.checker.anyAllowsHashedCredentials())


class IThing(Interface):
    """
    An avatar interface no protocol uses.
    """


class RegistryTests(SynchronousTestCase):
    """
    The realm is a registry: interface -> avatar factory.
    """

    def setUp(self) -> None:
        self.realm = MailSuiteRealm()
        self.made: list[object] = []

        def factory(avatarId: object) -> tuple[object, Callable[[], None]]:
            self.made.append(avatarId)
            return ("avatar", avatarId), lambda: None

        self.factory = factory

    def test_verifyObject(self) -> None:
        """
        The realm provides C{IRealm}.
        """
        self.assertTrue(verifyObject(IRealm, self.realm))

    def test_registeredFactory(self) -> None:
        """
        A registered factory makes the avatar for its interface from the
        avatar ID.
        """
        self.realm.register(IThing, self.factory)
        interface, avatar, logout = self.realm.requestAvatar("alice", None, IThing)
        self.assertEqual((interface, avatar), (IThing, ("avatar", "alice")))
        self.assertTrue(callable(logout))
        self.assertEqual(self.realm.registered(), [IThing])

    def test_unknownInterface(self) -> None:
        """
        An interface nobody registered has no avatar.
        """
        self.assertRaises(NotImplementedError, self.realm.requestAvatar, "alice", None, IThing)

    def test_twice(self) -> None:
        """
        A second factory for the same interface is refused.
        """
        self.realm.register(IThing, self.factory)
        self.assertRaises(ValueError, self.realm.register, IThing, self.factory)

    def test_anonymousOnlyWhenAllowed(self) -> None:
        """
        An anonymous login gets an avatar only from a factory registered
        with C{anonymous=True}, which is called with L{None}.
        """
        self.realm.register(IThing, self.factory)
        self.assertRaises(NotImplementedError, self.realm.requestAvatar, (), None, IThing)
        other = MailSuiteRealm()
        other.register(IThing, self.factory, anonymous=True)
        self.assertEqual(other.requestAvatar((), None, IThing)[1], ("avatar", None))
        self.assertEqual(self.made, [None])

    def test_asynchronousFactory(self) -> None:
        """
        A factory may answer with a Deferred of C{(avatar, logout)}.
        """
        logout = lambda: None  # noqa: E731
        self.realm.register(IThing, lambda avatarId: succeed(("later", logout)))
        self.assertEqual(self.successResultOf(self.realm.requestAvatar("alice", None, IThing)),
                         (IThing, "later", logout))



class LayeringTests(SynchronousTestCase):
    """
    What the identity package may import (until import-linter checks it).
    """

    def imports(self, name: str) -> set[str]:
        path = os.path.join(ROOT, "twisted_mail_suite", "identity", name + ".py")
        with open(path) as f:
            tree = ast.parse(f.read())
        found = set()
        for node in ast.walk(tree):     # function-level and TYPE_CHECKING imports included
            if isinstance(node, ast.Import):
                found.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom):
                if node.level == 0:
                    found.add(node.module or "")
                else:
                    package = ["twisted_mail_suite", "identity"][:3 - node.level]
                    found.add(".".join(package + ([node.module] if node.module else [])))
        return found

    def test_importsNoProtocol(self) -> None:
        """
        Each identity module imports, of ours, only the bottom layer, config
        and the identity package itself.
        """
        for name in MODULES:
            ours = {m for m in self.imports(name) if m.startswith("twisted_mail_suite")}
            self.assertEqual({m for m in ours if m not in ALLOWED and not m.startswith(
                "twisted_mail_suite.identity")}, set(), name)

    def test_saslWithoutReactor(self) -> None:
        """
        The SASL exchange imports nothing from C{twisted.internet}.
        """
        self.assertEqual({m for m in self.imports("sasl") if m.startswith("twisted")}, set())


MODULES = ("__init__", "hashing", "passwd", "policy", "realm", "sasl")
ALLOWED = {"twisted_mail_suite." + name for name in ("config", "errors", "events", "interfaces")}
