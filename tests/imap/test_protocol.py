# -*- test-case-name: tests.imap.test_protocol -*-
"""
Tests for L{twisted_mail_suite.imap.protocol} and
L{twisted_mail_suite.imap.factory}: the greeting, the command table and
state checks, bad input, IDLE and new mail from the bus.
"""
from __future__ import annotations

import os

from twisted.trial.unittest import SynchronousTestCase

from twisted_mail_suite.events import NewMailEvent
from twisted_mail_suite.imap.factory import IMAPFactory, makeFactory
from twisted_mail_suite.imap.protocol import IDLE_POLL

from .support import MESSAGE, Client, deliver, newSuite


class GreetingTests(SynchronousTestCase):
    def test_greeting(self) -> None:
        """
        The greeting is untagged OK with the capabilities and the hostname.
        """
        client = Client(newSuite(self))
        self.assertTrue(client.greeting.startswith(b"* OK [CAPABILITY IMAP4rev1 IMAP4rev2 "))
        self.assertTrue(client.greeting.endswith(b"] mx.example.test IMAP4rev2 server ready.\r\n"))

    def test_makeFactory(self) -> None:
        """
        The registry's maker builds the suite's IMAP factory from its parts.
        """
        suite = newSuite(self)
        factory = makeFactory(suite.parts)
        self.assertIsInstance(factory, IMAPFactory)
        self.assertIs(factory.portal, suite.portal)
        self.assertEqual(factory.config, suite.config.imap)
        self.assertIsInstance(suite.factories["imap"], IMAPFactory)

    def test_defaultIdleTimeout(self) -> None:
        """
        The idle timeout is 30 minutes unless configured (RFC 9051 §5.4).
        """
        from twisted_mail_suite.config import Config
        self.assertEqual(Config().imap.idle_timeout, 1800.0)
        self.assertEqual(Config().imap.listen, ("tcp:1143:interface=127.0.0.1",))

    def test_producer(self) -> None:
        """
        The protocol is its transport's streaming producer and sets TCP_NODELAY.
        """
        client = Client(newSuite(self))
        self.assertIs(client.transport.producer, client.protocol)
        self.assertTrue(client.transport.streaming)
        self.assertTrue(client.transport.noDelay)


class AnyStateTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.client = Client(newSuite(self))

    def test_capability(self) -> None:
        lines, status = self.client.command(b"CAPABILITY")
        self.assertEqual(status, b"OK Capability completed.")
        self.assertIn(b" IDLE ", lines[0])
        self.assertIn(b"AUTH=PLAIN", lines[0])
        self.assertIn(b"LITERAL+", lines[0])

    def test_noop(self) -> None:
        self.assertEqual(self.client.command(b"noop"), ([], b"OK NOOP completed."))

    def test_logout(self) -> None:
        """
        LOGOUT says BYE, completes and closes.
        """
        self.assertEqual(self.client.command(b"LOGOUT"), ([b"* BYE Logging out."], b"OK Logout completed."))
        self.assertTrue(self.client.closed)

    def test_id(self) -> None:
        lines, status = self.client.command(b'ID ("name" "imaplib")')
        self.assertEqual(lines, [b'* ID ("name" "twisted-mail-suite" "vendor" "twisted-mail-suite")'])
        self.assertEqual(self.client.command(b"ID NIL")[1], b"OK ID completed.")
        self.assertEqual(self.client.command(b'ID ("odd")')[1], b"BAD Invalid ID parameters.")


class BadInputTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.suite = newSuite(self)
        self.client = Client(self.suite)

    def test_unknownCommand(self) -> None:
        """
        An unknown command is BAD and the session goes on.
        """
        self.assertEqual(self.client.command(b"XYZZY"), ([], b"BAD Unknown command."))
        self.assertEqual(self.client.command(b"NOOP")[1], b"OK NOOP completed.")

    def test_wrongState(self) -> None:
        """
        A command not valid in the state is BAD.
        """
        self.assertEqual(self.client.command(b"SELECT INBOX")[1], b"BAD Command not valid in this state.")
        self.assertEqual(self.client.command(b"FETCH 1 FLAGS")[1], b"BAD Command not valid in this state.")
        self.client.login()
        self.assertEqual(self.client.command(b"FETCH 1 FLAGS")[1], b"BAD Command not valid in this state.")
        self.assertEqual(self.client.command(b"LOGIN a b")[1], b"BAD Command not valid in this state.")

    def test_syntaxErrors(self) -> None:
        """
        Syntax errors are BAD, tagged when the tag could be read.
        """
        self.assertEqual(self.client.send(b"a1 LOGIN (x"), b"a1 BAD Unbalanced parentheses\r\n")
        self.assertEqual(self.client.send(b'a2 LOGIN "x'), b"a2 BAD Unterminated quoted string\r\n")
        self.assertEqual(self.client.send(b"+x NOOP"), b"* BAD Invalid tag\r\n")
        self.assertEqual(self.client.send(b"a3"), b"a3 BAD Missing or invalid command name\r\n")
        self.assertEqual(self.client.send(b"a4 LOGIN onlyone"), b"a4 BAD Missing password\r\n")
        self.assertEqual(self.client.send(b"a5 NOOP extra"), b"a5 BAD Unexpected extra arguments\r\n")

    def test_junkLimit(self) -> None:
        """
        Past C{max_bad_commands} BAD replies the client is told BYE.
        """
        client = Client(newSuite(self, **{"imap.max_bad_commands": 3}))
        for _ in range(3):
            client.send(b"a JUNK")
        self.assertFalse(client.closed)
        self.assertEqual(client.send(b"a JUNK"), b"a BAD Unknown command.\r\n* BYE Too many invalid commands.\r\n")
        self.assertTrue(client.closed)

    def test_lineTooLong(self) -> None:
        """
        A line past the limit is BAD; the session goes on.
        """
        client = Client(newSuite(self, **{"imap.max_line_length": 100}))
        self.assertEqual(client.send(b"a1 NOOP " + b"x" * 200), b"a1 BAD Command line too long.\r\n")
        self.assertEqual(client.send(b"a2 NOOP"), b"a2 OK NOOP completed.\r\n")

    def test_hugeLiteral(self) -> None:
        """
        An APPEND announcing 10 GB is refused before reading (no
        continuation); the session goes on.
        """
        self.client.login()
        self.assertEqual(self.client.send(b"a1 APPEND INBOX {10737418240}"),
                         b"a1 NO [TOOBIG] Literal too large.\r\n")
        self.assertEqual(self.client.send(b"a2 NOOP"), b"a2 OK NOOP completed.\r\n")

    def test_hugeNonSynchronizingLiteral(self) -> None:
        """
        A LITERAL+ literal past the limit is refused and the connection
        closed: the client is already sending it.
        """
        self.client.login()
        self.assertEqual(self.client.send(b"a1 APPEND INBOX {10737418240+}"),
                         b"a1 BAD [TOOBIG] Literal too large.\r\n* BYE [TOOBIG] Literal too large.\r\n")
        self.assertTrue(self.client.closed)

    def test_passwordLiteralBounded(self) -> None:
        """
        Literals of commands other than APPEND are bounded by the line limit.
        """
        client = Client(newSuite(self, **{"imap.max_line_length": 1000}))
        self.assertEqual(client.send(b"a1 LOGIN alice {5000}"), b"a1 NO [TOOBIG] Literal too large.\r\n")

    def test_pipelined(self) -> None:
        """
        Commands sent together are answered in order.
        """
        out = self.client.raw(b"a1 NOOP\r\na2 LOGIN alice secret\r\na3 SELECT INBOX\r\na4 NOOP\r\n")
        tags = [line.split(b" ")[0] for line in out.split(b"\r\n") if line and not line.startswith(b"*")]
        self.assertEqual(tags, [b"a1", b"a2", b"a3", b"a4"])

    def test_literalLogin(self) -> None:
        """
        Literals work in any argument: LOGIN with both as literals.
        """
        self.assertEqual(self.client.send(b"a1 LOGIN {5}"), b"+ Ready for literal data\r\n")
        self.assertEqual(self.client.send(b"alice {6+}"), b"")
        self.assertTrue(self.client.send(b"secret").startswith(b"a1 OK [CAPABILITY"))


class IdleTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.suite = newSuite(self)
        self.client = Client(self.suite)
        self.client.login()
        self.client.select()

    def test_idleDone(self) -> None:
        """
        IDLE is answered with a continuation and ends with DONE.
        """
        self.assertEqual(self.client.send(b"a1 IDLE"), b"+ idling\r\n")
        self.assertEqual(self.client.send(b"DONE"), b"a1 OK IDLE terminated.\r\n")

    def test_newMailPushed(self) -> None:
        """
        A delivery is pushed to a client in IDLE as EXISTS at once (the
        store's NewMailEvent on the bus).
        """
        self.client.send(b"a1 IDLE")
        deliver(self.suite, "alice", MESSAGE)
        self.assertEqual(self.client.take(), b"* 1 EXISTS\r\n* 1 RECENT\r\n")
        self.assertEqual(self.client.send(b"DONE"), b"a1 OK IDLE terminated.\r\n")

    def test_otherUsersMailNotPushed(self) -> None:
        self.client.send(b"a1 IDLE")
        deliver(self.suite, "bob", MESSAGE)
        self.assertEqual(self.client.take(), b"")

    def test_otherSessionChangesPushed(self) -> None:
        """
        Flag changes and expunges by another session reach a client in IDLE.
        """
        deliver(self.suite, "alice", MESSAGE)
        self.client.ok(b"NOOP")
        other = Client(self.suite)
        other.login()
        other.select()
        self.client.send(b"a1 IDLE")
        other.ok(b"STORE 1 +FLAGS (\\Flagged)")
        self.assertEqual(self.client.take(), b"* 1 FETCH (UID 1 FLAGS (\\Flagged \\Recent))\r\n")
        other.ok(b"STORE 1 +FLAGS (\\Deleted)")
        other.ok(b"EXPUNGE")
        self.assertIn(b"* 1 EXPUNGE\r\n", self.client.take())

    def test_idlePollsTheFolder(self) -> None:
        """
        A change no session of the process made (another program, process
        or node) reaches a client in IDLE at the next look at the folder.
        """
        deliver(self.suite, "alice", MESSAGE)
        self.client.ok(b"NOOP")
        self.client.send(b"a1 IDLE")
        cur = os.path.join(self.suite.config.mailDir, "alice", "cur")
        [name] = os.listdir(cur)
        os.rename(os.path.join(cur, name), os.path.join(cur, name + "F"))
        self.suite.reactor.advance(IDLE_POLL - 1)
        self.assertEqual(self.client.take(), b"")
        self.suite.reactor.advance(1)
        self.assertEqual(self.client.take(), b"* 1 FETCH (UID 1 FLAGS (\\Flagged \\Recent))\r\n")
        self.assertEqual(self.client.send(b"DONE"), b"a1 OK IDLE terminated.\r\n")
        polls = [call for call in self.suite.reactor.getDelayedCalls() if call.func.__name__ == "_idlePoll"]
        self.assertEqual(polls, [])         # no look at the folder out of IDLE

    def test_notDone(self) -> None:
        """
        Anything but DONE ends IDLE with BAD.
        """
        self.client.send(b"a1 IDLE")
        self.assertEqual(self.client.send(b"a2 NOOP"), b"a1 BAD Expected DONE.\r\n")

    def test_pipelinedDone(self) -> None:
        """
        IDLE, DONE and the next command in one segment work.
        """
        out = self.client.raw(b"a1 IDLE\r\nDONE\r\na2 NOOP\r\n")
        self.assertEqual(out, b"+ idling\r\na1 OK IDLE terminated.\r\na2 OK NOOP completed.\r\n")

    def test_eventForOtherMailbox(self) -> None:
        """
        A new-mail event while another mailbox is selected pushes nothing.
        """
        self.client.ok(b"SELECT Sent")
        self.client.send(b"a1 IDLE")
        self.suite.bus.publish(NewMailEvent("alice", "", "", "x"))
        self.assertEqual(self.client.take(), b"")
