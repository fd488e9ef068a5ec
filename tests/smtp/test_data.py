# -*- test-case-name: tests.smtp.test_data -*-
"""
The DATA scanner (end of text, dot-stuffing, bare CR/LF, line length, size)
and the message writer (trace fields, Subject, streaming into the store).
"""
from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from twisted.internet.defer import succeed
from twisted.trial.unittest import SynchronousTestCase

from twisted_mail_suite.errors import DeliveryFailed
from twisted_mail_suite.smtp.data import DataScanner, MessageWriter, subjectOf

TEXT = (b"From: a@b.test\r\nSubject: hello\r\n\r\n"
        b"first\r\n..leading dot\r\n.\tdot tab\r\n\r\nlast\r\n")
UNSTUFFED = (b"From: a@b.test\r\nSubject: hello\r\n\r\n"
             b"first\r\n.leading dot\r\n\tdot tab\r\n\r\nlast\r\n")

# The seven look-alikes of <CRLF>.<CRLF> that must not end DATA.
BARE_ENDS = [b"\n.\n", b"\r.\r", b"\n.\r\n", b"\r\n.\n", b"\r.\r\n", b"\r\n.\r", b"\n.\r"]


def scan(chunks: list[bytes], maxSize: int = 0, normalize: bool = True) -> tuple[bytes, bytes | None, DataScanner]:
    """
    Feed C{chunks}; return (text written, bytes after the end or None, scanner).
    """
    written: list[bytes] = []
    scanner = DataScanner(written.append, maxSize, normalize)
    rest = None
    for index, chunk in enumerate(chunks):
        rest = scanner.feed(chunk)
        if rest is not None:
            rest += b"".join(chunks[index + 1:])
            break
    return b"".join(written), rest, scanner


class EndOfDataTests(SynchronousTestCase):
    def test_wholeChunk(self) -> None:
        """
        The text up to C{<CRLF>.<CRLF>} is written unstuffed; what follows
        is handed back.
        """
        written, rest, scanner = scan([TEXT + b".\r\nQUIT\r\n"])
        self.assertEqual((written, rest), (UNSTUFFED, b"QUIT\r\n"))
        self.assertEqual(scanner.size, len(UNSTUFFED))
        self.assertIsNone(scanner.rejection)

    def test_splitAtEveryOffset(self) -> None:
        """
        Split in two at any offset, the result is the same.
        """
        data = TEXT + b".\r\nNOOP\r\n"
        for offset in range(len(data) + 1):
            written, rest, _ = scan([data[:offset], data[offset:]])
            self.assertEqual((written, rest), (UNSTUFFED, b"NOOP\r\n"), offset)

    def test_byteByByte(self) -> None:
        """
        One byte at a time, the result is the same.
        """
        data = TEXT + b".\r\n"
        written, rest, _ = scan([data[i:i + 1] for i in range(len(data))])
        self.assertEqual((written, rest), (UNSTUFFED, b""))

    def test_emptyMessage(self) -> None:
        """
        A lone C{.} line right after DATA ends an empty message.
        """
        self.assertEqual(scan([b".\r\n"])[:2], (b"", b""))

    def test_leadingDot(self) -> None:
        """
        The first line is unstuffed too.
        """
        self.assertEqual(scan([b"..x\r\n.\r\n"])[:2], (b".x\r\n", b""))

    def test_dotLineNotAtLineStart(self) -> None:
        """
        C{x.} followed by CRLF is text, not the end.
        """
        self.assertEqual(scan([b"x.\r\n", b".\r\n"])[:2], (b"x.\r\n", b""))

    def test_bareEndsDoNotEndData(self) -> None:
        """
        None of the seven bare-CR/LF look-alikes ends DATA; with
        C{normalize} every bare CR or LF becomes CRLF in the stored text.
        """
        for fake in BARE_ENDS:
            data = b"a" + fake + b"MAIL FROM:<x@y.test>\r\n.\r\n"
            written, rest, scanner = scan([data])
            self.assertEqual(rest, b"", fake)
            self.assertIsNone(scanner.rejection, fake)
            self.assertNotIn(b"\r\r", written)
            self.assertEqual(written.count(b"\r\n"), written.count(b"\n"), fake)
            self.assertEqual(written.count(b"\r\n"), written.count(b"\r"), fake)
            self.assertTrue(written.endswith(b"MAIL FROM:<x@y.test>\r\n"), fake)

    def test_bareEndsSplitAtEveryOffset(self) -> None:
        """
        The look-alikes split across chunks still do not end DATA.
        """
        for fake in BARE_ENDS:
            data = b"a" + fake + b"b\r\n.\r\n"
            for offset in range(len(data) + 1):
                rest = scan([data[:offset], data[offset:]])[1]
                self.assertEqual(rest, b"", (fake, offset))

    def test_bareNewlineRejected(self) -> None:
        """
        With C{reject}, a bare CR or LF rejects the message with 550 5.6.0;
        the scan still runs to the real end.
        """
        for fake in BARE_ENDS:
            written, rest, scanner = scan([b"a" + fake + b"b\r\n.\r\nNOOP\r\n"], normalize=False)
            self.assertEqual(rest, b"NOOP\r\n")
            assert scanner.rejection is not None
            self.assertEqual(scanner.rejection.code, b"550 5.6.0")

    def test_normalizedLineIsNotUnstuffed(self) -> None:
        """
        A dot after a bare LF is kept: only real line starts are unstuffed.
        """
        self.assertEqual(scan([b"a\n.b\r\n.\r\n"])[0], b"a\r\n.b\r\n")


