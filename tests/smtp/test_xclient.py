# -*- test-case-name: tests.smtp.test_xclient -*-
"""
XCLIENT (Postfix's extension, as nginx's mail proxy sends it) on our SMTP:
only from C{proxy.trusted} peers, then the session restarts as the real
client's.
"""
from __future__ import annotations

from twisted.trial.unittest import SynchronousTestCase

from twisted_mail_suite.errors import ProtocolError
from twisted_mail_suite.smtp.xclient import ClientFacts, parseXclient

from .helpers import Client, TLSStringTransport, newSuite, storedMessages

TRUSTED = {"proxy.trusted": ["127.0.0.0/8"]}
MESSAGE = b"MAIL FROM:<carol@remote.test>\r\nRCPT TO:<bob@example.test>\r\nDATA\r\nSubject: s\r\n\r\nhi\r\n.\r\n"


class ParseTests(SynchronousTestCase):
    def test_nginx(self) -> None:
        """
        nginx's line: ADDR, LOGIN (raw), NAME [UNAVAILABLE] (no resolver).
        """
        self.assertEqual(parseXclient(b"ADDR=192.0.2.7 LOGIN=alice NAME=[UNAVAILABLE]"),
                         ClientFacts(addr="192.0.2.7", login="alice"))

    def test_ipv6AndXtext(self) -> None:
        """
        C{IPV6:} prefixes an IPv6 address; values are xtext.
        """
        facts = parseXclient(b"ADDR=IPV6:2001:db8::1 HELO=a+2Bb.test name=host.test")
        self.assertEqual(facts, ClientFacts(addr="2001:db8::1", helo="a+b.test", name="host.test"))

    def test_bad(self) -> None:
        """
        An unknown attribute, a malformed address or nothing at all: 501.
        """
        for line in (b"COLOUR=red", b"ADDR=not-an-address", b"", b"ADDR"):
            with self.assertRaises(ProtocolError) as caught:
                parseXclient(line)
            self.assertEqual(caught.exception.code, b"501 5.5.4")


