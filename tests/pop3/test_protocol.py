# -*- test-case-name: tests.pop3.test_protocol -*-
"""
Tests for L{twisted_mail_suite.pop3.protocol}: every command over a
C{StringTransport}, on a whole suite whose clock is a C{MemoryReactorClock}.
"""
from __future__ import annotations

import io
import os
import re
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from twisted.internet.defer import Deferred, succeed
from twisted.mail.pop3 import IMailbox
from twisted.trial.unittest import SynchronousTestCase
from zope.interface import implementer

from twisted_mail_suite.identity.passwd import InMemoryUsers
from twisted_mail_suite.pop3.connection import MAX_LINE, MAX_QUEUED_LINES
from twisted_mail_suite.pop3.factory import POP3Factory
from twisted_mail_suite.pop3.factory import makeFactory

from ..fakes import maildirOf
from .support import (
    APOP_ON, DOTTED, DOTTED_RETR, EIGHT_BIT, LONG_BODY, NO_NEWLINE, REMOTE, Client, deliver,
    holdPasswordChecks, maildirFiles, newSuite, plain, storeFile,
)


class GreetingTests(SynchronousTestCase):
    """
    The greeting and connection set-up.
    """

    def test_greetingWithAPOPTimestamp(self) -> None:
        """
        When APOP is configured and some stored password allows it, the
        greeting carries an RFC 1939 timestamp.
        """
        client = Client(newSuite(self, **APOP_ON))
        self.assertRegex(client.greeting.decode(),
                         r"^\+OK mx\.example\.test POP3 ready\. <\d+\.\d+\.[0-9a-f]+@mx\.example\.test>\r\n$")

    def test_greetingsDiffer(self) -> None:
        """
        Each connection gets its own timestamp.
        """
        suite = newSuite(self, **APOP_ON)
        self.assertNotEqual(Client(suite).greeting, Client(suite).greeting)

    def test_greetingWithoutTimestamp(self) -> None:
        """
        When no stored password allows APOP, the greeting has no timestamp
        and APOP is refused, even where APOP is configured.
        """
        suite = newSuite(self, **APOP_ON)
        suite.portal.checker.users = InMemoryUsers({"alice": "secret"}, scheme="SHA512-CRYPT")
        client = Client(suite)
        self.assertEqual(client.greeting, b"+OK mx.example.test POP3 ready.\r\n")
        self.assertEqual(client.send(b"APOP alice " + b"0" * 32), b"-ERR APOP is not available.\r\n")

    def test_apopOffByDefault(self) -> None:
        """
        APOP is not offered unless configured, even to users whose
        password is stored in a form that would allow it.
        """
        client = Client(newSuite(self), host=REMOTE)
        self.assertEqual(client.greeting, b"+OK mx.example.test POP3 ready.\r\n")
        self.assertEqual(client.send(b"APOP alice " + b"0" * 32), b"-ERR APOP is not available.\r\n")

    def test_tcpNoDelay(self) -> None:
        """
        TCP_NODELAY is set on accepted connections.
        """
        self.assertTrue(Client(newSuite(self)).transport.noDelay)

    def test_registersAsProducer(self) -> None:
        """
        The protocol is the connection's streaming producer.
        """
        client = Client(newSuite(self))
        self.assertIs(client.transport.producer, client.protocol)
        self.assertTrue(client.transport.streaming)

    def test_makeFactory(self) -> None:
        """
        C{makeFactory} is what the service uses for the C{pop3} role.
        """
        suite = newSuite(self)
        self.assertIsInstance(makeFactory(suite.parts, "pop3"), POP3Factory)
        suite.privilegedStartService()
        suite.startService()
        self.addCleanup(suite.stopService)
        factories = [server[1] for server in suite.reactor.tcpServers]
        self.assertIn(suite.factories["pop3"], factories)
        self.assertIsInstance(suite.factories["pop3"], POP3Factory)

    def test_connectionLimitPerAddress(self) -> None:
        """
        Past C{max_connections_per_ip}, a new connection is told why and
        closed; a closed connection frees its place.
        """
        suite = newSuite(self, **{"pop3.max_connections_per_ip": 2})
        first, _ = Client(suite), Client(suite)
        third = Client(suite)
        self.assertEqual(third.greeting, b"-ERR [SYS/TEMP] Too many connections, try again later.\r\n")
        self.assertTrue(third.closed)
        third.drop()
        first.drop()
        self.assertTrue(Client(suite).greeting.startswith(b"+OK"))

    def test_connectionLimitTotal(self) -> None:
        """
        Past C{max_connections}, new connections are refused.
        """
        suite = newSuite(self, **{"pop3.max_connections": 1})
        Client(suite)
        self.assertTrue(Client(suite, host=REMOTE).greeting.startswith(b"-ERR [SYS/TEMP]"))


