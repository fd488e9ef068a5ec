# -*- test-case-name: tests.imap.test_parser -*-
"""
Tests for L{twisted_mail_suite.imap.parser}: command framing, literals
split at every byte, raw lines and the limits.
"""
from __future__ import annotations

from twisted.trial.unittest import SynchronousTestCase

from twisted_mail_suite.imap.parser import (
    CommandReader, Complete, Continue, Literal, RawLine, Refusal,
)


def events(reader: CommandReader) -> list:
    out = []
    while (event := reader.next()) is not None:
        out.append(event)
    return out


def feedAll(data: bytes, step: int | None = None, **kwargs: int) -> list:
    """
    Feed C{data} in pieces of C{step} octets (all at once if None),
    collecting every event.
    """
    reader = CommandReader(**kwargs)
    out = []
    step = step or len(data) or 1
    for i in range(0, len(data), step):
        reader.feed(data[i:i + step])
        out += events(reader)
    return out


class LineTests(SynchronousTestCase):
    def test_oneCommand(self) -> None:
        """
        A line ending in CRLF is one complete command.
        """
        self.assertEqual(feedAll(b"a1 NOOP\r\n"), [Complete((b"a1 NOOP",))])

    def test_bareLF(self) -> None:
        """
        A line ending in a bare LF is accepted too.
        """
        self.assertEqual(feedAll(b"a1 NOOP\n"), [Complete((b"a1 NOOP",))])

    def test_partialLine(self) -> None:
        """
        Nothing comes out until the line end arrives.
        """
        reader = CommandReader()
        reader.feed(b"a1 NO")
        self.assertIsNone(reader.next())
        reader.feed(b"OP\r")
        self.assertIsNone(reader.next())
        reader.feed(b"\n")
        self.assertEqual(reader.next(), Complete((b"a1 NOOP",)))

    def test_pipelined(self) -> None:
        """
        Several commands in one segment come out one at a time, in order.
        """
        self.assertEqual(feedAll(b"a NOOP\r\nb CAPABILITY\r\n"),
                         [Complete((b"a NOOP",)), Complete((b"b CAPABILITY",))])

    def test_emptyLinesIgnored(self) -> None:
        """
        Empty lines are skipped.
        """
        self.assertEqual(feedAll(b"\r\n\r\na NOOP\r\n"), [Complete((b"a NOOP",))])

    def test_tag(self) -> None:
        """
        A complete command knows its tag.
        """
        self.assertEqual(Complete((b"x12 NOOP",)).tag, b"x12")
        self.assertIsNone(Complete((b"+bad NOOP",)).tag)

    def test_eightBit(self) -> None:
        """
        8-bit octets pass through untouched.
        """
        line = b"a SELECT \xc3\xa9t\xc3\xa9"
        self.assertEqual(feedAll(line + b"\r\n"), [Complete((line,))])


class LiteralTests(SynchronousTestCase):
    COMMAND = b"a LOGIN {5}\r\nalice {6}\r\nsecret\r\n"
    EXPECTED = [Continue(5), Continue(6), Complete((b"a LOGIN ", Literal(b"alice"), b" ", Literal(b"secret"), b""))]

    def test_synchronizing(self) -> None:
        """
        A synchronizing literal asks for a continuation, then its octets
        join the command.
        """
        self.assertEqual(feedAll(self.COMMAND), self.EXPECTED)

    def test_splitAtEveryByte(self) -> None:
        """
        The same events come out wherever the stream is cut, one octet at
        a time included.
        """
        for step in range(1, len(self.COMMAND) + 1):
            self.assertEqual(feedAll(self.COMMAND, step), self.EXPECTED, step)

    def test_everyTwoWayCut(self) -> None:
        """
        Any single cut of a LITERAL+ command gives the same command.
        """
        data = b"t APPEND INBOX (\\Seen) {12+}\r\nhello\r\nworld\r\n"
        expected = [Complete((b"t APPEND INBOX (\\Seen) ", Literal(b"hello\r\nworld"), b""))]
        for cut in range(len(data) + 1):
            reader = CommandReader()
            out = []
            reader.feed(data[:cut])
            out += events(reader)
            reader.feed(data[cut:])
            out += events(reader)
            self.assertEqual(out, expected, cut)

    def test_literalHoldsLineEnds(self) -> None:
        """
        CR, LF and braces inside a literal are data.
        """
        data = b"a APPEND x {8+}\r\n{3}\r\n\r\n\n\r\n"
        self.assertEqual(feedAll(data), [Complete((b"a APPEND x ", Literal(b"{3}\r\n\r\n\n"), b""))])

    def test_emptyLiteral(self) -> None:
        """
        C{{0}} is a literal of no octets.
        """
        self.assertEqual(feedAll(b"a LOGIN {0}\r\n x\r\n"),
                         [Continue(0), Complete((b"a LOGIN ", Literal(b""), b" x"))])

    def test_literal8(self) -> None:
        """
        A C{~{n}} literal (BINARY) frames like a literal.
        """
        self.assertEqual(feedAll(b"a APPEND x ~{2+}\r\nhi\r\n"),
                         [Complete((b"a APPEND x ", Literal(b"hi"), b""))])

    def test_notAMarker(self) -> None:
        """
        Braces that do not end the line are text.
        """
        self.assertEqual(feedAll(b'a SEARCH TEXT "{5}" x\r\n'), [Complete((b'a SEARCH TEXT "{5}" x',))])


