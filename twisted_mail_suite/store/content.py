# -*- test-case-name: tests.store.test_content -*-
"""
Message content in wire form from a file in stored form.

A Maildir keeps messages with LF line ends (some tools write CRLF); the
store contract hands them out with CRLF (L{IMessageContent}).  L{FileContent}
does that conversion a chunk at a time: bare LF becomes CRLF, CRLF stays
CRLF, a bare CR is data and kept.  A CR at the end of a chunk is held until
the next chunk shows whether an LF follows, so chunk boundaries never change
the octets.  It also serves files in Twisted's C{IMailbox} form (stored
form, bytes or text) handed out by an embedder's mailbox.

L{DescriptorContent} does the same for a store's own message file, opened
as a bare descriptor (L{openMessage}): no file object and no C{fstat}, and
a read shorter than asked ends the file (a regular file's read is short
only at its end), so a message smaller than a chunk costs C{open}, one
C{read} and C{close} (IMAP FETCH and POP3 RETR of many small messages).
"""
from __future__ import annotations

import os
from typing import IO, Iterator

from zope.interface import implementer

from ..interfaces import IMessageContent

__all__ = ["CHUNK_SIZE", "DescriptorContent", "FileContent", "WireLines", "openMessage"]

CHUNK_SIZE = 64 * 1024


_OPEN_FLAGS = os.O_RDONLY | getattr(os, "O_CLOEXEC", 0)


def openMessage(path: str) -> int:
    """
    Open a message file for reading, as a descriptor.

    @raise FileNotFoundError: there is none.
    """
    return os.open(path, _OPEN_FLAGS)


class WireLines:
    """
    Incremental stored form -> wire form (CRLF line ends).
    """

    def __init__(self) -> None:
        self._heldCR = False

    def encode(self, data: bytes) -> bytes:
        """
        @return: the wire form of C{data}, given everything encoded before
            (a trailing CR is held back).
        """
        if self._heldCR:
            data = b"\r" + data
            self._heldCR = False
        if data.endswith(b"\r"):
            # It may be the first half of a CRLF split across two chunks.
            data = data[:-1]
            self._heldCR = True
        if b"\r" in data:
            data = data.replace(b"\r\n", b"\n")
        return data.replace(b"\n", b"\r\n")

    def finish(self) -> bytes:
        """
        @return: a CR held at the very end (a bare CR is data), or nothing.
        """
        held, self._heldCR = self._heldCR, False
        return b"\r" if held else b""


@implementer(IMessageContent)
class FileContent:
    """
    The wire form of a message file, read C{chunkSize} octets at a time.

    @param file: a binary file (or, from an embedder's C{IMailbox}, a text
        file, encoded as UTF-8) in stored form; closed by L{close}.
    @param size: the wire size, if known (a Maildir name records it).
    """

    def __init__(self, file: IO[bytes] | IO[str], size: int | None = None,
                 chunkSize: int = CHUNK_SIZE) -> None:
        self._file = file
        self.size = size
        self._chunkSize = chunkSize
        self.closed = False

    def _read(self) -> bytes:
        data = self._file.read(self._chunkSize)
        if isinstance(data, str):   # an embedder's IMailbox gave a text file
            return data.encode("utf-8", "surrogateescape")
        return data

    def _atEnd(self, data: bytes) -> bool:
        """
        Whether C{data}, just read, was the last of the file.
        """
        return not data

    def _closeSource(self) -> None:
        self._file.close()

    def chunks(self) -> Iterator[bytes]:
        lines = WireLines()
        while not self.closed:      # closed: stopped early
            data = self._read()
            if data:
                out = lines.encode(data)
                if out:
                    yield out
            if self._atEnd(data):
                tail = lines.finish()
                if tail:
                    yield tail
                self.close()
                return

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        try:
            self._closeSource()
        except Exception:
            pass


@implementer(IMessageContent)
class DescriptorContent(FileContent):
    """
    L{FileContent} of a regular file's descriptor (L{openMessage}): read
    with C{os.read}, and a read shorter than asked is its end.

    @param fd: an open descriptor of a regular file in stored form;
        closed by L{close}.
    @param size: the wire size, if known.
    """

    def __init__(self, fd: int, size: int | None = None, chunkSize: int = CHUNK_SIZE) -> None:
        FileContent.__init__(self, None, size, chunkSize)    # type: ignore[arg-type]
        self._fd = fd

    def _read(self) -> bytes:
        return os.read(self._fd, self._chunkSize)

    def _atEnd(self, data: bytes) -> bool:
        return len(data) < self._chunkSize

    def _closeSource(self) -> None:
        os.close(self._fd)