class BadCommandTests(SynchronousTestCase):
    """
    C{pop3.max_bad_commands}: a client whose commands keep failing is
    disconnected (as Dovecot does; SMTP has its junk limit).
    """

    def test_disconnectedAtLimit(self) -> None:
        """
        The command that reaches the limit is answered, then the client is
        told why and disconnected; good commands in between do not reset
        the count.
        """
        client = Client(newSuite(self, **{"pop3.max_bad_commands": 3}))
        self.assertEqual(client.send(b"XYZZY", b"NOOP", b"RETR 1"),
                         b"-ERR Unknown command: XYZZY\r\n"
                         b"-ERR NOOP is not valid in the AUTHORIZATION state.\r\n"
                         b"-ERR RETR is not valid in the AUTHORIZATION state.\r\n"
                         b"-ERR Too many bad commands.\r\n")
        self.assertTrue(client.closed)

    def test_defaultLimit(self) -> None:
        """
        By default the twentieth bad command disconnects, and nothing sent
        after it is answered.
        """
        client = Client(newSuite(self))
        replies = client.send(*[b"BOGUS"] * 25)
        self.assertEqual(replies.count(b"-ERR Unknown command: BOGUS\r\n"), 20)
        self.assertTrue(replies.endswith(b"-ERR Too many bad commands.\r\n"))
        self.assertTrue(client.closed)

    def test_noLimit(self) -> None:
        """
        C{0} turns the limit off.
        """
        client = Client(newSuite(self, **{"pop3.max_bad_commands": 0}))
        client.send(*[b"BOGUS"] * 100)
        self.assertFalse(client.closed)


class UnknownAndStateTests(SynchronousTestCase):
    """
    Commands that are unknown or illegal now.
    """

    def setUp(self) -> None:
        self.client = Client(newSuite(self, **APOP_ON))

    def test_unknownCommand(self) -> None:
        """
        An unknown command gets C{-ERR} naming it.
        """
        self.assertEqual(self.client.send(b"xyzzy 1"), b"-ERR Unknown command: XYZZY\r\n")

    def test_unknownCommandNotEchoedRaw(self) -> None:
        """
        Control characters in an unknown verb are not echoed.
        """
        self.assertEqual(self.client.send(b"\x1b[31m"), b"-ERR Unknown command: ?[31M\r\n")

    def test_caseInsensitive(self) -> None:
        """
        Keywords are case-insensitive (RFC 1939 §3).
        """
        self.assertTrue(self.client.send(b"capa").startswith(b"+OK"))

    def test_transactionCommandBeforeLogin(self) -> None:
        """
        Every TRANSACTION command before login gets one clear C{-ERR}.
        """
        for verb in (b"STAT", b"LIST", b"UIDL", b"RETR 1", b"TOP 1 1", b"DELE 1", b"RSET", b"NOOP"):
            self.assertEqual(self.client.send(verb),
                             b"-ERR %s is not valid in the AUTHORIZATION state.\r\n" % verb.split()[0])

    def test_loginCommandAfterLogin(self) -> None:
        """
        Login commands after login get C{-ERR}.
        """
        self.client.login()
        for verb in (b"USER alice", b"PASS x", b"APOP alice " + b"0" * 32, b"AUTH PLAIN " + plain(b"alice", b"secret"), b"STLS"):
            self.assertEqual(self.client.send(verb),
                             b"-ERR %s is not valid in the TRANSACTION state.\r\n" % verb.split()[0])

    def test_afterUserOnlyPassOrQuit(self) -> None:
        """
        After USER, commands other than PASS, USER, CAPA and QUIT are refused.
        """
        self.client.send(b"USER alice")
        self.assertEqual(self.client.send(b"STLS"),
                         b"-ERR STLS is not valid in the AUTHORIZATION (after USER) state.\r\n")

    def test_badMessageNumber(self) -> None:
        """
        A message number that is not a number is refused.
        """
        self.client.login()
        for verb in (b"RETR x", b"DELE", b"LIST -1", b"TOP 1", b"TOP 1 x", b"RETR 99999999999"):
            self.assertTrue(self.client.send(verb).startswith(b"-ERR "), verb)

    def test_lineTooLong(self) -> None:
        """
        A line longer than the limit is refused and the connection closed.
        """
        reply = self.client.send(b"NOOP " + b"x" * (MAX_LINE + 1))
        self.assertEqual(reply, b"-ERR Line too long.\r\n")
        self.assertTrue(self.client.closed)

    def test_partialLineTooLong(self) -> None:
        """
        An endless line without a line end is cut off too.
        """
        self.client.protocol.dataReceived(b"x" * (MAX_LINE + 1))
        self.assertEqual(self.client.take(), b"-ERR Line too long.\r\n")
        self.assertTrue(self.client.closed)

    def test_bareLF(self) -> None:
        """
        A command ended by a bare LF is accepted.
        """
        self.client.protocol.dataReceived(b"NOOP\n")
        self.assertEqual(self.client.take(), b"-ERR NOOP is not valid in the AUTHORIZATION state.\r\n")

    def test_splitAcrossSegments(self) -> None:
        """
        A command may arrive in pieces.
        """
        self.client.protocol.dataReceived(b"CA")
        self.client.protocol.dataReceived(b"PA\r")
        self.assertEqual(self.client.take(), b"")
        self.client.protocol.dataReceived(b"\n")
        self.assertTrue(self.client.take().startswith(b"+OK Capability list follows"))