class XclientTests(SynchronousTestCase):
    def test_untrustedNotOffered(self) -> None:
        """
        A peer outside C{proxy.trusted} does not see XCLIENT in EHLO, and
        its XCLIENT is refused 550 5.7.0 (junk) and changes nothing.
        """
        suite = newSuite(self, **TRUSTED, **{"smtp.junk_command_limit": 1})
        client = Client(suite, transport=TLSStringTransport(host="192.0.2.50"))
        self.assertFalse(any(b"XCLIENT" in line for line in client.greet()))
        self.assertEqual(client.codes(b"XCLIENT ADDR=10.1.1.1\r\n"), [b"550 5.7.0"])
        self.assertEqual(client.protocol.peerHost, "192.0.2.50")
        self.assertEqual(client.codes(b"XCLIENT ADDR=10.1.1.1\r\n"), [b"421 4.7.0"])   # the junk limit

    def test_noTrustedNobody(self) -> None:
        """
        With no C{proxy.trusted} (the default), not even loopback may.
        """
        client = Client(newSuite(self))
        self.assertFalse(any(b"XCLIENT" in line for line in client.greet()))
        self.assertEqual(client.codes(b"XCLIENT ADDR=10.1.1.1\r\n"), [b"550 5.7.0"])

    def test_realClientInReceived(self) -> None:
        """
        From a trusted proxy, XCLIENT gets the greeting again and the
        session is the real client's: EHLO needed again, and Received names
        the address XCLIENT gave.
        """
        client = Client(newSuite(self, **TRUSTED))
        self.assertIn(b"250 XCLIENT ADDR NAME HELO PROTO LOGIN PORT DESTADDR DESTPORT", client.greet())
        self.assertEqual(client.codes(b"XCLIENT ADDR=192.0.2.7 NAME=[UNAVAILABLE]\r\n"), [b"220"])
        self.assertEqual(client.codes(b"MAIL FROM:<a@b.test>\r\n"), [b"503 5.5.1"])
        client.greet(b"real.client.test")
        self.assertEqual(client.codes(MESSAGE)[-1], b"250 2.0.0")
        stored = storedMessages(client.suite, "bob")[0]
        self.assertIn(b"from real.client.test ([192.0.2.7])", stored)
        self.assertNotIn(b"127.0.0.1", stored)

    def test_loginOnSubmission(self) -> None:
        """
        LOGIN= logs the session in as that user (nginx checked the
        password): submission takes MAIL without AUTH, and the sender must
        be the user's.
        """
        client = Client(newSuite(self, **TRUSTED), role="submission")
        client.greet()
        self.assertEqual(client.codes(b"XCLIENT ADDR=192.0.2.7 LOGIN=alice NAME=[UNAVAILABLE]\r\n"), [b"220"])
        client.greet(b"laptop")
        self.assertEqual(client.codes(b"MAIL FROM:<bob@example.test>\r\n"), [b"553 5.7.1"])
        codes = client.codes(b"MAIL FROM:<alice@example.test>\r\nRCPT TO:<bob@example.test>\r\n"
                             b"DATA\r\nSubject: s\r\n\r\nhi\r\n.\r\n")
        self.assertEqual(codes[-1], b"250 2.0.0")
        stored = storedMessages(client.suite, "bob")[0]
        self.assertIn(b"(authenticated as alice)", stored)
        self.assertIn(b"[192.0.2.7]", stored)

    def test_unknownLogin(self) -> None:
        """
        A LOGIN that is no user here is refused; the session is not
        logged in.
        """
        client = Client(newSuite(self, **TRUSTED), role="submission")
        client.greet()
        self.assertEqual(client.codes(b"XCLIENT LOGIN=mallory\r\n"), [b"550 5.7.8"])
        client.greet()
        self.assertEqual(client.codes(b"MAIL FROM:<alice@example.test>\r\n"), [b"530 5.7.0"])

    def test_notInTransaction(self) -> None:
        """
        Inside a mail transaction XCLIENT is a bad sequence.
        """
        client = Client(newSuite(self, **TRUSTED))
        client.greet()
        self.assertEqual(client.codes(b"MAIL FROM:<a@b.test>\r\nXCLIENT ADDR=192.0.2.7\r\n"),
                         [b"250 2.1.0", b"503 5.5.1"])
        self.assertEqual(client.protocol.peerHost, "127.0.0.1")

    def test_loginPolicySeesRealClient(self) -> None:
        """
        After XCLIENT, AUTH is judged for the real client's address: a
        far address may not send a password in the clear.
        """
        client = Client(newSuite(self, **TRUSTED))
        client.greet()
        client.codes(b"XCLIENT ADDR=192.0.2.7\r\n")
        lines = client.greet()
        self.assertFalse(any(b"AUTH" in line for line in lines))
        self.assertEqual(client.codes(b"AUTH PLAIN AGFsaWNlAHNlY3JldA==\r\n"), [b"538 5.7.11"])


class ProxiedTests(SynchronousTestCase):
    def test_trustedPeerGetsQuickAck(self) -> None:
        """
        A connection from a trusted proxy is built as the server that
        acknowledges every read at once; any other, the plain server.
        """
        from twisted.internet.address import IPv4Address

        from twisted_mail_suite.smtp.protocol import SMTPServer
        from twisted_mail_suite.smtp.proxied import ProxiedSMTPServer

        factory = newSuite(self, **TRUSTED).factories["smtp"]
        self.assertIsInstance(factory.buildProtocol(IPv4Address("TCP", "127.0.0.1", 1)), ProxiedSMTPServer)
        direct = factory.buildProtocol(IPv4Address("TCP", "192.0.2.1", 1))
        self.assertIs(type(direct), SMTPServer)
        self.assertIs(type(newSuite(self).factories["smtp"].buildProtocol(IPv4Address("TCP", "127.0.0.1", 1))),
                      SMTPServer)

    def test_proxiedStillServes(self) -> None:
        """
        The proxied server on a test transport (no socket) serves as the
        plain one does.
        """
        client = Client(newSuite(self, **TRUSTED))
        client.greet()
        self.assertEqual(client.codes(MESSAGE)[-1], b"250 2.0.0")
