# -*- test-case-name: tests.smtp.test_protocol -*-
"""
The SMTP server over a C{StringTransport}: commands, replies, sequencing
and delivery into the Maildir store.
"""
from __future__ import annotations

from twisted.internet.address import IPv4Address
from twisted.trial.unittest import SynchronousTestCase

from twisted_mail_suite.events import NewMailEvent
from twisted_mail_suite.smtp.factory import SMTPFactory, makeFactory

from ..fakes import maildirOf
from .helpers import Client, TLSStringTransport, newSuite, storedMessages, tmpFiles

BODY = (b"From: Bob <bob@example.test>\r\nTo: alice@example.test\r\nSubject: Lunch?\r\n\r\n"
        b"Hello.\r\n..a line with a dot\r\n\r\nBye.\r\n")
STORED_BODY = BODY.replace(b"\r\n..", b"\r\n.").replace(b"\r\n", b"\n")


def transaction(sender: bytes = b"bob@example.test", recipients: tuple[bytes, ...] = (b"alice@example.test",),
                body: bytes = BODY) -> bytes:
    data = b"MAIL FROM:<" + sender + b">\r\n"
    for recipient in recipients:
        data += b"RCPT TO:<" + recipient + b">\r\n"
    return data + b"DATA\r\n" + body + b".\r\n"


class GreetingTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.suite = newSuite(self)

    def test_greeting(self) -> None:
        """
        The server greets with 220 and its hostname.
        """
        client = Client(self.suite)
        self.assertEqual(client.replies(), [b"220 mx.example.test ESMTP twisted-mail-suite ready"])

    def test_noDelay(self) -> None:
        """
        TCP_NODELAY is set on the accepted connection.
        """
        client = Client(self.suite)
        self.assertTrue(client.transport.noDelay)

    def test_ehloExtensions(self) -> None:
        """
        EHLO lists every extension the server honours.
        """
        lines = Client(self.suite).greet()
        self.assertEqual(lines, [b"250-mx.example.test greets client.test", b"250-PIPELINING",
                                 b"250-SIZE 26214400", b"250-8BITMIME", b"250-ENHANCEDSTATUSCODES",
                                 b"250-SMTPUTF8", b"250-STARTTLS", b"250 AUTH PLAIN LOGIN"])

    def test_noAuthInPlaintextFromAfar(self) -> None:
        """
        AUTH is not offered in plaintext to a client that is not on loopback.
        """
        lines = Client(self.suite, transport=TLSStringTransport("192.0.2.7")).greet()
        self.assertNotIn(b"250 AUTH PLAIN LOGIN", lines)
        self.assertEqual(lines[-1], b"250 STARTTLS")

    def test_helo(self) -> None:
        """
        HELO gets a plain 250 and no extensions; MAIL parameters are then refused.
        """
        client = Client(self.suite)
        client.replies()
        self.assertEqual(client.send(b"HELO client.test\r\n"), [b"250 mx.example.test"])
        self.assertEqual(client.codes(b"MAIL FROM:<a@b.test> SIZE=10\r\n"), [b"555 5.5.4"])
        self.assertEqual(client.codes(b"MAIL FROM:<a@b.test>\r\n"), [b"250 2.1.0"])

    def test_ehloNeedsName(self) -> None:
        """
        EHLO and HELO without a name are syntax errors.
        """
        client = Client(self.suite)
        self.assertEqual(client.codes(b"EHLO\r\nHELO \r\n")[1:], [b"501 5.5.4", b"501 5.5.4"])

    def test_factoryRoles(self) -> None:
        """
        One factory class serves both roles; only submission requires AUTH.
        """
        smtp, submission = makeFactory(self.suite.parts, "smtp"), makeFactory(self.suite.parts, "submission")
        self.assertIsInstance(submission, SMTPFactory)
        self.assertEqual((smtp.authRequired, submission.authRequired), (False, True))
        self.assertRaises(ValueError, makeFactory, self.suite.parts, "pop3")


class DeliveryTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.suite = newSuite(self, aliases={"team": ["alice", "bob"]})
        self.events: list[NewMailEvent] = []
        self.suite.bus.subscribe(NewMailEvent, self.events.append)
        self.client = Client(self.suite)
        self.client.greet()

    def test_delivered(self) -> None:
        """
        A message is stored in the recipient's Maildir C{new/} after
        C{Return-Path:} and C{Received:}, its text byte for byte (LF
        stored, dots unstuffed), and 250 carries its UID.
        """
        codes = self.client.codes(transaction())
        self.assertEqual(codes, [b"250 2.1.0", b"250 2.1.5", b"354", b"250 2.0.0"])
        [stored] = storedMessages(self.suite, "alice")
        self.assertTrue(stored.startswith(b"Return-Path: <bob@example.test>\nReceived: from client.test ([127.0.0.1])"))
        self.assertIn(b"by mx.example.test (twisted-mail-suite) with ESMTP\n\tfor <alice@example.test>;", stored)
        self.assertTrue(stored.endswith(b"\n" + STORED_BODY))
        [message] = self.successResultOf(self.suite.store.listMessages("alice"))
        self.assertEqual(maildirOf(self.suite).pathOf("alice", message.uid).split("/")[-2], "new")
        self.assertEqual(tmpFiles(self.suite, "alice"), [])
        self.assertEqual(self.events, [NewMailEvent("alice", "bob@example.test", "Lunch?", message.uid)])


    def test_ehloNameCannotFakeTrace(self) -> None:
        """
        An EHLO argument with TAB, parentheses, C{;} and 8-bit octets
        cannot put fake C{(authenticated as ...)} / C{with ESMTPSA} text
        into the stored C{Received:} field, nor echo it in the greeting.
        """
        reply = self.client.send(b"EHLO x\t(authenticated\tas\tadmin)\twith\tESMTPSA;\xff\r\n")
        self.assertEqual(reply[0], b"250-mx.example.test greets x??authenticated?as?admin??with?ESMTPSA??")
        self.client.codes(transaction())
        [stored] = storedMessages(self.suite, "alice")
        received = stored.split(b"\n\tfor ")[0]
        self.assertTrue(received.endswith(b"Received: from [127.0.0.1] ([127.0.0.1] "
                                          b"helo=x??authenticated?as?admin??with?ESMTPSA??)\n"
                                          b"\tby mx.example.test (twisted-mail-suite) with ESMTP"), received)
        self.assertNotIn(b"(authenticated", stored)
        self.assertNotIn(b"\t(", stored)
    def test_replyNamesUID(self) -> None:
        """
        The final 250 names the stored message.
        """
        last = self.client.send(transaction())[-1]
        [message] = self.successResultOf(self.suite.store.listMessages("alice"))
        self.assertEqual(last, b"250 2.0.0 OK queued as " + message.uid.encode())

    def test_severalRecipientsOneTransaction(self) -> None:
        """
        All local users of the transaction get the message: aliases expand,
        a user named twice gets it once.
        """
        self.client.send(transaction(recipients=(b"team@example.test", b"alice@example.test")))
        self.assertEqual(len(storedMessages(self.suite, "alice")), 1)
        self.assertEqual(len(storedMessages(self.suite, "bob")), 1)

    def test_nullSender(self) -> None:
        """
        The null reverse path is accepted and recorded as C{Return-Path: <>}.
        """
        self.assertEqual(self.client.codes(transaction(sender=b""))[-1], b"250 2.0.0")
        self.assertTrue(storedMessages(self.suite, "alice")[0].startswith(b"Return-Path: <>\n"))

    def test_relayDenied(self) -> None:
        """
        A foreign recipient is refused with 550 5.7.1: no open relay.
        """
        self.assertEqual(self.client.codes(b"MAIL FROM:<a@b.test>\r\nRCPT TO:<x@elsewhere.test>\r\n"),
                         [b"250 2.1.0", b"550 5.7.1"])

    def test_unknownUser(self) -> None:
        """
        An unknown local user is refused with 550 5.1.1.
        """
        self.assertEqual(self.client.codes(b"MAIL FROM:<a@b.test>\r\nRCPT TO:<carol@example.test>\r\n"),
                         [b"250 2.1.0", b"550 5.1.1"])

    def test_partialRecipients(self) -> None:
        """
        A refused recipient does not stop the others.
        """
        codes = self.client.codes(transaction(recipients=(b"carol@example.test", b"alice@example.test")))
        self.assertEqual(codes, [b"250 2.1.0", b"550 5.1.1", b"250 2.1.5", b"354", b"250 2.0.0"])

    def test_dataWithoutRecipients(self) -> None:
        """
        DATA with no accepted recipient is a bad sequence; the text lines
        that follow are then commands (and unknown).
        """
        codes = self.client.codes(b"MAIL FROM:<a@b.test>\r\nRCPT TO:<carol@example.test>\r\nDATA\r\n")
        self.assertEqual(codes, [b"250 2.1.0", b"550 5.1.1", b"503 5.5.1"])

    def test_eightBitBody(self) -> None:
        """
        An 8-bit body (BODY=8BITMIME) is stored unchanged.
        """
        body = "Subject: é\r\n\r\nÄpfel\r\n".encode()
        self.client.send(b"MAIL FROM:<a@b.test> BODY=8BITMIME\r\nRCPT TO:<alice@example.test>\r\nDATA\r\n"
                         + body + b".\r\n")
        self.assertTrue(storedMessages(self.suite, "alice")[0].endswith(body.replace(b"\r\n", b"\n")))

    def test_smtputf8(self) -> None:
        """
        A UTF-8 address needs SMTPUTF8 (553 5.6.7 otherwise); with it the
        transaction goes through and Received says UTF8SMTP.
        """
        sender = "jörg@exämple.test".encode()
        self.assertEqual(self.client.codes(b"MAIL FROM:<" + sender + b">\r\n"), [b"553 5.6.7"])
        codes = self.client.codes(b"MAIL FROM:<" + sender + b"> SMTPUTF8\r\nRCPT TO:<alice@example.test>\r\n"
                                  b"DATA\r\nSubject: x\r\n\r\nx\r\n.\r\n")
        self.assertEqual(codes[-1], b"250 2.0.0")
        self.assertIn(b"with UTF8SMTP", storedMessages(self.suite, "alice")[0])

    def test_postmaster(self) -> None:
        """
        C{<postmaster>} needs no domain; with no such user it is refused as unknown.
        """
        self.assertEqual(self.client.codes(b"MAIL FROM:<a@b.test>\r\nRCPT TO:<postmaster>\r\n")[-1], b"550 5.1.1")

    def test_failureKeepsNothing(self) -> None:
        """
        If the store cannot make the message durable, the client gets
        451 4.3.0, nothing is kept and the session goes on.
        """
        def broken(fd: int) -> None:
            raise OSError(5, "I/O error")

        maildirOf(self.suite).fsync = broken
        self.assertEqual(self.client.codes(transaction())[-1], b"451 4.3.0")
        self.assertEqual(storedMessages(self.suite, "alice"), [])
        self.assertEqual(tmpFiles(self.suite, "alice"), [])
        self.assertEqual(self.client.codes(b"NOOP\r\n"), [b"250 2.0.0"])

    def test_connectionLostInData(self) -> None:
        """
        A connection lost inside DATA leaves nothing behind.
        """
        self.client.send(b"MAIL FROM:<a@b.test>\r\nRCPT TO:<alice@example.test>\r\nDATA\r\n"
                         + b"x" * 100 + b"\r\n" + b"y\r\n" * 200000)
        self.client.protocol.connectionLost(None)
        self.assertEqual(storedMessages(self.suite, "alice"), [])
        self.assertEqual(tmpFiles(self.suite, "alice"), [])

    def test_twoMessagesOneSession(self) -> None:
        """
        After a message the session takes the next transaction.
        """
        self.client.send(transaction())
        self.assertEqual(self.client.codes(transaction())[-1], b"250 2.0.0")
        self.assertEqual(len(storedMessages(self.suite, "alice")), 2)


class CommandTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.suite = newSuite(self)

    def clientIn(self, state: str) -> Client:
        client = Client(self.suite)
        client.replies()
        steps = {"idle": b"", "greeted": b"EHLO c.test\r\n",
                 "haveSender": b"EHLO c.test\r\nMAIL FROM:<a@b.test>\r\n",
                 "haveRecipients": b"EHLO c.test\r\nMAIL FROM:<a@b.test>\r\nRCPT TO:<alice@example.test>\r\n"}
        client.send(steps[state])
        return client

    def test_stateIndependentCommands(self) -> None:
        """
        NOOP, VRFY, HELP and RSET are answered in every command state.
        """
        for state in ("idle", "greeted", "haveSender", "haveRecipients"):
            client = self.clientIn(state)
            self.assertEqual(client.codes(b"NOOP\r\nVRFY alice\r\nHELP\r\nRSET\r\n"),
                             [b"250 2.0.0", b"252 2.5.0", b"214 2.0.0", b"250 2.0.0"], state)

    def test_sequenceErrors(self) -> None:
        """
        Commands out of order get 503 5.5.1 in every state where they are illegal.
        """
        expected = {
            "idle": {b"MAIL FROM:<a@b.test>": b"503 5.5.1", b"RCPT TO:<alice@example.test>": b"503 5.5.1",
                     b"DATA": b"503 5.5.1", b"AUTH PLAIN": b"503 5.5.1", b"STARTTLS": b"503 5.5.1"},
            "greeted": {b"RCPT TO:<alice@example.test>": b"503 5.5.1", b"DATA": b"503 5.5.1"},
            "haveSender": {b"MAIL FROM:<a@b.test>": b"503 5.5.1", b"DATA": b"503 5.5.1",
                           b"AUTH PLAIN": b"503 5.5.1", b"STARTTLS": b"503 5.5.1"},
            "haveRecipients": {b"MAIL FROM:<a@b.test>": b"503 5.5.1", b"AUTH PLAIN": b"503 5.5.1",
                               b"STARTTLS": b"503 5.5.1"},
        }
        for state, commands in expected.items():
            for command, code in commands.items():
                client = self.clientIn(state)
                self.assertEqual(client.codes(command + b"\r\n"), [code], (state, command))

    def test_rsetDropsTransaction(self) -> None:
        """
        After RSET, RCPT needs a new MAIL.
        """
        client = self.clientIn("haveRecipients")
        self.assertEqual(client.codes(b"RSET\r\nRCPT TO:<alice@example.test>\r\n"), [b"250 2.0.0", b"503 5.5.1"])

    def test_unknownCommand(self) -> None:
        """
        An unknown verb gets 500 5.5.1.
        """
        self.assertEqual(self.clientIn("greeted").codes(b"FROB\r\n"), [b"500 5.5.1"])

    def test_syntaxErrors(self) -> None:
        """
        Arguments where none belong, or none where one is needed, are 501.
        """
        client = self.clientIn("haveRecipients")
        self.assertEqual(client.codes(b"DATA now\r\nRSET x\r\nVRFY\r\nSTARTTLS x\r\n"),
                         [b"501 5.5.4"] * 4)

    def test_quit(self) -> None:
        """
        QUIT gets 221 and the server closes; later input is ignored.
        """
        client = self.clientIn("haveSender")
        self.assertEqual(client.codes(b"QUIT\r\nNOOP\r\n"), [b"221 2.0.0"])
        self.assertTrue(client.closed)

    def test_lowercaseVerbs(self) -> None:
        """
        Verbs are case-insensitive.
        """
        self.assertEqual(self.clientIn("idle").codes(b"ehlo c.test\r\nmail from:<a@b.test>\r\n")[-1], b"250 2.1.0")


class ImplicitTLSTests(SynchronousTestCase):
    def test_secureFromTheStart(self) -> None:
        """
        On an implicit-TLS listener STARTTLS is not offered, AUTH is offered
        to any address, and the Received field notes TLS.
        """
        suite = newSuite(self)
        transport = TLSStringTransport("192.0.2.7", secure=True)
        client = Client(suite, transport=transport)
        lines = client.greet()
        self.assertNotIn(b"250-STARTTLS", lines)
        self.assertEqual(lines[-1], b"250 AUTH PLAIN LOGIN")
        client.send(transaction())
        self.assertIn(b"with ESMTPS", storedMessages(suite, "alice")[0])

    def test_peerAddressInReceived(self) -> None:
        """
        The client's address is in the Received field.
        """
        suite = newSuite(self)
        client = Client(suite, transport=TLSStringTransport("192.0.2.9"))
        client.greet()
        client.send(transaction())
        self.assertIn(b"from client.test ([192.0.2.9])", storedMessages(suite, "alice")[0])
        self.assertIsInstance(client.transport.getPeer(), IPv4Address)
