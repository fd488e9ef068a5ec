# -*- test-case-name: tests.smtp.test_limits -*-
"""
Limits and abuse: line lengths, bare CR/LF, recipients, message size,
connections, timeouts and junk commands.  After each, the session (or the
next client) is served normally.
"""
from __future__ import annotations

from twisted.trial.unittest import SynchronousTestCase

from .helpers import Client, TLSStringTransport, newSuite, storedMessages, tmpFiles

START = b"MAIL FROM:<a@b.test>\r\nRCPT TO:<alice@example.test>\r\nDATA\r\n"


class CommandLineTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.suite = newSuite(self)
        self.client = Client(self.suite)
        self.client.greet()

    def test_longCommand(self) -> None:
        """
        A command line over 512 octets gets 500 5.5.2; the next one works.
        """
        self.assertEqual(self.client.codes(b"NOOP " + b"x" * 600 + b"\r\nNOOP\r\n"), [b"500 5.5.2", b"250 2.0.0"])

    def test_exactly512(self) -> None:
        """
        A command line of exactly 512 octets with its CRLF is fine.
        """
        line = b"NOOP " + b"x" * (512 - 7) + b"\r\n"
        self.assertEqual(len(line), 512)
        self.assertEqual(self.client.codes(line), [b"250 2.0.0"])

    def test_longLineInPieces(self) -> None:
        """
        An endless line without LF is answered once and skipped up to its end.
        """
        self.assertEqual(self.client.codes(b"x" * 600), [b"500 5.5.2"])
        self.assertEqual(self.client.codes(b"y" * 5000), [])
        self.assertEqual(self.client.codes(b"z\r\nNOOP\r\n"), [b"250 2.0.0"])

    def test_bareLF(self) -> None:
        """
        A command ending in a bare LF, or holding a bare CR, is refused.
        """
        self.assertEqual(self.client.codes(b"NOOP\nNOOP\rx\r\nNOOP\r\n"),
                         [b"500 5.5.2", b"500 5.5.2", b"250 2.0.0"])

    def test_bareLFNotSmuggled(self) -> None:
        """
        A MAIL command ending in a bare LF does not start a transaction.
        """
        self.assertEqual(self.client.codes(b"MAIL FROM:<a@b.test>\nRCPT TO:<alice@example.test>\r\n"),
                         [b"500 5.5.2", b"503 5.5.1"])


class DataLimitTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.suite = newSuite(self, **{"smtp.max_message_size": 1000, "smtp.max_recipients": 2})
        self.client = Client(self.suite)
        self.client.greet()

    def test_tooManyRecipients(self) -> None:
        """
        Past max_recipients, RCPT gets 452 4.5.3; the accepted ones still get the message.
        """
        codes = self.client.codes(b"MAIL FROM:<a@b.test>\r\n" + b"RCPT TO:<alice@example.test>\r\n" * 3
                                  + b"DATA\r\nx\r\n.\r\n")
        self.assertEqual(codes, [b"250 2.1.0", b"250 2.1.5", b"250 2.1.5", b"452 4.5.3", b"354", b"250 2.0.0"])

    def test_declaredSize(self) -> None:
        """
        SIZE= over the limit is refused at MAIL with 552 5.3.4; SIZE is advertised.
        """
        self.assertIn(b"250-SIZE 1000", self.client.send(b"EHLO c.test\r\n"))
        self.assertEqual(self.client.codes(b"MAIL FROM:<a@b.test> SIZE=1001\r\n"), [b"552 5.3.4"])

    def test_realSize(self) -> None:
        """
        A text over the limit is read to its end, discarded with 552 5.3.4,
        and the session stays in step.
        """
        codes = self.client.codes(START + (b"x" * 98 + b"\r\n") * 20 + b".\r\nNOOP\r\n")
        self.assertEqual(codes, [b"250 2.1.0", b"250 2.1.5", b"354", b"552 5.3.4", b"250 2.0.0"])
        self.assertEqual(storedMessages(self.suite, "alice"), [])
        self.assertEqual(tmpFiles(self.suite, "alice"), [])
        self.assertEqual(self.client.codes(START + b"small\r\n.\r\n")[-1], b"250 2.0.0")

    def test_longTextLine(self) -> None:
        """
        A text line over 1000 octets rejects the message, and the server
        stays in DATA: the commands inside the text are not executed.
        """
        suite = newSuite(self)
        client = Client(suite)
        client.greet()
        codes = client.codes(START + b"x" * 1001 + b"\r\nRSET\r\nMAIL FROM:<evil@x.test>\r\n"
                             b"RCPT TO:<bob@example.test>\r\nDATA\r\nsmuggled\r\n.\r\nNOOP\r\n")
        self.assertEqual(codes, [b"250 2.1.0", b"250 2.1.5", b"354", b"500 5.5.2", b"250 2.0.0"])
        self.assertEqual(storedMessages(suite, "alice") + storedMessages(suite, "bob"), [])


