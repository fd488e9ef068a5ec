# -*- test-case-name: tests.imap.test_fetch -*-
"""
Tests for L{twisted_mail_suite.imap.fetch} and
L{twisted_mail_suite.imap.messageinfo}: every data item, sections and
partials, \\Seen on reading, streaming, the cache and vanished files.
"""
from __future__ import annotations

import os

from twisted.trial.unittest import SynchronousTestCase

from twisted_mail_suite.imap.fetch import FLUSH, parseItems
from twisted_mail_suite.imap.grammar import Arguments, tokenize
from twisted_mail_suite.imap.responses import IMAPError

from .support import MESSAGE, Client, deliver, newSuite
from .test_mime import MIXED

BIG = b"Subject: big\r\n\r\n" + b"".join(b"line %06d " % i + b"x" * 80 + b"\r\n" for i in range(20_000))


class FetchTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.suite = newSuite(self)
        deliver(self.suite, "alice", MESSAGE)
        deliver(self.suite, "alice", MIXED)
        self.client = Client(self.suite)
        self.client.login()
        self.client.select()

    def test_simpleItems(self) -> None:
        lines = self.client.ok(b"FETCH 1:* (UID FLAGS RFC822.SIZE)")
        self.assertEqual(lines, [b"* 1 FETCH (UID 1 FLAGS (\\Recent) RFC822.SIZE %d)" % len(MESSAGE),
                                 b"* 2 FETCH (UID 2 FLAGS (\\Recent) RFC822.SIZE %d)" % len(MIXED)])

    def test_macros(self) -> None:
        """
        FAST, ALL and FULL expand as RFC 9051 says.
        """
        fast = self.client.ok(b"FETCH 1 FAST")[0]
        self.assertRegex(fast, rb'^\* 1 FETCH \(FLAGS \(\\Recent\) INTERNALDATE "[^"]+" RFC822.SIZE \d+\)$')
        self.assertIn(b" ENVELOPE (", self.client.ok(b"FETCH 1 ALL")[0])
        self.assertIn(b' BODY ("TEXT" "PLAIN"', self.client.ok(b"FETCH 1 FULL")[0])

    def test_uidFetchAddsUID(self) -> None:
        self.assertEqual(self.client.ok(b"UID FETCH 2 FLAGS"), [b"* 2 FETCH (UID 2 FLAGS (\\Recent))"])

    def test_uidRange(self) -> None:
        """
        UID ranges beyond the largest UID name the last message; nothing
        matching is an empty result.
        """
        self.assertEqual(len(self.client.ok(b"UID FETCH 2:* UID")), 1)
        self.assertEqual(len(self.client.ok(b"UID FETCH 5:* UID")), 1)
        self.assertEqual(self.client.ok(b"UID FETCH 7 UID"), [])

    def test_badSequence(self) -> None:
        self.assertEqual(self.client.command(b"FETCH 3 FLAGS")[1], b"BAD Invalid message sequence number")
        self.assertEqual(self.client.command(b"FETCH 0 FLAGS")[1], b"BAD Invalid sequence set")

    def test_envelope(self) -> None:
        line = self.client.ok(b"FETCH 1 ENVELOPE")[0]
        self.assertEqual(line, b'* 1 FETCH (ENVELOPE ("Tue, 2 Jan 2024 10:00:00 +0000" "Hello" '
                               b'(("Bob" NIL "bob" "example.test")) (("Bob" NIL "bob" "example.test")) '
                               b'(("Bob" NIL "bob" "example.test")) ((NIL NIL "alice" "example.test")) '
                               b'NIL NIL NIL "<m1@example.test>"))')

    def test_bodyPeek(self) -> None:
        """
        BODY.PEEK[] returns the message and leaves \\Seen alone.
        """
        line = self.client.ok(b"FETCH 1 BODY.PEEK[]")[0]
        self.assertEqual(line, b"* 1 FETCH (BODY[] {%d}\r\n%s)" % (len(MESSAGE), MESSAGE))
        self.assertEqual(self.client.ok(b"FETCH 1 FLAGS"), [b"* 1 FETCH (FLAGS (\\Recent))"])

    def test_bodySetsSeen(self) -> None:
        """
        BODY[] sets \\Seen, reported in the same response.
        """
        line = self.client.ok(b"FETCH 1 BODY[TEXT]")[0]
        self.assertEqual(line, b"* 1 FETCH (BODY[TEXT] {11}\r\nHi Alice!\r\n FLAGS (\\Seen \\Recent))")
        names = os.listdir(os.path.join(self.suite.config.mailDir, "alice", "cur"))
        self.assertTrue(any(name.endswith(":2,S") for name in names))

    def test_rfc822Items(self) -> None:
        line = self.client.ok(b"FETCH 1 (RFC822.HEADER RFC822.TEXT)")[0]
        header = MESSAGE[:MESSAGE.index(b"\r\n\r\n") + 4]
        self.assertTrue(line.startswith(b"* 1 FETCH (RFC822.HEADER {%d}\r\n%s RFC822.TEXT {11}\r\nHi Alice!\r\n"
                                        % (len(header), header)))
        self.assertTrue(self.client.ok(b"FETCH 1 RFC822")[0].startswith(b"* 1 FETCH (RFC822 {%d}\r\nFrom: " % len(MESSAGE)))

    def test_partial(self) -> None:
        """
        C{<start.length>} returns that slice, named by its start.
        """
        self.assertEqual(self.client.ok(b"FETCH 1 BODY.PEEK[]<6.3>"), [b"* 1 FETCH (BODY[]<6> {3}\r\nBob)"])
        self.assertEqual(self.client.ok(b"FETCH 1 BODY.PEEK[TEXT]<3.100>"), [b"* 1 FETCH (BODY[TEXT]<3> {8}\r\nAlice!\r\n)"])
        self.assertEqual(self.client.ok(b"FETCH 1 BODY.PEEK[]<9999.5>"), [b"* 1 FETCH (BODY[]<9999> {0}\r\n)"])

    def test_headerFields(self) -> None:
        lines = self.client.ok(b"FETCH 1 BODY.PEEK[HEADER.FIELDS (SUBJECT date)]")
        self.assertEqual(lines, [b"* 1 FETCH (BODY[HEADER.FIELDS (SUBJECT date)] {56}\r\n"
                                 b"Subject: Hello\r\nDate: Tue, 2 Jan 2024 10:00:00 +0000\r\n\r\n)"])
        lines = self.client.ok(b"FETCH 1 BODY.PEEK[HEADER.FIELDS.NOT (From To Subject Date)]")
        self.assertEqual(lines, [b"* 1 FETCH (BODY[HEADER.FIELDS.NOT (From To Subject Date)] {33}\r\n"
                                 b"Message-ID: <m1@example.test>\r\n\r\n)"])

    def test_parts(self) -> None:
        lines = self.client.ok(b"FETCH 2 (BODY.PEEK[1] BODY.PEEK[3.2.MIME] BODY.PEEK[2.HEADER] BODY.PEEK[9])")
        self.assertIn(b"BODY[1] {5}\r\nfirst", lines[0])
        self.assertIn(b"BODY[3.2.MIME] {", lines[0])
        self.assertIn(b"BODY[2.HEADER] {37}\r\nSubject: inner\r\nFrom: c@d.example\r\n\r\n", lines[0])
        self.assertIn(b"BODY[9] NIL", lines[0])

    def test_bodystructure(self) -> None:
        line = self.client.ok(b"FETCH 2 BODYSTRUCTURE")[0]
        self.assertTrue(line.startswith(b'* 2 FETCH (BODYSTRUCTURE (("TEXT" "PLAIN" NIL NIL NIL "7BIT" 5 1'))

    def test_binary(self) -> None:
        lines = self.client.ok(b"FETCH 2 (BINARY.PEEK[3.2] BINARY.SIZE[3.2])")
        self.assertEqual(lines, [b"* 2 FETCH (BINARY[3.2] {9}\r\n<b>hi</b> BINARY.SIZE[3.2] 9)"])

    def test_badItems(self) -> None:
        for text in [b"FETCH 1 BOGUS", b"FETCH 1 BODY[HEADER.FIELDS]", b"FETCH 1 BODY[MIME]",
                     b"FETCH 1 (FLAGS (x))", b"FETCH 1 ()", b"FETCH 1 BODY[]<1>", b"FETCH 1 BINARY[HEADER]",
                     b"FETCH 1 FLAGS (CHANGEDSINCE 1)"]:
            self.assertTrue(self.client.command(text)[1].startswith(b"BAD"), text)

    def test_parseItems(self) -> None:
        items = parseItems(Arguments(tokenize([b"(BODY.PEEK[1.2.HEADER.FIELDS (a b)]<0.10> RFC822)"])))
        self.assertEqual([(i.name, i.kind, i.numbers, i.text, i.fields, i.partial, i.peek) for i in items], [
            (b"BODY[1.2.HEADER.FIELDS (a b)]<0>", "section", (1, 2), b"HEADER.FIELDS", (b"a", b"b"), (0, 10), True),
            (b"RFC822", "section", (), b"", (), None, False)])
        self.assertRaises(IMAPError, parseItems, Arguments(tokenize([b"BODY[0]"])))

    def test_cached(self) -> None:
        """
        The header and structure are read once: a second FETCH of
        ENVELOPE and BODYSTRUCTURE is served from the cache.
        """
        account = self.client.protocol.core.account
        self.client.ok(b"FETCH 1:2 (ENVELOPE BODYSTRUCTURE)")
        misses = account.cache.misses
        self.client.ok(b"FETCH 1:2 (ENVELOPE BODYSTRUCTURE)")
        self.assertEqual(account.cache.misses, misses)

    def test_vanishedFile(self) -> None:
        """
        A message whose file was removed by another program is left out
        and the FETCH answers NO [EXPUNGEISSUED].
        """
        cur = os.path.join(self.suite.config.mailDir, "alice", "cur")
        for name in os.listdir(cur):
            if name.split(",")[0] == self.client.protocol.core.mailbox.messages[0].unique.split(",")[0]:
                os.unlink(os.path.join(cur, name))
        lines, status = self.client.command(b"FETCH 1:2 BODY.PEEK[]")
        self.assertEqual(status, b"NO [EXPUNGEISSUED] Some of the requested messages no longer exist.")
        self.assertEqual(len(lines), 1)
        self.assertTrue(lines[0].startswith(b"* 2 FETCH"))
        self.assertEqual(self.client.command(b"NOOP"), ([b"* 1 EXPUNGE"], b"OK NOOP completed."))