class RawLineTests(SynchronousTestCase):
    def test_rawLine(self) -> None:
        """
        After C{readRawLine}, the next line comes out raw, even if it
        looks like a literal announcement; then commands again.
        """
        reader = CommandReader()
        reader.feed(b"a AUTHENTICATE PLAIN\r\nAGFsaWNl{5}\r\nb NOOP\r\n")
        self.assertEqual(reader.next(), Complete((b"a AUTHENTICATE PLAIN",)))
        reader.readRawLine()
        self.assertEqual(reader.next(), RawLine(b"AGFsaWNl{5}"))
        self.assertEqual(reader.next(), Complete((b"b NOOP",)))

    def test_discard(self) -> None:
        """
        C{discard} forgets what was received and not handed out.
        """
        reader = CommandReader()
        reader.feed(b"a STARTTLS\r\nb LOGIN x y\r\nc NO")
        self.assertEqual(reader.next(), Complete((b"a STARTTLS",)))
        reader.discard()
        self.assertEqual(reader.buffered, 0)
        self.assertIsNone(reader.next())
        reader.feed(b"d NOOP\r\n")
        self.assertEqual(reader.next(), Complete((b"d NOOP",)))


class LimitTests(SynchronousTestCase):
    def test_lineTooLong(self) -> None:
        """
        A line longer than the limit is refused as soon as the limit is
        passed, with its tag; the rest of it is skipped, and the next
        command is read.
        """
        reader = CommandReader(maxLine=100)
        reader.feed(b"t1 SEARCH " + b"x" * 200)
        self.assertEqual(reader.next(), Refusal(b"t1", "line"))
        self.assertEqual(reader.buffered, 0)
        reader.feed(b"y" * 10_000)
        self.assertIsNone(reader.next())
        self.assertEqual(reader.buffered, 0)
        reader.feed(b"yyy\r\nt2 NOOP\r\n")
        self.assertEqual(reader.next(), Complete((b"t2 NOOP",)))

    def test_completeLineTooLong(self) -> None:
        """
        A long line that arrives whole is refused too.
        """
        self.assertEqual(feedAll(b"t1 NOOP " + b"x" * 200 + b"\r\nt2 NOOP\r\n", maxLine=100),
                         [Refusal(b"t1", "line"), Complete((b"t2 NOOP",))])

    def test_hugeLiteralRefusedBeforeReading(self) -> None:
        """
        A synchronizing literal announcing 10 GB is refused on its
        announcement (no continuation is sent); the session goes on.
        """
        reader = CommandReader(maxLiteral=1000)
        reader.feed(b"t1 APPEND INBOX {10737418240}\r\nt2 NOOP\r\n")
        self.assertEqual(reader.next(), Refusal(b"t1", "literal", fatal=False))
        self.assertEqual(reader.next(), Complete((b"t2 NOOP",)))

    def test_hugeNonSynchronizingLiteralIsFatal(self) -> None:
        """
        A non-synchronizing literal over the limit is refused as fatal:
        the client is already sending it.
        """
        self.assertEqual(feedAll(b"t1 APPEND INBOX {2000+}\r\n", maxLiteral=1000),
                         [Refusal(b"t1", "literal", fatal=True)])

    def test_appendLiteralUpToLimit(self) -> None:
        """
        APPEND literals may be as large as C{maxLiteral}, beyond the line
        limit.
        """
        data = b"a APPEND x {500+}\r\n" + b"m" * 500 + b"\r\n"
        self.assertEqual(feedAll(data, maxLine=100, maxLiteral=500),
                         [Complete((b"a APPEND x ", Literal(b"m" * 500), b""))])

    def test_otherLiteralsCountAgainstTheLine(self) -> None:
        """
        The literals of other commands count against the line limit.
        """
        self.assertEqual(feedAll(b"a LOGIN {90}\r\n", maxLine=100, maxLiteral=10_000),
                         [Refusal(b"a", "literal", fatal=False)])

    def test_inCommand(self) -> None:
        """
        C{inCommand} tells whether a command is half read.
        """
        reader = CommandReader()
        reader.feed(b"a LOGIN {5}\r\nal")
        self.assertFalse(reader.inCommand)
        self.assertEqual(reader.next(), Continue(5))
        self.assertTrue(reader.inCommand)
        self.assertIsNone(reader.next())
        reader.feed(b"ice x\r\n")
        self.assertIsInstance(reader.next(), Complete)
        self.assertFalse(reader.inCommand)