class BareNewlineTests(SynchronousTestCase):
    FAKE_END = b"x\n.\nMAIL FROM:<evil@x.test>\r\n"

    def test_normalize(self) -> None:
        """
        By default a bare LF in DATA becomes CRLF: one message is stored,
        the fake end and the line after it are text.
        """
        suite = newSuite(self)
        client = Client(suite)
        client.greet()
        codes = client.codes(START + self.FAKE_END + b".\r\n")
        self.assertEqual(codes[-1], b"250 2.0.0")
        [stored] = storedMessages(suite, "alice")
        self.assertTrue(stored.endswith(b"\nx\n.\nMAIL FROM:<evil@x.test>\n"))

    def test_reject(self) -> None:
        """
        With C{bare_newline: reject} the message is refused with 550 5.6.0.
        """
        suite = newSuite(self, **{"smtp.bare_newline": "reject"})
        client = Client(suite)
        client.greet()
        self.assertEqual(client.codes(START + self.FAKE_END + b".\r\n")[-1], b"550 5.6.0")
        self.assertEqual(storedMessages(suite, "alice"), [])


class ConnectionLimitTests(SynchronousTestCase):
    def test_perAddress(self) -> None:
        """
        Past max_connections_per_ip the greeting is 421 4.7.0 and the
        connection closes; once one leaves, the next is served.
        """
        suite = newSuite(self, **{"smtp.max_connections_per_ip": 2})
        first, second = Client(suite), Client(suite)
        third = Client(suite)
        self.assertEqual(third.codes(b""), [b"421 4.7.0"])
        self.assertTrue(third.closed)
        third.protocol.connectionLost(None)
        other = Client(suite, transport=TLSStringTransport("192.0.2.1"))
        self.assertEqual(other.codes(b""), [b"220"])
        first.protocol.connectionLost(None)
        self.assertEqual(Client(suite).codes(b""), [b"220"])
        self.assertFalse(second.closed)

    def test_total(self) -> None:
        """
        Past max_connections in total, any address gets 421 4.7.0.
        """
        suite = newSuite(self, **{"smtp.max_connections": 1})
        Client(suite)
        late = Client(suite, transport=TLSStringTransport("192.0.2.1"))
        self.assertEqual(late.codes(b""), [b"421 4.7.0"])


class TimeoutTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.suite = newSuite(self, **{"smtp.command_timeout": 300, "smtp.data_timeout": 600})
        self.clock = self.suite.reactor
        self.client = Client(self.suite)
        self.client.greet()

    def test_commandTimeout(self) -> None:
        """
        A client silent for the command timeout gets 421 4.4.2 and is closed.
        """
        self.clock.advance(299)
        self.assertEqual(self.client.replies(), [])
        self.clock.advance(1)
        self.assertEqual(self.client.codes(b""), [b"421 4.4.2"])
        self.assertTrue(self.client.closed)

    def test_activityResets(self) -> None:
        """
        Each command restarts the timeout.
        """
        for _ in range(3):
            self.clock.advance(200)
            self.client.send(b"NOOP\r\n")
        self.assertFalse(self.client.closed)

    def test_dataTimeout(self) -> None:
        """
        Inside DATA the (longer) data timeout applies.
        """
        self.client.send(START + b"partial text\r\n")
        self.clock.advance(500)
        self.assertFalse(self.client.closed)
        self.clock.advance(100)
        self.assertEqual(self.client.codes(b""), [b"421 4.4.2"])
        self.assertEqual(tmpFiles(self.suite, "alice"), [])