class TransactionCommandTests(SynchronousTestCase):
    """
    STAT, LIST, UIDL, RETR, TOP, DELE, RSET, NOOP over the wire, with
    fixture messages.
    """

    def setUp(self) -> None:
        self.suite = newSuite(self)
        self.uids = [deliver(self.suite, "alice", m) for m in (DOTTED, EIGHT_BIT, NO_NEWLINE, LONG_BODY)]
        self.client = Client(self.suite)
        self.client.login()

    def test_stat(self) -> None:
        """
        STAT's octets are the CRLF sizes of the messages.
        """
        total = sum(map(len, (DOTTED, EIGHT_BIT, NO_NEWLINE, LONG_BODY)))
        self.assertEqual(self.client.send(b"STAT"), b"+OK 4 %d\r\n" % total)

    def test_listSizesAreOctetsSent(self) -> None:
        """
        Each LIST size equals what RETR sends before dot-stuffing (without
        the terminator and the CRLF added to an unterminated last line).
        """
        listing = self.client.send(b"LIST").split(b"\r\n")[1:-2]
        for line in listing:
            number, size = line.split()
            body = self.client.send(b"RETR " + number).split(b"\r\n", 1)[1]
            unstuffed = re.sub(rb"(^|\r\n)\.", rb"\1", body[:-len(b".\r\n")])
            if number == b"3":
                unstuffed = unstuffed[:-2]
            self.assertEqual(len(unstuffed), int(size), number)

    def test_listOne(self) -> None:
        """
        C{LIST n} answers on one line.
        """
        self.assertEqual(self.client.send(b"LIST 2"), b"+OK 2 %d\r\n" % len(EIGHT_BIT))

    def test_uidl(self) -> None:
        """
        UIDL lists the Maildir unique names; C{UIDL n} answers C{+OK n uid}.
        """
        uid = self.uids[0].split(",")[0].encode()
        self.assertIn(b"\r\n1 " + uid + b"\r\n", self.client.send(b"UIDL"))
        self.assertEqual(self.client.send(b"UIDL 1"), b"+OK 1 " + uid + b"\r\n")

    def test_retrDotStuffed(self) -> None:
        """
        RETR sends the size, then the message dot-stuffed and terminated.
        """
        self.assertEqual(self.client.send(b"RETR 1"), b"+OK %d octets\r\n" % len(DOTTED) + DOTTED_RETR)

    def test_retrEightBit(self) -> None:
        """
        8-bit octets are sent unchanged.
        """
        self.assertEqual(self.client.send(b"RETR 2"), b"+OK %d octets\r\n" % len(EIGHT_BIT) + EIGHT_BIT + b".\r\n")

    def test_retrNoTrailingNewline(self) -> None:
        """
        A message without a final line end is completed with CRLF.
        """
        self.assertEqual(self.client.send(b"RETR 3"),
                         b"+OK %d octets\r\n" % len(NO_NEWLINE) + NO_NEWLINE + b"\r\n.\r\n")

    def test_top(self) -> None:
        """
        TOP sends the header, the blank line and n body lines.
        """
        self.assertEqual(self.client.send(b"TOP 4 2"), b"+OK\r\nSubject: long\r\n\r\nline 1\r\nline 2\r\n.\r\n")

    def test_topZero(self) -> None:
        """
        C{TOP n 0} sends only the header.
        """
        self.assertEqual(self.client.send(b"TOP 1 0"), b"+OK\r\nSubject: dots\r\n\r\n.\r\n")

    def test_noop(self) -> None:
        """
        NOOP answers C{+OK}.
        """
        self.assertEqual(self.client.send(b"NOOP"), b"+OK\r\n")

    def test_deleteThenRetr(self) -> None:
        """
        DELE marks; the marked message is refused by RETR, TOP and LIST n.
        """
        self.assertEqual(self.client.send(b"DELE 1"), b"+OK Marked to be deleted.\r\n")
        self.assertEqual(self.client.send(b"RETR 1", b"TOP 1 0", b"LIST 1"),
                         b"-ERR Message 1 is deleted.\r\n" * 3)
        self.assertEqual(len(self.successResultOf(self.suite.store.listMessages("alice"))), 4)

    def test_deletionsOnlyAfterQuit(self) -> None:
        """
        Marked messages are removed in the UPDATE state after QUIT.
        """
        self.client.send(b"DELE 1", b"DELE 3")
        self.assertEqual(len(self.successResultOf(self.suite.store.listMessages("alice"))), 4)
        self.assertEqual(self.client.send(b"QUIT"), b"+OK Logging out.\r\n")
        self.assertTrue(self.client.closed)
        remaining = [m.uid for m in self.successResultOf(self.suite.store.listMessages("alice"))]
        self.assertEqual(remaining, [self.uids[1], self.uids[3]])

    def test_rsetThenQuit(self) -> None:
        """
        RSET unmarks; QUIT then deletes nothing.
        """
        self.client.send(b"DELE 1", b"DELE 2")
        self.assertEqual(self.client.send(b"RSET"), b"+OK 4 messages (%d octets).\r\n"
                         % sum(map(len, (DOTTED, EIGHT_BIT, NO_NEWLINE, LONG_BODY))))
        self.client.send(b"QUIT")
        self.assertEqual(len(self.successResultOf(self.suite.store.listMessages("alice"))), 4)

    def test_dropDeletesNothing(self) -> None:
        """
        A dropped connection deletes nothing and files nothing as seen.
        """
        before = maildirFiles(self.suite, "alice")
        self.client.send(b"RETR 1", b"DELE 1", b"DELE 2")
        self.client.drop()
        self.assertEqual(maildirFiles(self.suite, "alice"), before)

    def test_timeoutDeletesNothing(self) -> None:
        """
        The idle timeout says why, closes, and deletes nothing.
        """
        before = maildirFiles(self.suite, "alice")
        self.client.send(b"DELE 1")
        self.suite.reactor.advance(self.suite.config.pop3.idle_timeout - 1)
        self.assertFalse(self.client.closed)
        self.suite.reactor.advance(1)
        self.assertEqual(self.client.take(), b"-ERR Disconnected for inactivity.\r\n")
        self.assertTrue(self.client.closed)
        self.client.drop()
        self.assertEqual(maildirFiles(self.suite, "alice"), before)

    def test_activityPostponesTimeout(self) -> None:
        """
        A command restarts the idle clock.
        """
        timeout = self.suite.config.pop3.idle_timeout
        self.suite.reactor.advance(timeout - 1)
        self.client.send(b"NOOP")
        self.suite.reactor.advance(timeout - 1)
        self.assertFalse(self.client.closed)
        self.suite.reactor.advance(1)
        self.assertTrue(self.client.closed)

    def test_readMessagesFiledAsSeen(self) -> None:
        """
        After QUIT, messages read with RETR are in C{cur/} with the S flag
        (as Dovecot files them); messages only looked at with TOP are not.
        """
        self.client.send(b"RETR 2", b"TOP 4 1", b"QUIT")
        files = maildirFiles(self.suite, "alice")
        self.assertEqual(files["cur"], [self.uids[1] + ":2,S"])
        self.assertEqual(sorted(files["new"]), sorted([self.uids[0], self.uids[2], self.uids[3]]))

    def test_quitBeforeLoginDeletesNothing(self) -> None:
        """
        QUIT in AUTHORIZATION just closes.
        """
        client = Client(self.suite)
        self.assertEqual(client.send(b"QUIT"), b"+OK Logging out.\r\n")
        self.assertTrue(client.closed)

    def test_linesAfterQuitIgnored(self) -> None:
        """
        Nothing after QUIT is executed.
        """
        self.assertEqual(self.client.send(b"DELE 1", b"QUIT", b"DELE 2"),
                         b"+OK Marked to be deleted.\r\n+OK Logging out.\r\n")
        self.assertEqual(len(self.successResultOf(self.suite.store.listMessages("alice"))), 3)

    def test_messageVanished(self) -> None:
        """
        A message removed by another program since login is answered with
        C{-ERR}; the session goes on.
        """
        os.unlink(maildirOf(self.suite).pathOf("alice", self.uids[0]))
        self.assertEqual(self.client.send(b"RETR 1"), b"-ERR [SYS/TEMP] Message 1 is not available.\r\n")
        self.assertEqual(self.client.send(b"NOOP"), b"+OK\r\n")

    def test_foreignCRLFFile(self) -> None:
        """
        A file stored with CRLF by another program is listed and sent with
        the right size.
        """
        storeFile(self.suite, "bob", "1.foreign.host", b"Subject: crlf\r\n\r\n.x\r\n")
        client = Client(self.suite)
        client.login(b"bob", b"hunter2")
        self.assertEqual(client.send(b"LIST 1"), b"+OK 1 21\r\n")
        self.assertEqual(client.send(b"RETR 1"), b"+OK 21 octets\r\nSubject: crlf\r\n\r\n..x\r\n.\r\n")


