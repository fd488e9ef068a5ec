# -*- test-case-name: tests.pop3.test_stream -*-
"""
Tests for L{twisted_mail_suite.pop3.stream}: stored form -> wire form (through
L{twisted_mail_suite.store.content.FileContent}) -> a POP3 response body.
"""
from __future__ import annotations

import io
import os

from hypothesis import given, settings
from hypothesis import strategies as st
from twisted.trial.unittest import SynchronousTestCase

from twisted_mail_suite.store.maildir import wireSize
from twisted_mail_suite.pop3.stream import MessageReader, WireEncoder, stuffDots
from twisted_mail_suite.store.content import FileContent


def readAll(data: bytes | str, bodyLines: int | None = None, chunkSize: int = 65536) -> bytes:
    reader = MessageReader(FileContent(io.BytesIO(data) if isinstance(data, bytes) else io.StringIO(data),
                                       chunkSize=chunkSize), bodyLines)
    out = []
    while not reader.done:
        out.append(reader.next())
    return b"".join(out)


def reference(message: bytes, bodyLines: int | None = None) -> bytes:
    """
    RFC 1939 by the book, a line at a time: CRLF line ends, TOP's limit,
    dot-stuffing, the terminating line.
    """
    wire = message.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
    lines = wire.split(b"\r\n") if wire else []
    if wire.endswith(b"\r\n"):
        lines.pop()
    if bodyLines is not None and b"" in lines:
        blank = lines.index(b"")
        lines = lines[:blank + 1 + bodyLines]
    return b"".join((b"." + line if line.startswith(b".") else line) + b"\r\n"
                    for line in lines) + b".\r\n"


class WireFormTests(SynchronousTestCase):
    """
    What RETR sends for stored messages of every shape.
    """

    def test_lfBecomesCRLF(self) -> None:
        """
        Bare LF line ends (our Maildir's form) go out as CRLF.
        """
        self.assertEqual(readAll(b"a: b\n\nbody\n"), b"a: b\r\n\r\nbody\r\n.\r\n")

    def test_crlfStaysCRLF(self) -> None:
        """
        A file stored with CRLF (a foreign Maildir) is not doubled up.
        """
        self.assertEqual(readAll(b"a: b\r\n\r\nbody\r\n"), b"a: b\r\n\r\nbody\r\n.\r\n")

    def test_dotStuffing(self) -> None:
        """
        Every line that starts with a dot gets one more, the first line too.
        """
        self.assertEqual(readAll(b".first\n..second\nmid.dle\n.\n"),
                         b"..first\r\n...second\r\nmid.dle\r\n..\r\n.\r\n")

    def test_noTrailingNewline(self) -> None:
        """
        A last line without a line end is ended before the terminator.
        """
        self.assertEqual(readAll(b"a: b\n\nlast"), b"a: b\r\n\r\nlast\r\n.\r\n")

    def test_empty(self) -> None:
        """
        An empty message is just the terminator.
        """
        self.assertEqual(readAll(b""), b".\r\n")

    def test_eightBit(self) -> None:
        """
        8-bit and NUL octets pass unchanged.
        """
        self.assertEqual(readAll(b"x: \xff\n\n\x80\x00\xc3\xa9\n"),
                         b"x: \xff\r\n\r\n\x80\x00\xc3\xa9\r\n.\r\n")

    def test_bareCR(self) -> None:
        """
        A bare CR is data, kept as it is (also at the very end).
        """
        self.assertEqual(readAll(b"a\rb\n.c\r"), b"a\rb\r\n..c\r\r\n.\r\n")

    def test_crlfSplitAcrossChunks(self) -> None:
        """
        A CRLF cut in two by the chunk size still gives one CRLF.
        """
        self.assertEqual(readAll(b"ab\r\n.c\r\n", chunkSize=3), b"ab\r\n..c\r\n.\r\n")

    def test_dotAfterChunkBoundary(self) -> None:
        """
        A dot that starts a line at the start of a chunk is stuffed.
        """
        self.assertEqual(readAll(b"ab\n.c\n", chunkSize=3), b"ab\r\n..c\r\n.\r\n")

    def test_manyDots(self) -> None:
        """
        A chunk with more dots than the one-by-one scan handles is stuffed
        all the same.
        """
        message = b"\n".join([b".x", b"a.b"] * 50) + b"\n"
        self.assertEqual(readAll(message), reference(message))

    def test_textFile(self) -> None:
        """
        An embedder's mailbox that hands out a text file works (UTF-8).
        """
        self.assertEqual(readAll("caf\u00e9\n.x\n"), b"caf\xc3\xa9\r\n..x\r\n.\r\n")

    def test_stuffDotsLeavesFirstOctet(self) -> None:
        """
        L{stuffDots} leaves position 0 to the caller.
        """
        self.assertEqual(stuffDots(b".a\r\n.b"), b".a\r\n..b")