class JunkTests(SynchronousTestCase):
    def test_junkLimit(self) -> None:
        """
        Past junk_command_limit junk or failed commands, the server says
        421 4.7.0 and closes.
        """
        suite = newSuite(self, **{"smtp.junk_command_limit": 5})
        client = Client(suite)
        client.greet()
        codes = client.codes(b"NOOP\r\nFOO\r\nRSET\r\nVRFY x\r\nHELP\r\nNOOP\r\nNOOP\r\n")
        self.assertEqual(codes, [b"250 2.0.0", b"500 5.5.1", b"250 2.0.0", b"252 2.5.0", b"214 2.0.0", b"421 4.7.0"])
        self.assertTrue(client.closed)

    def test_deliveryResets(self) -> None:
        """
        An accepted message resets the junk count.
        """
        suite = newSuite(self, **{"smtp.junk_command_limit": 3})
        client = Client(suite)
        client.greet()
        for _ in range(3):
            client.send(b"NOOP\r\nNOOP\r\n" + START + b"x\r\n.\r\n")
        self.assertFalse(client.closed)


    def test_repeatedGreetingIsJunk(self) -> None:
        """
        Every EHLO or HELO after the first counts toward the junk limit
        (the first one does not).
        """
        suite = newSuite(self, **{"smtp.junk_command_limit": 3})
        client = Client(suite)
        client.replies()
        codes = client.codes(b"EHLO a.test\r\nEHLO b.test\r\nHELO c.test\r\nEHLO d.test\r\nEHLO e.test\r\n")
        self.assertEqual(codes, [b"250", b"250", b"250", b"250", b"421 4.7.0"])
        self.assertTrue(client.closed)

    def test_greetingAfterSTARTTLSIsNotJunk(self) -> None:
        """
        The EHLO that RFC 3207 requires after STARTTLS is not a repeat.
        """
        suite = newSuite(self, **{"smtp.junk_command_limit": 1})
        client = Client(suite)
        client.greet()
        self.assertEqual(client.codes(b"STARTTLS\r\n"), [b"220 2.0.0"])
        self.assertEqual(client.codes(b"EHLO c.test\r\nNOOP\r\n"), [b"250", b"250 2.0.0"])
        self.assertFalse(client.closed)

    def test_recipientOvershootIsJunk(self) -> None:
        """
        Past max_recipients, the first recipient_overshoot_limit refused
        recipients of a transaction are free; each one after counts toward
        the junk limit.
        """
        suite = newSuite(self, **{"smtp.max_recipients": 1, "smtp.recipient_overshoot_limit": 2,
                                  "smtp.junk_command_limit": 2})
        client = Client(suite)
        client.greet()
        codes = client.codes(b"MAIL FROM:<a@b.test>\r\n" + b"RCPT TO:<alice@example.test>\r\n" * 6)
        self.assertEqual(codes, [b"250 2.1.0", b"250 2.1.5", b"452 4.5.3", b"452 4.5.3", b"452 4.5.3",
                                 b"452 4.5.3", b"421 4.7.0"])
        self.assertTrue(client.closed)

    def test_recipientOvershootPerTransaction(self) -> None:
        """
        The free overshoot starts afresh with each transaction.
        """
        suite = newSuite(self, **{"smtp.max_recipients": 1, "smtp.recipient_overshoot_limit": 2,
                                  "smtp.junk_command_limit": 1})
        client = Client(suite)
        client.greet()
        transaction = b"MAIL FROM:<a@b.test>\r\n" + b"RCPT TO:<alice@example.test>\r\n" * 3 + b"DATA\r\nx\r\n.\r\n"
        expected = [b"250 2.1.0", b"250 2.1.5", b"452 4.5.3", b"452 4.5.3", b"354", b"250 2.0.0"]
        for _ in range(3):
            self.assertEqual(client.codes(transaction), expected)
        self.assertFalse(client.closed)


class DrainTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.suite = newSuite(self)
        self.factory = self.suite.factories["smtp"]

    def lose(self, client: Client) -> None:
        if client.closed:
            client.protocol.connectionLost(None)

    def test_idleClosedAtOnce(self) -> None:
        """
        At shutdown an idle session gets 421 4.3.2 and the drain finishes
        when it is gone.
        """
        client = Client(self.suite)
        client.greet()
        d = self.factory.drain(10)
        self.assertEqual(client.codes(b""), [b"421 4.3.2"])
        self.assertNoResult(d)
        self.lose(client)
        self.successResultOf(d)

    def test_messageInHandFinished(self) -> None:
        """
        A message being received is finished and answered 250 before the
        421; pipelined commands after it are not started.
        """
        client = Client(self.suite)
        client.greet()
        client.send(b"MAIL FROM:<a@b.test>\r\nRCPT TO:<alice@example.test>\r\nDATA\r\npart one\r\n")
        d = self.factory.drain(10)
        self.assertEqual(client.codes(b"part two\r\n.\r\nMAIL FROM:<c@d.test>\r\n"), [b"250 2.0.0", b"421 4.3.2"])
        self.assertEqual(len(storedMessages(self.suite, "alice")), 1)
        self.lose(client)
        self.successResultOf(d)

    def test_timeout(self) -> None:
        """
        A session still busy after the timeout is aborted; nothing of its
        message is kept.
        """
        client = Client(self.suite)
        client.greet()
        client.send(b"MAIL FROM:<a@b.test>\r\nRCPT TO:<alice@example.test>\r\nDATA\r\npart\r\n")
        d = self.factory.drain(10)
        self.suite.reactor.advance(10)
        self.assertTrue(client.transport.disconnecting)
        client.protocol.connectionLost(None)
        self.successResultOf(d)
        self.assertEqual(storedMessages(self.suite, "alice") + tmpFiles(self.suite, "alice"), [])

    def test_newConnectionsRefused(self) -> None:
        """
        A connection arriving while draining gets 421 4.3.2.
        """
        self.factory.drain(10)
        self.assertEqual(Client(self.suite).codes(b""), [b"421 4.3.2"])