class LimitTests(SynchronousTestCase):
    def test_lineOfThousandOctets(self) -> None:
        """
        A line of 1000 octets with its CRLF is accepted.
        """
        line = b"x" * 998 + b"\r\n"
        written, _, scanner = scan([line + b".\r\n"])
        self.assertIsNone(scanner.rejection)
        self.assertEqual(written, line)

    def test_longLineRejectedButStaysInData(self) -> None:
        """
        A 1001-octet line rejects the message with 500 5.5.2, and the
        commands that follow it inside the text are not executed: the scan
        goes on to C{<CRLF>.<CRLF>}.
        """
        data = b"x" * 999 + b"\r\nRSET\r\nMAIL FROM:<evil@x.test>\r\n.\r\nNOOP\r\n"
        written, rest, scanner = scan([data])
        self.assertEqual(rest, b"NOOP\r\n")
        assert scanner.rejection is not None
        self.assertEqual(scanner.rejection.code, b"500 5.5.2")
        self.assertEqual(written, b"")

    def test_longLineAcrossChunks(self) -> None:
        """
        A long line that arrives in pieces without any CRLF is caught too,
        without holding it all in memory.
        """
        chunks = [b"y" * 700] * 10 + [b"\r\n.\r\n"]
        written, rest, scanner = scan(chunks)
        self.assertEqual(rest, b"")
        assert scanner.rejection is not None
        self.assertEqual(scanner.rejection.code, b"500 5.5.2")
        self.assertLess(len(scanner._carry), 2)

    def test_longLineEndSplit(self) -> None:
        """
        After a long line, a terminator split as CR | LF.CRLF still ends DATA.
        """
        rest = scan([b"z" * 1500 + b"\r", b"\n.\r\nQUIT\r\n"])[1]
        self.assertEqual(rest, b"QUIT\r\n")

    def test_sizeLimit(self) -> None:
        """
        A text of exactly the limit is accepted; one octet more is
        rejected with 552 5.3.4 and nothing more is written.
        """
        line = b"x" * 48 + b"\r\n"
        written, _, scanner = scan([line * 2 + b".\r\n"], maxSize=100)
        self.assertIsNone(scanner.rejection)
        written, rest, scanner = scan([line * 2, b"y\r\n", b".\r\nQUIT\r\n"], maxSize=100)
        self.assertEqual(rest, b"QUIT\r\n")
        assert scanner.rejection is not None
        self.assertEqual(scanner.rejection.code, b"552 5.3.4")
        self.assertEqual(written, line * 2)


class SubjectTests(SynchronousTestCase):
    def test_simple(self) -> None:
        """
        The Subject field's text.
        """
        self.assertEqual(subjectOf(b"From: a\r\nsubject:  Hi there \r\n\r\nbody"), "Hi there")

    def test_folded(self) -> None:
        """
        A folded Subject is unfolded.
        """
        self.assertEqual(subjectOf(b"Subject: one\r\n two\r\n\r\n"), "one two")

    def test_encodedWords(self) -> None:
        """
        RFC 2047 encoded words are decoded.
        """
        self.assertEqual(subjectOf(b"Subject: =?utf-8?q?gr=C3=BC=C3=9Fe?=\r\n\r\n"), "grüße")

    def test_onlyInHeader(self) -> None:
        """
        A "Subject:" line in the body does not count.
        """
        self.assertEqual(subjectOf(b"From: a\r\n\r\nSubject: no\r\n"), "")
        self.assertEqual(subjectOf(b"\r\nSubject: no\r\n"), "")


