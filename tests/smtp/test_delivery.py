# -*- test-case-name: tests.smtp.test_delivery -*-
"""
The delivery avatar and Twisted's contracts: our C{LocalDelivery}, and any
other C{IMessageDelivery} (line-at-a-time C{IMessage}s) plugged in unchanged
through the one adapter, so the protocol always speaks C{ISMTPDelivery}.
"""
from __future__ import annotations

from typing import Any

from twisted.internet.defer import Deferred, succeed
from twisted.mail.smtp import IMessage, IMessageDelivery, SMTPBadRcpt
from twisted.trial.unittest import SynchronousTestCase
from zope.interface import implementer
from zope.interface.verify import verifyObject

from twisted_mail_suite.delivery import DeliveryTarget, LocalRoute
from twisted_mail_suite.errors import DeliveryFailed
from twisted_mail_suite.interfaces import IPendingDelivery
from twisted_mail_suite.smtp.adapter import (MessageDeliveryAdapter, MessagesDelivery, smtpDelivery, twistedAddress,
                                             twistedUser)
from twisted_mail_suite.smtp.delivery import ISMTPDelivery, LocalDelivery, RelayDenied, UnknownUser

from .helpers import Client, newSuite


@implementer(IMessage)
class RecordingMessage:
    def __init__(self, result: Any = "ok") -> None:
        self.lines: list[bytes] = []
        self.result = result
        self.lost = False

    def lineReceived(self, line: bytes) -> None:
        self.lines.append(line)

    def eomReceived(self) -> Any:
        return self.result

    def connectionLost(self) -> None:
        self.lost = True


@implementer(IMessageDelivery)
class ForeignDelivery:
    """
    An embedder's avatar: RCPT answers later, messages are kept in memory.
    """

    def __init__(self) -> None:
        self.messages: list[RecordingMessage] = []
        self.pendingRecipients: list[tuple[Deferred, Any]] = []

    def receivedHeader(self, helo: Any, origin: Any, recipients: Any) -> bytes:
        return b"Received: from " + helo[0] + b" for " + bytes(recipients[0].dest)

    def validateFrom(self, helo: Any, origin: Any) -> Any:
        return origin

    def validateTo(self, user: Any) -> Deferred:
        d: Deferred = Deferred()
        self.pendingRecipients.append((d, user))
        return d

    def makeMessage(self) -> RecordingMessage:
        message = RecordingMessage()
        self.messages.append(message)
        return message


class LocalDeliveryTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.suite = newSuite(self, aliases={"sales": ["alice", "bob"]}, catch_all=None)
        self.avatar = LocalDelivery(self.suite.config, self.suite.store, self.suite.users, None)

    def test_interface(self) -> None:
        """
        The avatar provides C{IMessageDelivery}.
        """
        verifyObject(IMessageDelivery, self.avatar)

    def test_oneTargetForAllAvatars(self) -> None:
        """
        The avatars the realm hands out share one delivery target; every
        anonymous (MX) session gets the same avatar, which keeps nothing of
        a session, a user their own.
        """
        portal = self.suite.portal
        first = self.successResultOf(portal.loginAnonymous(IMessageDelivery))[1]
        second = self.successResultOf(portal.loginAnonymous(IMessageDelivery))[1]
        self.assertIs(first, second)
        user = portal.realm.requestAvatar("alice", None, IMessageDelivery)[1]
        self.assertEqual(user.user, "alice")
        self.assertIsNot(user, first)
        self.assertIs(first._target, user._target)

    def test_resolve(self) -> None:
        """
        Users, aliases and subaddresses resolve; foreign and unknown addresses raise.
        """
        self.assertEqual(self.avatar.resolve("Alice@Example.Test"), ("alice",))
        self.assertEqual(self.avatar.resolve("sales@example.test"), ("alice", "bob"))
        self.assertEqual(self.avatar.resolve("alice+news@example.test"), ("alice",))
        self.assertRaises(RelayDenied, self.avatar.resolve, "alice@elsewhere.test")
        self.assertRaises(UnknownUser, self.avatar.resolve, "carol@example.test")

    def test_validateToGivesUsers(self) -> None:
        """
        C{validateTo} with a Twisted C{User} names the local users.
        """
        recipient = self.avatar.validateTo(twistedUser(b"sales@example.test", (b"h", b"1.2.3.4"), None, b""))
        self.assertEqual(recipient.users, ("alice", "bob"))

    def test_smtpInterface(self) -> None:
        """
        The avatar provides C{ISMTPDelivery} itself: the protocol uses it unwrapped.
        """
        verifyObject(ISMTPDelivery, self.avatar)
        self.assertIs(smtpDelivery(self.avatar, None), self.avatar)

    def test_checkRecipientRoutes(self) -> None:
        """
        C{checkRecipient} gives the local route; foreign and unknown addresses raise.
        """
        helo = (b"h", b"1.2.3.4")
        self.assertEqual(self.avatar.checkRecipient(helo, b"", b"Sales@example.test"), LocalRoute(("alice", "bob")))
        self.assertRaises(RelayDenied, self.avatar.checkRecipient, helo, b"", b"a@elsewhere.test")
        self.assertRaises(UnknownUser, self.avatar.checkRecipient, helo, b"", b"carol@example.test")

    def test_beginMessageOneTransaction(self) -> None:
        """
        C{beginMessage} starts one delivery on the given target for all
        accepted routes, with the sender and subject.
        """
        target = DeliveryTarget(self.suite.store)
        delivery = self.avatar.beginMessage(target, b"a@b.test", [LocalRoute(("alice",)), LocalRoute(("bob",))], "s")
        self.assertEqual((delivery.users, delivery.sender, delivery.subject), (("alice", "bob"), "a@b.test", "s"))
        delivery.abort()

    def test_receivedField(self) -> None:
        """
        C{receivedField} is C{receivedHeader} told about TLS and the protocol.
        """
        field = self.avatar.receivedField((b"h.test", b"1.2.3.4"), b"a@b.test", [b"alice@example.test"],
                                          "TLSv1.3", "UTF8SMTP")
        self.assertIn(b"with UTF8SMTPS", field)
        self.assertIn(b"(using TLSv1.3)", field)

    def test_receivedFromValidName(self) -> None:
        """
        A domain (or address literal) given at EHLO stands in the
        C{from} clause, the client's address in the comment.
        """
        field = self.avatar.receivedHeader((b"mail.example.org", b"192.0.2.7"), b"a@b.test", [b"alice@example.test"])
        self.assertTrue(field.startswith(b"Received: from mail.example.org ([192.0.2.7])\r\n\tby "), field)

    def test_receivedFromInvalidName(self) -> None:
        """
        Any other EHLO name cannot fake trace text: the C{from} clause is
        the client's address literal and the name, neutered to one token
        without comment or clause delimiters, follows it in the comment.
        """
        fake = b"x\t(authenticated\tas\tadmin)\twith\tESMTPSA;\tby\tevil"
        for peer, literal in [(b"192.0.2.7", b"[192.0.2.7]"), (b"2001:db8::7", b"[IPv6:2001:db8::7]")]:
            field = self.avatar.receivedHeader((fake, peer), b"a@b.test", [b"alice@example.test"])
            first = field.split(b"\r\n")[0]
            self.assertEqual(first, b"Received: from " + literal + b" ([" + peer
                             + b"] helo=x??authenticated?as?admin??with?ESMTPSA??by?evil)")
            self.assertNotIn(b"(authenticated", field)
            self.assertNotIn(b"ESMTPSA", field.replace(b"?with?ESMTPSA?", b""))
            self.assertEqual(field.count(b";"), 1)

    def test_receivedKeptPerSession(self) -> None:
        """
        The session's clauses are built once and reused while the EHLO
        name, peer, TLS and protocol stay the same; the C{for} clause is
        each message's own, and a new EHLO name makes a new field.
        """
        helo = (b"mail.example.org", b"192.0.2.7")
        first = self.avatar.receivedHeader(helo, b"a@b.test", [b"alice@example.test"])
        second = self.avatar.receivedHeader(helo, b"a@b.test", [b"bob@example.test"])
        self.assertEqual(first.split(b"\r\n\tfor")[0], second.split(b"\r\n\tfor")[0])
        self.assertIn(b"for <bob@example.test>", second)
        self.assertNotIn(b"for <", self.avatar.receivedHeader(helo, b"a@b.test", []))
        other = self.avatar.receivedHeader((b"other.example.org", b"192.0.2.7"), b"a@b.test", [])
        self.assertTrue(other.startswith(b"Received: from other.example.org ([192.0.2.7])"), other)
        withTLS = self.avatar.receivedField((b"other.example.org", b"192.0.2.7"), b"a@b.test", [], "TLS", "ESMTP")
        self.assertIn(b"(using TLS)", withTLS)

    def test_receivedFromEightBit(self) -> None:
        """
        8-bit and control octets of the EHLO name never reach the field.
        """
        field = self.avatar.receivedHeader((b"h\xc3\xa9\x01.test", b"192.0.2.7"), b"", [])
        self.assertIn(b"helo=h???.test)", field)
        self.assertTrue(field.isascii())

    def test_twistedAddress(self) -> None:
        """
        Addresses Twisted's own parser refuses still make a C{User}.
        """
        address = twistedAddress("jörg@exämple.test".encode())
        self.assertEqual((address.local, address.domain), ("jörg".encode(), "exämple.test".encode()))
        self.assertEqual(twistedAddress(b"postmaster").domain, b"")