class TopTests(SynchronousTestCase):
    """
    TOP: the header, the blank line and n body lines.
    """

    message = b"H: 1\nH: 2\n\nl1\n.l2\nl3\n"

    def test_zeroLines(self) -> None:
        """
        C{TOP n 0} sends the header and the blank line.
        """
        self.assertEqual(readAll(self.message, 0), b"H: 1\r\nH: 2\r\n\r\n.\r\n")

    def test_someLines(self) -> None:
        """
        Body lines are counted after the blank line and dot-stuffed.
        """
        self.assertEqual(readAll(self.message, 2), b"H: 1\r\nH: 2\r\n\r\nl1\r\n..l2\r\n.\r\n")

    def test_moreLinesThanThereAre(self) -> None:
        """
        Asking for more lines than the body has sends the whole message.
        """
        self.assertEqual(readAll(self.message, 99), readAll(self.message))

    def test_blankLineAcrossChunks(self) -> None:
        """
        The blank line is found when a chunk boundary falls inside it.
        """
        for size in range(1, len(self.message) + 1):
            self.assertEqual(readAll(self.message, 1, chunkSize=size),
                             b"H: 1\r\nH: 2\r\n\r\nl1\r\n.\r\n", size)

    def test_noHeader(self) -> None:
        """
        A message that starts with the blank line has an empty header.
        """
        self.assertEqual(readAll(b"\nbody\nmore\n", 1), b"\r\nbody\r\n.\r\n")

    def test_stopsReading(self) -> None:
        """
        Once the lines are sent, the rest of a big file is not read.
        """
        source = io.BytesIO(b"H: 1\n\nfirst\n" + b"x" * 1_000_000)
        reader = MessageReader(FileContent(source, chunkSize=64), 1)
        while not reader.done:
            reader.next()
        self.assertTrue(source.closed)
        encoder = WireEncoder(0)
        encoder.encode(b"H: 1\r\n\r\nrest\r\n")
        self.assertTrue(encoder.finished)


class PropertyTests(SynchronousTestCase):
    """
    Chunking never changes the octets, and sizes match what is sent.
    """

    alphabet = st.sampled_from([b"a", b".", b"\n", b"\r", b"\r\n", b"\xff", b"\n\n", b".."])

    @settings(max_examples=120, deadline=None)
    @given(parts=st.lists(alphabet, max_size=40), chunkSize=st.integers(1, 9),
           bodyLines=st.one_of(st.none(), st.integers(0, 4)))
    def test_anyChunking(self, parts: list[bytes], chunkSize: int, bodyLines: int | None) -> None:
        """
        Encoding in chunks of any size equals encoding line by line.
        """
        message = b"".join(parts)
        self.assertEqual(readAll(message, bodyLines, chunkSize), reference(message, bodyLines))

    @settings(max_examples=40, deadline=None)
    @given(parts=st.lists(alphabet, max_size=40))
    def test_sizeIsOctetsBeforeStuffing(self, parts: list[bytes]) -> None:
        """
        The listed size (CRLF octets, L{wireSize}) equals the octets RETR
        sends before dot-stuffing and without the terminator.
        """
        message = b"".join(parts)
        path = os.path.join(self.mktemp())
        with open(path, "wb") as f:
            f.write(message)
        wire = message.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
        self.assertEqual(wireSize(path, "x"), len(wire))