class FakePending:
    def __init__(self) -> None:
        self.data = b""
        self.aborted = False
        self.size = 0

    def write(self, data: bytes) -> None:
        self.data += data

    def commit(self) -> Any:
        return succeed(["uid1"])

    def abort(self) -> None:
        self.aborted = True


class WriterTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.pending = FakePending()
        self.subjects: list[str] = []

    def begin(self, subject: str) -> FakePending:
        self.subjects.append(subject)
        return self.pending

    def test_smallMessage(self) -> None:
        """
        A small message is begun at commit with its Subject, after the trace fields.
        """
        writer = MessageWriter(b"Return-Path: <a@b.test>\r\n", self.begin)
        writer.write(b"Subject: s\r\n\r\n")
        writer.write(b"body\r\n")
        self.assertEqual(self.subjects, [])
        self.assertEqual(self.successResultOf(writer.commit()), ["uid1"])
        self.assertEqual(self.subjects, ["s"])
        self.assertEqual(self.pending.data, b"Return-Path: <a@b.test>\r\nSubject: s\r\n\r\nbody\r\n")

    def test_bigMessageStreams(self) -> None:
        """
        Past the header window the delivery is begun and the text streams.
        """
        writer = MessageWriter(b"", self.begin)
        writer.write(b"Subject: big\r\n\r\n" + b"x" * MessageWriter.HEADER_WINDOW)
        self.assertEqual(self.subjects, ["big"])
        writer.write(b"tail")
        self.assertTrue(self.pending.data.endswith(b"xtail"))

    def test_beginFails(self) -> None:
        """
        If the store cannot begin, commit fails with L{DeliveryFailed}.
        """
        def broken(subject: str) -> Any:
            raise OSError("disk full")

        writer = MessageWriter(b"", broken)
        writer.write(b"x\r\n")
        self.failureResultOf(writer.commit(), DeliveryFailed)

    def test_abort(self) -> None:
        """
        Abort reaches the store's pending delivery.
        """
        writer = MessageWriter(b"", self.begin)
        writer.write(b"Subject: big\r\n\r\n" + b"x" * MessageWriter.HEADER_WINDOW)
        writer.abort()
        self.assertTrue(self.pending.aborted)


def reference(wire: bytes) -> tuple[bytes, bytes]:
    """
    The DATA rules applied naively, line by line: the text before the
    first <CRLF>.<CRLF> (counting the CRLF that ended the DATA command),
    unstuffed, bare CR/LF turned into CRLF; and what follows.
    """
    virtual = b"\r\n" + wire
    end = virtual.find(b"\r\n.\r\n")
    raw, rest = virtual[2:end + 2], virtual[end + 5:]
    lines = raw.split(b"\r\n")[:-1] if raw else []
    text = b"".join((line[1:] if line.startswith(b".") else line) + b"\r\n" for line in lines)
    return text.replace(b"\r\n", b"\n").replace(b"\r", b"\n").replace(b"\n", b"\r\n"), rest


class PropertyTests(SynchronousTestCase):
    @settings(max_examples=60, deadline=None)
    @given(lines=st.lists(st.lists(st.sampled_from([b"a", b".", b"\r", b"\n", b" "]), max_size=12), max_size=12),
           cuts=st.lists(st.integers(min_value=0, max_value=400), max_size=4))
    def test_matchesReference(self, lines: list[list[bytes]], cuts: list[int]) -> None:
        """
        For any text (CR, LF and dots anywhere) cut anywhere, the scanner
        agrees with the naive line-by-line rules.
        """
        wire = b"".join((b"." if line[:1] == [b"."] else b"") + b"".join(line) + b"\r\n" for line in lines)
        wire += b".\r\nNEXT\r\n"
        offsets = sorted({min(c, len(wire)) for c in cuts})
        chunks = [wire[a:b] for a, b in zip([0, *offsets], [*offsets, len(wire)])]
        written, rest, scanner = scan(chunks)
        self.assertEqual((written, rest), reference(wire))
        self.assertIsNone(scanner.rejection)

    @settings(max_examples=60, deadline=None)
    @given(lengths=st.lists(st.integers(min_value=0, max_value=1100), min_size=1, max_size=6))
    def test_longLineRule(self, lengths: list[int]) -> None:
        """
        A message is rejected for length exactly when a line is over 1000
        octets with its CRLF.
        """
        text = b"".join(b"x" * n + b"\r\n" for n in lengths)
        rejection = scan([text + b".\r\n"])[2].rejection
        self.assertEqual(rejection is not None, max(lengths) + 2 > 1000)