class PipeliningTests(SynchronousTestCase):
    """
    Commands sent without waiting (RFC 2449 PIPELINING) are answered in order.
    """

    def test_wholeSessionInOneSegment(self) -> None:
        """
        A whole session sent at once gets every reply, in order.
        """
        suite = newSuite(self)
        deliver(suite, "alice", b"a: b\r\n\r\nbody\r\n")
        client = Client(suite)
        output = client.send(b"USER alice", b"PASS secret", b"STAT", b"RETR 1", b"DELE 1", b"QUIT")
        self.assertEqual(output, b"+OK Send your password.\r\n+OK Logged in: 1 messages (14 octets).\r\n"
                                 b"+OK 1 14\r\n+OK 14 octets\r\na: b\r\n\r\nbody\r\n.\r\n"
                                 b"+OK Marked to be deleted.\r\n+OK Logging out.\r\n")
        self.assertEqual(self.successResultOf(suite.store.listMessages("alice")), [])

    def test_commandsWaitForLoginCheck(self) -> None:
        """
        Commands sent while the password is being checked are answered
        after the login's reply.
        """
        suite = newSuite(self)
        checks = holdPasswordChecks(suite)
        client = Client(suite)
        self.assertEqual(client.send(b"USER alice", b"PASS secret", b"STAT", b"NOOP"), b"+OK Send your password.\r\n")
        checks[0].callback(True)
        self.assertEqual(client.take(), b"+OK Logged in: 0 messages (0 octets).\r\n+OK 0 0\r\n+OK\r\n")

    def test_readingPausedWhenQueueIsLong(self) -> None:
        """
        Many queued commands make the protocol stop reading until they are
        answered.
        """
        suite = newSuite(self)
        checks = holdPasswordChecks(suite)
        client = Client(suite)
        client.send(b"USER alice", b"PASS secret", *[b"NOOP"] * MAX_QUEUED_LINES)
        self.assertEqual(client.transport.producerState, "paused")
        checks[0].callback(True)
        self.assertEqual(client.transport.producerState, "producing")
        self.assertEqual(client.take().count(b"+OK\r\n"), MAX_QUEUED_LINES)


