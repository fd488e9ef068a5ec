# -*- test-case-name: tests.relay.test_client -*-
"""
Tests for L{twisted_mail_suite.relay.client}: the client connection over
a C{StringTransport} and a C{task.Clock} (the server's replies typed in
by the test), and the measurement of Twisted's own client that made us
write it.
"""
from __future__ import annotations

import base64
from io import BytesIO

from twisted.internet.defer import Deferred
from twisted.internet.task import Clock
from twisted.internet.testing import StringTransport
from twisted.mail.smtp import ESMTPSenderFactory
from twisted.trial.unittest import SynchronousTestCase

from twisted_mail_suite.relay.client import ClientError, SMTPClient, Timeouts, handshake, sendMessage
from twisted_mail_suite.relay.entry import DEFERRED, FAILED, SENT
from twisted_mail_suite.relay.session import Transaction

EHLO = b"250-mx.test\r\n250-PIPELINING\r\n250-SIZE 1000\r\n250-8BITMIME\r\n250 AUTH LOGIN\r\n"


class Connection:
    def __init__(self, testCase: SynchronousTestCase) -> None:
        self.testCase = testCase
        self.clock = Clock()
        self.transport = StringTransport()
        self.client = SMTPClient(self.clock, Timeouts(), "mx.test[127.0.0.1]:25")
        self.client.makeConnection(self.transport)

    def sent(self) -> list[bytes]:
        data = self.transport.value()
        self.transport.clear()
        return data.split(b"\r\n")[:-1]

    def reply(self, data: bytes) -> None:
        self.client.dataReceived(data)

    def ready(self, ehlo: bytes = EHLO, credentials: tuple[str, str] | None = None) -> Deferred:
        d = handshake(self.client, b"us.test", credentials=credentials)
        self.reply(b"220 mx.test ESMTP\r\n")
        self.testCase.assertEqual(self.sent(), [b"EHLO us.test"])
        self.reply(ehlo)
        return d


def transaction(*recipients: str) -> Transaction:
    return Transaction("s@us.test", list(recipients or ("a@x.test", "b@x.test")), "mx.test[127.0.0.1]:25")


class HandshakeTests(SynchronousTestCase):
    def test_ehloCapabilities(self) -> None:
        """
        The handshake reads the EHLO capabilities.
        """
        c = Connection(self)
        caps = self.successResultOf(c.ready())
        self.assertEqual(caps.sizeLimit, 1000)

    def test_heloFallback(self) -> None:
        """
        A server refusing EHLO gets HELO.
        """
        c = Connection(self)
        d = handshake(c.client, b"us.test")
        c.reply(b"220 old.test\r\n")
        c.sent()
        c.reply(b"502 what\r\n")
        self.assertEqual(c.sent(), [b"HELO us.test"])
        c.reply(b"250 old.test\r\n")
        self.assertFalse(self.successResultOf(d).has(b"PIPELINING"))

    def test_authLogin(self) -> None:
        """
        AUTH LOGIN when PLAIN is not offered.
        """
        c = Connection(self)
        d = c.ready(credentials=("user", "pass"))
        self.assertEqual(c.sent(), [b"AUTH LOGIN"])
        c.reply(b"334 VXNlcm5hbWU6\r\n")
        self.assertEqual(c.sent(), [base64.b64encode(b"user")])
        c.reply(b"334 UGFzc3dvcmQ6\r\n")
        self.assertEqual(c.sent(), [base64.b64encode(b"pass")])
        c.reply(b"535 5.7.8 bad\r\n")
        self.assertIn("535", self.failureResultOf(d, ClientError).value.reason)

    def test_requiredTLSMissing(self) -> None:
        """
        Required STARTTLS not offered fails the connection, temporarily.
        """
        c = Connection(self)
        d = handshake(c.client, b"us.test", tlsOptions=object(), requireTLS=True)
        c.reply(b"220 mx\r\n")
        c.reply(EHLO)
        error = self.failureResultOf(d, ClientError).value
        self.assertFalse(error.permanent)
        self.assertIn("STARTTLS", error.reason)

    def test_greetingTimeout(self) -> None:
        """
        No greeting within the RFC 5321 time: the connection is aborted.
        """
        c = Connection(self)
        d = handshake(c.client, b"us.test")
        c.clock.advance(Timeouts().greeting)
        self.assertIn("timed out", self.failureResultOf(d, ClientError).value.reason)
        self.assertTrue(c.transport.disconnecting or c.transport.disconnected)

    def test_garbage(self) -> None:
        """
        Garbage instead of a reply fails the connection.
        """
        c = Connection(self)
        d = handshake(c.client, b"us.test")
        c.reply(b"HTTP/1.1 400 Bad Request\r\n")
        self.assertIn("protocol error", self.failureResultOf(d, ClientError).value.reason)


class SendTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.c = Connection(self)
        self.successResultOf(self.c.ready())

    def text(self) -> object:
        return lambda: iter([b"Subject: x\r\n\r\n", b".dot\r\n"])

    def test_pipelined(self) -> None:
        """
        With PIPELINING, MAIL, every RCPT and DATA go in one write; the text is dot-stuffed.
        """
        t = transaction()
        d = sendMessage(self.c.client, t, 20, self.text())
        self.assertEqual(self.c.transport.value().count(b"\r\n"), 4)
        self.assertEqual(self.c.sent(), [b"MAIL FROM:<s@us.test> SIZE=20", b"RCPT TO:<a@x.test>",
                                         b"RCPT TO:<b@x.test>", b"DATA"])
        self.c.reply(b"250 ok\r\n250 ok\r\n550 5.1.1 no\r\n354 go\r\n")
        self.assertEqual(self.c.sent(), [b"Subject: x", b"", b"..dot", b"."])
        self.c.reply(b"250 2.0.0 queued\r\n")
        self.successResultOf(d)
        self.assertEqual([(o.address, o.status) for o in t.outcomes()], [("a@x.test", SENT), ("b@x.test", FAILED)])

    def test_tooManyRecipientsNextTransaction(self) -> None:
        """
        Recipients refused with 452 after an accepted one go in a second
        transaction on the same connection, right after the first.
        """
        t = transaction("a@x.test", "b@x.test", "c@x.test")
        d = sendMessage(self.c.client, t, 20, self.text())
        self.c.sent()
        self.c.reply(b"250 ok\r\n250 ok\r\n452 4.5.3 too many recipients\r\n"
                     b"452 4.5.3 too many recipients\r\n354 go\r\n")
        self.c.sent()
        self.c.reply(b"250 2.0.0 first\r\n")
        self.assertNoResult(d)
        self.assertEqual(self.c.sent(), [b"MAIL FROM:<s@us.test> SIZE=20", b"RCPT TO:<b@x.test>",
                                         b"RCPT TO:<c@x.test>", b"DATA"])
        self.c.reply(b"250 ok\r\n250 ok\r\n250 ok\r\n354 go\r\n")
        self.assertEqual(self.c.sent(), [b"Subject: x", b"", b"..dot", b"."])
        self.c.reply(b"250 2.0.0 second\r\n")
        self.successResultOf(d)
        self.assertEqual([(o.address, o.status, o.reply) for o in t.outcomes()],
                         [("a@x.test", SENT, "250 2.0.0 first"), ("b@x.test", SENT, "250 2.0.0 second"),
                          ("c@x.test", SENT, "250 2.0.0 second")])

    def test_reuseSendsRSET(self) -> None:
        """
        A second message on the connection after a failed one starts with RSET.
        """
        t = transaction("a@x.test")
        d = sendMessage(self.c.client, t, 20, self.text())
        self.c.sent()
        self.c.reply(b"250 ok\r\n550 no\r\n554 no valid recipients\r\n")
        self.successResultOf(d)
        self.assertTrue(self.c.client.usable)
        d = sendMessage(self.c.client, transaction("b@x.test"), 20, self.text())
        self.assertEqual(self.c.sent(), [b"RSET"])
        self.c.reply(b"250 ok\r\n")
        self.assertEqual(self.c.sent()[0], b"MAIL FROM:<s@us.test> SIZE=20")

    def test_tooBig(self) -> None:
        """
        A message over the server's SIZE fails without a command (552 5.3.4).
        """
        t = transaction()
        self.successResultOf(sendMessage(self.c.client, t, 5000, self.text()))
        self.assertEqual(self.c.sent(), [])
        self.assertTrue(all(o.status == FAILED and "5.3.4" in o.reply for o in t.outcomes()))

    def test_smtputf8Missing(self) -> None:
        """
        A message needing SMTPUTF8 to a server without it fails (5.6.7, RFC 6531).
        """
        t = transaction()
        self.successResultOf(sendMessage(self.c.client, t, 20, self.text(), utf8=True))
        self.assertTrue(all("5.6.7" in o.reply for o in t.outcomes()))

    def test_dataTimeout(self) -> None:
        """
        No reply to the final dot within 10 minutes: the recipients are deferred by the caller.
        """
        t = transaction("a@x.test")
        d = sendMessage(self.c.client, t, 20, self.text())
        self.c.reply(b"250 ok\r\n250 ok\r\n354 go\r\n")
        self.c.clock.advance(Timeouts().dataEnd - 1)
        self.assertNoResult(d)
        self.c.clock.advance(1)
        self.failureResultOf(d, ClientError)
        t.interrupted("timeout")
        self.assertEqual(t.outcomes()[0].status, DEFERRED)
        self.assertFalse(self.c.client.usable)

    def test_lostMidData(self) -> None:
        """
        A connection lost while the text is sent fails with L{ClientError}.
        """
        d = sendMessage(self.c.client, transaction("a@x.test"), 20, lambda: iter([b"a\r\n"] * 3))
        self.c.client.pauseProducing()
        self.c.reply(b"250 ok\r\n250 ok\r\n354 go\r\n")
        self.c.client.connectionLost(None)
        self.failureResultOf(d, ClientError)

    def test_flowControl(self) -> None:
        """
        The text is produced only while the transport wants more: paused after a write, resumed later.
        """
        client, transport = self.c.client, self.c.transport
        sendMessage(client, transaction("a@x.test"), 20, lambda: iter([b"a\r\n", b"b\r\n", b"c\r\n"]))
        self.c.sent()
        write = transport.write

        def writeThenPause(data: bytes) -> None:
            write(data)
            if transport.producer is not None:
                transport.producer.pauseProducing()

        transport.write = writeThenPause  # type: ignore[method-assign]
        self.c.reply(b"250 ok\r\n250 ok\r\n354 go\r\n")
        self.assertEqual((self.c.sent(), transport.producer), ([b"a"], client))
        client.resumeProducing()
        self.assertEqual(self.c.sent(), [b"b"])
        client.resumeProducing()
        client.resumeProducing()
        client.resumeProducing()
        self.assertEqual((self.c.sent(), transport.producer), ([b"c", b"."], None))


