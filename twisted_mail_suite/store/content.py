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
"""
from __future__ import annotations

from typing import IO, Iterator

from zope.interface import implementer

from ..interfaces import IMessageContent

__all__ = ["CHUNK_SIZE", "FileContent", "WireLines"]

CHUNK_SIZE = 64 * 1024


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

    def chunks(self) -> Iterator[bytes]:
        lines = WireLines()
        while True:
            if self.closed:     # stopped early
                return
            data = self._read()
            if not data:
                break
            out = lines.encode(data)
            if out:
                yield out
        tail = lines.finish()
        if tail:
            yield tail
        self.close()

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        try:
            self._file.close()
        except Exception:
            pass