class MessagesDeliveryTests(SynchronousTestCase):
    def test_interface(self) -> None:
        """
        The adapter provides L{IPendingDelivery}.
        """
        verifyObject(IPendingDelivery, MessagesDelivery([]))

    def test_linesAcrossWrites(self) -> None:
        """
        Text is split into lines for every message, whatever the write boundaries.
        """
        first, second = RecordingMessage(), RecordingMessage()
        delivery = MessagesDelivery([first, second])
        delivery.write(b"a\r\nb")
        delivery.write(b"c\r\n\r\nd")
        self.assertEqual(self.successResultOf(delivery.commit()), ["ok", "ok"])
        self.assertEqual(first.lines, [b"a", b"bc", b"", b"d"])
        self.assertEqual(second.lines, first.lines)

    def test_failure(self) -> None:
        """
        If one message fails, commit fails with L{DeliveryFailed} and all are told.
        """
        from twisted.internet.defer import fail

        first, second = RecordingMessage(), RecordingMessage(fail(OSError("no")))
        delivery = MessagesDelivery([first, second])
        self.failureResultOf(delivery.commit(), DeliveryFailed)
        self.assertTrue(first.lost and second.lost)

    def test_abort(self) -> None:
        """
        Abort tells every message the connection was lost.
        """
        message = RecordingMessage()
        MessagesDelivery([message]).abort()
        self.assertTrue(message.lost)


@implementer(IMessageDelivery)
class KeywordDelivery(ForeignDelivery):
    """
    An avatar whose C{receivedHeader} takes our extra keywords.
    """

    def receivedHeader(self, helo: Any, origin: Any, recipients: Any, **options: Any) -> bytes:
        return b"Received: " + repr(sorted(options.items())).encode()


