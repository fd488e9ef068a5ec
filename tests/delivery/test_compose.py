# -*- test-case-name: tests.delivery.test_compose -*-
"""
Tests for L{twisted_mail_suite.delivery.compose}: the chat's offline mail,
built and delivered through the one target.
"""
from __future__ import annotations

from email import message_from_bytes, policy
from email.message import EmailMessage

from twisted.trial.unittest import SynchronousTestCase

from twisted_mail_suite.config import configFromDict
from twisted_mail_suite.delivery.compose import ComposedMessage, chatMail, deliverChatMail, deliverComposed
from twisted_mail_suite.delivery.router import LocalRoute, RemoteRoute
from twisted_mail_suite.delivery.target import DeliveryTarget
from twisted_mail_suite.errors import RelayUnavailable

from .support import RecordingStore

CONFIG = configFromDict({"hostname": "mx.example.test", "domains": ["example.test"]}, "test.yaml")


class ChatMailTests(SynchronousTestCase):
    def test_headers(self) -> None:
        """
        The chat mail comes from C{chat@<hostname>} on the sender's behalf,
        to the user at the first domain, with a Subject naming the sender.
        """
        message = message_from_bytes(chatMail(CONFIG, "carol", "bob", "see you at 5").data)
        self.assertEqual((message["From"], message["To"], message["Subject"]),
                         ("carol via chat <chat@mx.example.test>", "bob@example.test",
                          "Chat message from carol"))
        self.assertIn("@mx.example.test>", message["Message-ID"])

    def test_wireForm(self) -> None:
        """
        The message uses CRLF line ends and carries the text.
        """
        data = chatMail(CONFIG, "carol", "bob", "see you at 5").data
        self.assertEqual(data.count(b"\n"), data.count(b"\r\n"))
        self.assertIn(b"\r\n\r\nsee you at 5\r\n", data)

    def test_envelope(self) -> None:
        """
        The envelope sender is C{chat@<hostname>} and the subject is the header's.
        """
        composed = chatMail(CONFIG, "carol", "bob", "hi")
        self.assertEqual((composed.sender, composed.subject), ("chat@mx.example.test", "Chat message from carol"))


class ChatMailQuotingTests(SynchronousTestCase):
    """
    The sender's name is the display name of the one C{From:} address,
    whatever it holds.
    """

    def parsed(self, sender: str) -> EmailMessage:
        message = message_from_bytes(chatMail(CONFIG, sender, "bob", "hi").data, policy=policy.default)
        assert isinstance(message, EmailMessage)
        return message

    def test_specialsQuoted(self) -> None:
        """
        Quotes, angle brackets, commas and at signs in the name stay in
        the display name: the header still holds one address, C{chat@<hostname>}.
        """
        for sender in ('x" <evil@evil.test>, "y', "ann,bob <b@c>", "a\\\"b", "eve@evil.test", "(x)"):
            [address] = self.parsed(sender)["From"].addresses
            self.assertEqual((address.display_name, address.addr_spec),
                             (f"{sender} via chat", "chat@mx.example.test"), sender)

    def test_encodedWordNotDecoded(self) -> None:
        """
        A name that looks like an RFC 2047 encoded word is not decoded by
        the reader into other text (here an address), in From or Subject.
        """
        message = self.parsed("=?utf-8?q?admin=40example.test?=")
        [address] = message["From"].addresses
        self.assertNotIn("admin@example.test", address.display_name)
        self.assertNotIn("admin@example.test", str(message["Subject"]))
        self.assertEqual(address.addr_spec, "chat@mx.example.test")

    def test_nonAscii(self) -> None:
        """
        A name beyond ASCII is encoded and comes back as it was.
        """
        [address] = self.parsed("zoë")["From"].addresses
        self.assertEqual(address.display_name, "zoë via chat")


class DeliverTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.store = RecordingStore()
        self.target = DeliveryTarget(self.store)

    def test_chatMailDelivered(self) -> None:
        """
        A chat mail is one delivery to the recipient, from C{chat@<hostname>},
        committed with the text.
        """
        uids = self.successResultOf(deliverChatMail(CONFIG, self.target, "carol", "bob", "see you at 5"))
        [stored] = self.store.deliveries
        self.assertEqual((uids, stored.users, stored.sender, stored.subject, stored.state),
                         (["uid-bob"], ["bob"], "chat@mx.example.test", "Chat message from carol", "committed"))
        self.assertIn(b"see you at 5", stored.data)

    def test_writeFailureAborts(self) -> None:
        """
        If the text cannot be written, the delivery is aborted and the Deferred fails.
        """
        self.store.failWrite = OSError("disk")
        self.failureResultOf(deliverChatMail(CONFIG, self.target, "carol", "bob", "x"), OSError)
        self.assertEqual(self.store.deliveries[0].state, "aborted")

    def test_remoteRouteFails(self) -> None:
        """
        A remote route fails the Deferred (no relay) and nothing is stored.
        """
        message = ComposedMessage("a@b.test", "s", b"x\r\n")
        self.failureResultOf(deliverComposed(self.target, message, [RemoteRoute("x@elsewhere.test")]),
                             RelayUnavailable)
        self.assertEqual(self.store.deliveries, [])

    def test_severalRoutes(self) -> None:
        """
        A composed message goes to every route in one delivery.
        """
        message = ComposedMessage("a@b.test", "s", b"x\r\n")
        uids = self.successResultOf(deliverComposed(self.target, message, [LocalRoute(("alice",)),
                                                                            LocalRoute(("bob",))]))
        self.assertEqual((uids, len(self.store.deliveries)), (["uid-alice", "uid-bob"], 1))
