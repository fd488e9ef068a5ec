# -*- test-case-name: tests.store.test_content -*-
"""
Tests for L{twisted_mail_suite.store.content}: stored form -> wire form.
"""
from __future__ import annotations

import io
import os

from twisted.trial.unittest import SynchronousTestCase
from zope.interface.verify import verifyObject

from twisted_mail_suite.interfaces import IMessageContent
from twisted_mail_suite.store.content import DescriptorContent, FileContent, openMessage


def wire(data: bytes, chunkSize: int = 65536) -> bytes:
    return b"".join(FileContent(io.BytesIO(data), chunkSize=chunkSize).chunks())


class FileContentTests(SynchronousTestCase):
    """
    L{FileContent} hands out a stored file with CRLF line ends.
    """

    def test_interface(self) -> None:
        """
        It provides L{IMessageContent}.
        """
        self.assertTrue(verifyObject(IMessageContent, FileContent(io.BytesIO(b""), 0)))

    def test_lineEnds(self) -> None:
        """
        LF becomes CRLF, CRLF stays, a bare CR (also at the end) is kept.
        """
        self.assertEqual(wire(b"a\nb\r\nc\rd\r"), b"a\r\nb\r\nc\rd\r")

    def test_crlfSplitAcrossChunks(self) -> None:
        """
        For every chunk size, the octets are those of the whole file at once.
        """
        data = b"a\r\n\r\n.b\n\rc\r\r\nd"
        for size in range(1, len(data) + 1):
            self.assertEqual(wire(data, size), wire(data), size)

    def test_chunksAreBounded(self) -> None:
        """
        A big file comes in chunks of about the chunk size, never empty.
        """
        chunks = list(FileContent(io.BytesIO(b"x" * 1000 + b"\n"), chunkSize=100).chunks())
        self.assertEqual(len(chunks), 11)
        self.assertTrue(all(0 < len(chunk) <= 200 for chunk in chunks))

    def test_textFile(self) -> None:
        """
        A text file (an embedder's mailbox) is encoded as UTF-8.
        """
        self.assertEqual(b"".join(FileContent(io.StringIO("caf\u00e9\n")).chunks()), b"caf\xc3\xa9\r\n")

    def test_closeStopsEarly(self) -> None:
        """
        Closing in the middle closes the file and ends the chunks;
        closing again is harmless.
        """
        source = io.BytesIO(b"a\n" * 100)
        content = FileContent(source, chunkSize=10)
        chunks = content.chunks()
        next(chunks)
        content.close()
        content.close()
        self.assertTrue(source.closed)
        self.assertEqual(list(chunks), [])

    def test_closedAtEnd(self) -> None:
        """
        Reading to the end closes the file.
        """
        source = io.BytesIO(b"a\n")
        list(FileContent(source).chunks())
        self.assertTrue(source.closed)


class DescriptorContentTests(SynchronousTestCase):
    """
    L{DescriptorContent} hands out a stored file, open as a descriptor,
    with CRLF line ends, and takes a short read for the end.
    """

    def stored(self, data: bytes) -> int:
        path = self.mktemp()
        with open(path, "wb") as f:
            f.write(data)
        return openMessage(path)

    def assertClosed(self, fd: int) -> None:
        self.assertRaises(OSError, os.fstat, fd)

    def test_interface(self) -> None:
        """
        It provides L{IMessageContent}.
        """
        content = DescriptorContent(self.stored(b""), 0)
        self.addCleanup(content.close)
        self.assertTrue(verifyObject(IMessageContent, content))

    def test_sameAsFileContent(self) -> None:
        """
        For every chunk size, the octets are those L{FileContent} gives,
        and the descriptor is closed at the end.
        """
        data = b"a\r\n\r\n.b\n\rc\r\r\nd\r"
        for size in range(1, len(data) + 2):
            fd = self.stored(data)
            self.assertEqual(b"".join(DescriptorContent(fd, chunkSize=size).chunks()), wire(data), size)
            self.assertClosed(fd)

    def test_shortReadEnds(self) -> None:
        """
        A read shorter than a chunk is the end: a message smaller than a
        chunk is read once (a second read of this pipe, still open for
        writing, would raise L{BlockingIOError}).
        """
        readable, writable = os.pipe()
        self.addCleanup(os.close, writable)
        os.set_blocking(readable, False)
        os.write(writable, b"a\nb\r")
        self.assertEqual(list(DescriptorContent(readable, 5, chunkSize=100).chunks()), [b"a\r\nb", b"\r"])
        self.assertClosed(readable)

    def test_closeStopsEarly(self) -> None:
        """
        Closing in the middle (twice: harmless) closes the descriptor and
        ends the chunks.
        """
        fd = self.stored(b"a\n" * 100)
        content = DescriptorContent(fd, chunkSize=10)
        chunks = content.chunks()
        first = next(chunks)
        for _ in range(2):
            content.close()
        self.assertEqual((first, list(chunks)), (b"a\r\n" * 5, []))
        self.assertClosed(fd)

    def test_missing(self) -> None:
        """
        L{openMessage} of a file that is not there raises
        L{FileNotFoundError}.
        """
        self.assertRaises(FileNotFoundError, openMessage, self.mktemp())