class StreamingTests(SynchronousTestCase):
    """
    RETR streams through the connection's producer, a chunk at a time.
    """

    def setUp(self) -> None:
        self.suite = newSuite(self)
        self.body = b"".join(b"%06d " % i + b"x" * 70 + b"\r\n" for i in range(4000))   # ~300 KiB
        deliver(self.suite, "alice", b"Subject: big\r\n\r\n" + self.body)
        self.client = Client(self.suite)
        self.client.login()

    def test_pausedStreamWaits(self) -> None:
        """
        When the transport asks the producer to pause, streaming stops and
        later commands wait; resuming finishes the message, then the
        commands run.
        """
        protocol = self.client.protocol
        original = self.client.transport.write
        writes = []

        def write(data: bytes) -> None:
            writes.append(len(data))
            original(data)
            protocol.pauseProducing()

        self.client.transport.write = write  # type: ignore[method-assign]
        output = self.client.send(b"RETR 1", b"NOOP")
        self.assertEqual(len(writes), 1)
        self.assertNotIn(b"+OK\r\n", output)
        self.client.transport.write = original  # type: ignore[method-assign]
        protocol.resumeProducing()
        output += self.client.take()
        message = b"Subject: big\r\n\r\n" + self.body
        self.assertEqual(output, b"+OK %d octets\r\n" % len(message) + message + b".\r\n+OK\r\n")

    def test_chunksAreBounded(self) -> None:
        """
        No single write carries more than a chunk or so of the message.
        """
        sizes = []
        original = self.client.transport.write

        def write(data: bytes) -> None:
            sizes.append(len(data))
            original(data)

        self.client.transport.write = write  # type: ignore[method-assign]
        self.client.send(b"RETR 1")
        self.assertGreater(len(sizes), 3)
        self.assertLessEqual(max(sizes), 2 * 64 * 1024 + 100)

    def test_dropWhileStreaming(self) -> None:
        """
        A connection lost in the middle of a message closes the file and
        leaves the maildrop untouched.
        """
        before = maildirFiles(self.suite, "alice")
        protocol = self.client.protocol
        original = self.client.transport.write
        self.client.transport.write = lambda data: (original(data), protocol.pauseProducing())  # type: ignore
        self.client.send(b"RETR 1", b"DELE 1", b"QUIT")
        reader = protocol._reader
        self.assertIsNotNone(reader)
        protocol.stopProducing()
        self.client.drop()
        self.assertTrue(reader.done)
        self.assertEqual(maildirFiles(self.suite, "alice"), before)

    def test_timeoutWhileStreamingClosesSilently(self) -> None:
        """
        An idle timeout in the middle of a stalled message closes without
        writing a reply into the message.
        """
        protocol = self.client.protocol
        original = self.client.transport.write
        self.client.transport.write = lambda data: (original(data), protocol.pauseProducing())  # type: ignore
        self.client.send(b"RETR 1")
        self.client.take()
        self.suite.reactor.advance(self.suite.config.pop3.idle_timeout)
        self.assertEqual(self.client.take(), b"")
        self.assertTrue(self.client.closed)