class StreamingTests(SynchronousTestCase):
    def test_slowReaderPaced(self) -> None:
        """
        A client that does not read gets no more than a chunk after the
        transport says it is full; the rest follows when it drains.
        """
        suite = newSuite(self)
        for _ in range(3):
            deliver(suite, "alice", BIG)
        client = Client(suite)
        client.login()
        client.select()
        client.take()
        client.protocol.pauseProducing()
        client.raw(b"a1 FETCH 1:3 BODY.PEEK[]\r\n")
        self.assertLess(len(client.take()), 128 * 1024)
        received = b""
        for _ in range(100):
            client.protocol.resumeProducing()
            chunk = client.take()
            client.protocol.pauseProducing()
            received += chunk
            if received.endswith(b"a1 OK Fetch completed.\r\n"):
                break
        self.assertEqual(received.count(b"Subject: big"), 3)
        self.assertTrue(received.endswith(b"a1 OK Fetch completed.\r\n"))

    def test_fewLargeWrites(self) -> None:
        """
        Many small messages go out in writes past the transport's buffer
        (64 KiB: each write pauses the handler and is sent as it is, not
        joined again), each message's content once, exactly.
        """
        suite = newSuite(self)
        messages = [b"Subject: %d\r\n\r\n" % i + b"y" * 10_000 + b"\r\n" for i in range(40)]
        for message in messages:
            deliver(suite, "alice", message)
        client = Client(suite)
        client.login()
        client.select()
        client.take()
        writes: list[int] = []
        write = client.transport.write

        def recorded(data: bytes) -> None:
            writes.append(len(data))
            write(data)
        client.transport.write = recorded
        received = client.raw(b"a1 FETCH 1:* BODY.PEEK[]\r\n")
        self.assertGreater(FLUSH, 64 * 1024 - 1)
        self.assertEqual(len(writes), 7)          # 5 of 7 messages, the other 5, the tagged line
        self.assertTrue(all(size > 64 * 1024 for size in writes[:5]), writes)
        expected = b"".join(b"* %d FETCH (BODY[] {%d}\r\n%s)\r\n" % (i + 1, len(m), m)
                            for i, m in enumerate(messages))
        self.assertEqual(received, expected + b"a1 OK Fetch completed.\r\n")

    def test_bigMessageWhole(self) -> None:
        """
        A large message comes out exactly, size announced first.
        """
        suite = newSuite(self)
        deliver(suite, "alice", BIG)
        client = Client(suite)
        client.login()
        client.select()
        lines = client.ok(b"FETCH 1 BODY.PEEK[]")
        self.assertEqual(lines[0], b"* 1 FETCH (BODY[] {%d}\r\n%s)" % (len(BIG), BIG))