class AdapterTests(SynchronousTestCase):
    helo = (b"client.test", b"192.0.2.1")

    def test_wraps(self) -> None:
        """
        Any other C{IMessageDelivery} is wrapped in the adapter, which provides C{ISMTPDelivery}.
        """
        adapter = smtpDelivery(ForeignDelivery(), None)
        self.assertIsInstance(adapter, MessageDeliveryAdapter)
        verifyObject(ISMTPDelivery, adapter)

    def test_twistedUser(self) -> None:
        """
        C{validateTo} gets a Twisted C{User} naming the address, sender, HELO and protocol.
        """
        avatar, protocol = ForeignDelivery(), object()
        smtpDelivery(avatar, protocol).checkRecipient(self.helo, b"a@b.test", b"x@y.test")
        [(d, user)] = avatar.pendingRecipients
        self.assertEqual((bytes(user.dest), bytes(user.orig), user.helo), (b"x@y.test", b"a@b.test", self.helo))
        self.assertIs(user.protocol, protocol)

    def test_twistedReceivedHeader(self) -> None:
        """
        An avatar with Twisted's three-argument C{receivedHeader} is called with exactly those.
        """
        field = smtpDelivery(ForeignDelivery(), None).receivedField(self.helo, b"a@b.test", [b"x@y.test"],
                                                                    "TLS", "ESMTP")
        self.assertEqual(field, b"Received: from client.test for x@y.test")

    def test_traceKeywords(self) -> None:
        """
        An avatar whose C{receivedHeader} takes keywords is told about TLS and the protocol.
        """
        field = smtpDelivery(KeywordDelivery(), None).receivedField(self.helo, b"a@b.test", [b"x@y.test"],
                                                                    "TLS", "ESMTP")
        self.assertEqual(field, b"Received: [('protocol', 'ESMTP'), ('tls', 'TLS')]")

    def test_beginMessage(self) -> None:
        """
        The message goes to the C{IMessage}s of the accepted recipients, not the target.
        """
        avatar = ForeignDelivery()
        delivery = smtpDelivery(avatar, None).beginMessage(None, b"", [avatar.makeMessage, avatar.makeMessage], "")
        delivery.write(b"a\r\n")
        self.assertEqual(self.successResultOf(delivery.commit()), ["ok", "ok"])
        self.assertEqual([m.lines for m in avatar.messages], [[b"a"], [b"a"]])


class ForeignAvatarTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.suite = newSuite(self)
        self.avatar = ForeignDelivery()
        self.suite.portal.loginAnonymous = lambda interface: succeed((IMessageDelivery, self.avatar, lambda: None))
        self.client = Client(self.suite)
        self.client.greet()

    def test_asynchronousRecipient(self) -> None:
        """
        An avatar whose C{validateTo} answers later gets its C{IMessage}s
        fed line by line; replies stay in order meanwhile.
        """
        lines = self.client.send(b"MAIL FROM:<a@b.test>\r\nRCPT TO:<x@anywhere.test>\r\nDATA\r\n"
                                 b"Subject: hi\r\n\r\n..dot\r\n.\r\n")
        self.assertEqual(len(lines), 1)
        d, user = self.avatar.pendingRecipients.pop()
        self.assertEqual(bytes(user.dest), b"x@anywhere.test")
        d.callback(self.avatar.makeMessage)
        codes = [line[:3] for line in self.client.replies()]
        self.assertEqual(codes, [b"250", b"354", b"250"])
        [message] = self.avatar.messages
        self.assertEqual(message.lines, [b"Return-Path: <a@b.test>",
                                         b"Received: from client.test for x@anywhere.test",
                                         b"Subject: hi", b"", b".dot"])

    def test_refusedRecipient(self) -> None:
        """
        Twisted's C{SMTPBadRcpt} becomes 550 5.1.1.
        """
        self.client.send(b"MAIL FROM:<a@b.test>\r\nRCPT TO:<x@anywhere.test>\r\n")
        d, user = self.avatar.pendingRecipients.pop()
        d.errback(SMTPBadRcpt(user))
        self.assertEqual(self.client.codes(b""), [b"550 5.1.1"])