class TwistedClientTests(SynchronousTestCase):
    """
    The measurement behind writing our own client: what Twisted's
    C{ESMTPSenderFactory} sends to a server offering PIPELINING, SIZE and
    8BITMIME.
    """

    def test_noPipeliningNoParameters(self) -> None:
        """
        Twisted's client waits for each reply (no pipelining) and declares neither SIZE nor BODY.
        """
        d: Deferred = Deferred()
        factory = ESMTPSenderFactory(None, None, "s@us.test", ["a@x.test", "b@x.test"],
                                     BytesIO(b"Subject: x\r\n\r\n\xc3\xa9\r\n"), d, requireAuthentication=False,
                                     requireTransportSecurity=False)
        protocol = factory.buildProtocol(None)
        transport = StringTransport()
        protocol.makeConnection(transport)
        protocol.dataReceived(b"220 mx.test ESMTP\r\n")
        transport.clear()
        protocol.dataReceived(b"250-mx.test\r\n250-PIPELINING\r\n250-SIZE 1000\r\n250 8BITMIME\r\n")
        self.assertEqual(transport.value(), b"MAIL FROM:<s@us.test>\r\n")      # no SIZE=, no BODY=
        transport.clear()
        protocol.dataReceived(b"250 ok\r\n")
        self.assertEqual(transport.value(), b"RCPT TO:<a@x.test>\r\n")         # one round trip per command