class STLSTests(SynchronousTestCase):
    """
    STLS (RFC 2595).
    """

    def test_stlsStartsTLS(self) -> None:
        """
        STLS answers C{+OK} in the clear, then starts TLS with the suite's
        options; afterwards STLS is no longer offered and plaintext
        logins are allowed from anywhere.
        """
        suite = newSuite(self)
        client = Client(suite, host=REMOTE)
        self.assertIn(b"STLS", client.send(b"CAPA"))
        client.send(b"STLS")
        self.assertEqual(client.transport.writtenBeforeTLS, b"+OK Begin TLS negotiation now.\r\n")
        self.assertIs(client.transport.tlsOptions, suite.tlsOptions)
        capabilities = client.send(b"CAPA")
        self.assertNotIn(b"STLS", capabilities)
        self.assertIn(b"\r\nUSER\r\n", capabilities)
        self.assertTrue(client.login().endswith(b"+OK Logged in: 0 messages (0 octets).\r\n"))

    def test_bufferedPlaintextDiscarded(self) -> None:
        """
        Commands sent in the clear after STLS, in the same segment, are
        discarded, never executed after the handshake.
        """
        suite = newSuite(self, allow_plaintext_auth=True)
        deliver(suite, "alice", b"a: b\r\n\r\nx\r\n")
        client = Client(suite, host=REMOTE)
        client.protocol.dataReceived(b"STLS\r\nUSER alice\r\nPASS secret\r\nDELE 1\r\nQUIT\r\nNOO")
        self.assertEqual(client.take(), b"+OK Begin TLS negotiation now.\r\n")
        self.assertEqual(client.send(b"P"), b"-ERR Unknown command: P\r\n")
        self.assertEqual(client.send(b"NOOP"), b"-ERR NOOP is not valid in the AUTHORIZATION state.\r\n")
        self.assertEqual(len(self.successResultOf(suite.store.listMessages("alice"))), 1)

    def test_stlsInsideTLS(self) -> None:
        """
        STLS inside TLS is refused.
        """
        client = Client(newSuite(self), secure=True)
        self.assertEqual(client.send(b"STLS"), b"-ERR STLS is not available (TLS is already active).\r\n")

    def test_stlsTwice(self) -> None:
        """
        A second STLS is refused.
        """
        client = Client(newSuite(self))
        client.send(b"STLS")
        self.assertEqual(client.send(b"STLS"), b"-ERR STLS is not available (TLS is already active).\r\n")

    def test_stlsWithoutTLSOptions(self) -> None:
        """
        With STARTTLS/STLS turned off in the config, STLS is neither offered
        nor accepted.
        """
        client = Client(newSuite(self, **{"tls.starttls": False}))
        self.assertNotIn(b"STLS", client.send(b"CAPA"))
        self.assertTrue(client.send(b"STLS").startswith(b"-ERR"))


