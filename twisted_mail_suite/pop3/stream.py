# -*- test-case-name: tests.pop3.test_stream -*-
"""
A message in wire form (CRLF line ends, from the store's
L{IMessageContent}) -> the body of a POP3 multi-line response, a chunk at a
time (RFC 1939 §3): a line that starts with C{.} gets one more, and the
response ends with C{.CRLF} on a line of its own.  For TOP, only the
header, the blank line and the first I{n} body lines are sent.

Chunk boundaries may fall anywhere (between CR and LF, just before a dot):
L{WireEncoder} keeps the little state needed to give the same octets as
encoding the whole message at once.  Nothing here does I/O beyond pulling
chunks from the content it is given; the protocol drives L{MessageReader}
as a producer.
"""
from __future__ import annotations

from typing import Iterator

from ..interfaces import IMessageContent

TERMINATOR = b".\r\n"

__all__ = ["MessageReader", "WireEncoder", "stuffDots"]


_DOT_SCAN_LIMIT = 32


def stuffDots(data: bytes) -> bytes:
    """
    Double every C{.} that starts a line of C{data} (CRLF line ends), except
    at position 0, which only the caller can judge.

    Most mail has few dots: finding them one by one (C{memchr}) is several
    times faster than a substring search over the whole chunk; past
    L{_DOT_SCAN_LIMIT} dots the one-pass C{replace} wins.
    """
    find = data.find
    cuts = []
    index = find(b".", 1)
    for _ in range(_DOT_SCAN_LIMIT):
        if index < 0:
            break
        if data[index - 1] == 10:
            cuts.append(index)
        index = find(b".", index + 1)
    else:
        return data.replace(b"\r\n.", b"\r\n..")
    if not cuts:
        return data
    pieces = []
    start = 0
    for cut in cuts:
        pieces.append(data[start:cut])
        start = cut
    pieces.append(data[start:])
    return b".".join(pieces)


class WireEncoder:
    """
    Incremental encoder of one message's wire form (CRLF line ends) into
    the body of a POP3 response.

    @ivar finished: the TOP limit was reached; later input is ignored.
    """

    def __init__(self, bodyLines: int | None = None) -> None:
        """
        @param bodyLines: for TOP, how many body lines to send after the
            header; L{None} for the whole message (RETR).
        """
        self._heldCR = False
        self._atLineStart = True
        self._inHeader = bodyLines is not None
        self._linesLeft = bodyLines
        self.finished = False

    def encode(self, data: bytes) -> bytes:
        """
        @return: the wire form of C{data}, given everything encoded before.
        """
        if self.finished:
            return b""
        if self._heldCR:
            data = b"\r" + data
            self._heldCR = False
        if data.endswith(b"\r"):
            # It may be the first half of a CRLF split across two chunks.
            data = data[:-1]
            self._heldCR = True
        if self._linesLeft is not None:
            data = self._limit(data)
        if not data:
            return data
        startsLine = self._atLineStart
        self._atLineStart = data.endswith(b"\n")
        data = stuffDots(data)
        if startsLine and data[:1] == b".":
            data = b"." + data
        return data

    def _limit(self, data: bytes) -> bytes:
        """
        TOP: cut C{data} (CRLF line ends) after the header, the blank line
        and the number of body lines still wanted.
        """
        assert self._linesLeft is not None
        start = 0
        if self._inHeader:
            if self._atLineStart and data.startswith(b"\r\n"):
                blank = 0
            else:
                found = data.find(b"\r\n\r\n")
                if found < 0:
                    return data
                blank = found + 2
            self._inHeader = False
            start = blank + 2
        available = data.count(b"\n", start)
        if available < self._linesLeft:
            self._linesLeft -= available
            return data
        end = start
        for _ in range(self._linesLeft):
            end = data.index(b"\n", end) + 1
        self._linesLeft = 0
        self.finished = True
        return data[:end]

    def finish(self) -> bytes:
        """
        @return: what ends the response: a held bare CR, the CRLF that
            completes an unterminated last line, and C{.CRLF}.
        """
        tail = b""
        if self._heldCR and not self.finished:
            tail = b"\r"
            self._atLineStart = False
        self._heldCR = False
        if not self._atLineStart:
            tail += b"\r\n"
        self.finished = True
        return tail + TERMINATOR


class MessageReader:
    """
    Pulls one message's content chunk by chunk and yields the response
    body; the last piece carries the terminating C{.CRLF}.  At most about
    two chunks of the message are in memory at a time.

    @ivar done: the last piece was returned and the content is closed.
    """

    def __init__(self, content: IMessageContent, bodyLines: int | None = None) -> None:
        self._content = content
        self._chunks: Iterator[bytes] = iter(content.chunks())
        self._encoder = WireEncoder(bodyLines)
        self._ahead: bytes | None = None
        self.done = False

    def _pull(self) -> bytes:
        if self._ahead is not None:
            data, self._ahead = self._ahead, None
            return data
        return next(self._chunks, b"")

    def next(self) -> bytes:
        """
        @return: the next piece of the response body (never empty unless
            called after L{done}).
        """
        if self.done:
            return b""
        data = self._pull()
        out = self._encoder.encode(data) if data else b""
        if data and not self._encoder.finished:
            # Look one chunk ahead: at the end, the terminator goes out
            # with the last chunk (a small message in one piece).
            self._ahead = next(self._chunks, b"") or None
            if self._ahead is None:
                data = b""
        if not data or self._encoder.finished:
            self.close()
            return out + self._encoder.finish()
        return out

    def close(self) -> None:
        """
        Stop early or after the end: close the content (idempotent).
        """
        self.done = True
        self._ahead = None
        try:
            self._content.close()
        except Exception:
            pass