@implementer(IMailbox)
class EmbedderMailbox:
    """
    An embedder's IMailbox: Deferred listing, text-mode files, deletes at
    once in deleteMessage (which we only call in UPDATE).
    """

    def __init__(self) -> None:
        self.messages = ["Subject: one\n\n.dot\n", "Subject: two\n\nbody\n"]
        self.deleted: list[int] = []
        self.synced = False

    def listMessages(self, index: int | None = None) -> Any:
        sizes = [len(m.replace("\n", "\r\n")) for m in self.messages]
        return succeed(sizes if index is None else sizes[index])

    def getMessage(self, index: int) -> Any:
        return io.StringIO(self.messages[index])

    def getUidl(self, index: int) -> str:
        return f"uid-{index}"

    def deleteMessage(self, index: int) -> None:
        self.deleted.append(index)

    def undeleteMessages(self) -> None:
        pass

    def sync(self) -> Deferred:
        self.synced = True
        return succeed(None)


class EmbedderMailboxTests(SynchronousTestCase):
    """
    Any C{twisted.mail.pop3.IMailbox} avatar plugs in unchanged.
    """

    def setUp(self) -> None:
        self.suite = newSuite(self)
        self.mailbox = EmbedderMailbox()
        self.released: list[bool] = []
        realm = self.suite.portal.realm
        realm.requestAvatar = lambda avatarId, mind, *interfaces: (
            IMailbox, self.mailbox, lambda: self.released.append(True))
        self.client = Client(self.suite)
        self.client.login()

    def test_readAndDelete(self) -> None:
        """
        Listing, RETR (text file, dot-stuffed), UIDL; DELE reaches the
        mailbox only in UPDATE, followed by C{sync} and logout.
        """
        self.assertEqual(self.client.send(b"UIDL 2"), b"+OK 2 uid-1\r\n")
        self.assertEqual(self.client.send(b"RETR 1"), b"+OK 22 octets\r\nSubject: one\r\n\r\n..dot\r\n.\r\n")
        self.client.send(b"DELE 2")
        self.assertEqual(self.mailbox.deleted, [])
        self.client.send(b"QUIT")
        self.assertEqual(self.mailbox.deleted, [1])
        self.assertTrue(self.mailbox.synced)
        self.assertEqual(self.released, [True])

    def test_syncFailure(self) -> None:
        """
        A failing UPDATE is reported with C{-ERR} and the session still ends.
        """
        def broken() -> None:
            raise OSError("disk gone")

        self.mailbox.sync = broken  # type: ignore[method-assign]
        self.client.send(b"DELE 1")
        self.assertEqual(self.client.send(b"QUIT"),
                         b"-ERR [SYS/TEMP] Some deleted messages were not removed.\r\n")
        self.assertEqual(len(self.flushLoggedErrors(OSError)), 1)
        self.assertTrue(self.client.closed)
        self.assertEqual(self.released, [True])

    def test_deferredMessage(self) -> None:
        """
        A C{getMessage} that returns a Deferred is waited for; commands
        queue behind it.
        """
        pending: Deferred = Deferred()
        self.mailbox.getMessage = lambda index: pending  # type: ignore[method-assign]
        self.assertEqual(self.client.send(b"RETR 2", b"NOOP"), b"")
        pending.callback(io.BytesIO(b"Subject: two\n\nbody\n"))
        self.assertEqual(self.client.take(), b"+OK 22 octets\r\nSubject: two\r\n\r\nbody\r\n.\r\n+OK\r\n")

    def test_listingFailure(self) -> None:
        """
        A maildrop that cannot be listed fails the login with C{[SYS/TEMP]}
        and releases it.
        """
        def broken(index: int | None = None) -> None:
            raise OSError("cannot list")

        self.mailbox.listMessages = broken  # type: ignore[method-assign]
        client = Client(self.suite)
        self.assertEqual(client.login(), b"+OK Send your password.\r\n"
                                         b"-ERR [SYS/TEMP] Temporary server failure, try again later.\r\n")
        self.assertEqual(len(self.flushLoggedErrors(OSError)), 1)
        self.assertEqual(self.released, [True])


class ShutdownTests(SynchronousTestCase):
    """
    Graceful shutdown: the factory's C{drain} (called by the service after
    the listeners closed).
    """

    def setUp(self) -> None:
        self.suite = newSuite(self)
        self.factory = self.suite.factories["pop3"]
        deliver(self.suite, "alice", b"Subject: big\r\n\r\n" + b"x" * 70 + b"\r\n" * 4000)

    def test_idleSessionsClosed(self) -> None:
        """
        An idle session is told and closed; what it marked is not deleted;
        C{drain} fires once the connections are gone.
        """
        client = Client(self.suite)
        client.login()
        client.send(b"DELE 1")
        drained = self.factory.drain(10)
        self.assertEqual(client.take(), b"-ERR [SYS/TEMP] Server shutting down.\r\n")
        self.assertTrue(client.closed)
        self.assertNoResult(drained)
        client.drop()
        self.successResultOf(drained)
        self.assertEqual(len(self.successResultOf(self.suite.store.listMessages("alice"))), 1)

    def test_messageFinishedFirst(self) -> None:
        """
        A message being sent is finished before the session is closed;
        queued commands are not run.
        """
        client = Client(self.suite)
        client.login()
        protocol = client.protocol
        original = client.transport.write
        client.transport.write = lambda data: (original(data), protocol.pauseProducing())  # type: ignore
        output = client.send(b"RETR 1", b"DELE 1", b"QUIT")
        client.transport.write = original  # type: ignore[method-assign]
        self.factory.drain(10)
        self.assertFalse(client.closed)
        protocol.resumeProducing()
        output += client.take()
        self.assertTrue(output.endswith(b"\r\n.\r\n-ERR [SYS/TEMP] Server shutting down.\r\n"))
        self.assertTrue(client.closed)
        client.drop()
        self.assertEqual(len(self.successResultOf(self.suite.store.listMessages("alice"))), 1)

    def test_stuckConnectionsAborted(self) -> None:
        """
        A connection that cannot finish within the timeout is aborted.
        """
        client = Client(self.suite)
        client.login()
        protocol = client.protocol
        original = client.transport.write
        client.transport.write = lambda data: (original(data), protocol.pauseProducing())  # type: ignore
        client.send(b"RETR 1")
        drained = self.factory.drain(5)
        self.suite.reactor.advance(5)
        self.assertTrue(client.transport.disconnected)
        client.drop()
        self.successResultOf(drained)

    def test_nothingToDrain(self) -> None:
        """
        Without connections, C{drain} is done at once.
        """
        self.successResultOf(self.factory.drain(5))


class RandomSessionTests(SynchronousTestCase):
    """
    Random command sequences, in any state, from any address.
    """

    verbs = st.sampled_from([b"USER", b"PASS", b"APOP", b"AUTH", b"STLS", b"CAPA", b"STAT", b"LIST",
                             b"UIDL", b"RETR", b"TOP", b"DELE", b"RSET", b"NOOP", b"QUIT", b"user",
                             b"XYZ", b""])
    arguments = st.sampled_from([b"", b"alice", b"secret", b"1", b"0", b"99", b"1 0", b"1 x",
                                 b"PLAIN", b"PLAIN " + plain(b"alice", b"secret"), b"*",
                                 b"\xff\x00", b"alice " + b"0" * 32, b" 1 "])

    @settings(max_examples=60, deadline=None)
    @given(lines=st.lists(st.tuples(verbs, arguments, st.sampled_from([0, 1, 30])), max_size=12),
           remote=st.booleans())
    def test_neverFailsAndAlwaysReleases(self, lines: list[tuple[bytes, bytes, int]], remote: bool) -> None:
        """
        Whatever the client sends, every line is answered without an
        internal error, and once the connection is gone the maildrop is free
        and the connection is no longer counted.
        """
        suite = newSuite(self)
        deliver(suite, "alice", b"Subject: x\r\n\r\n.body\r\n")
        client = Client(suite, host=REMOTE if remote else "127.0.0.1")
        for verb, argument, seconds in lines:
            client.protocol.dataReceived(verb + b" " + argument + b"\r\n")
            suite.reactor.advance(seconds)
        self.assertNotIn(b"[SYS/TEMP]", client.take())
        client.drop()
        suite.reactor.advance(60)
        self.assertFalse(suite.maildropLocks.isHeld("alice"))
        self.assertEqual(suite.factories["pop3"].connections, 0)
