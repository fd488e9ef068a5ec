# -*- test-case-name: tests.imap.test_parser -*-
"""
IMAP command framing, free of I/O: bytes in, whole commands out.

An IMAP command is a line that may announce literals (RFC 9051 §4.3): a
line ending in C{{n}} (synchronizing: the client waits for a C{+}
continuation) or C{{n+}} (LITERAL+, RFC 7888: it does not) is followed by
exactly C{n} octets and then the rest of the command, which may announce
more.  L{CommandReader} takes bytes as they arrive, split anywhere, and
hands out one event at a time, only when asked (L{CommandReader.next}),
so that what the protocol does with a command (AUTHENTICATE and IDLE
switch the next line to "raw") applies before the following bytes are
read:

  - L{Complete}: a whole command, as its text pieces and literals;
  - L{Continue}: a synchronizing literal was accepted; send C{+} now;
  - L{RawLine}: a line read in raw mode (a SASL response, IDLE's C{DONE});
  - L{Refusal}: the command was refused before it was read in full (a line
    longer than C{maxLine}, a literal larger than the limit), with the tag
    if it was seen.  A refused synchronizing literal is never sent by the
    client, so the session goes on; a refused non-synchronizing one is on
    its way, so the refusal is I{fatal} (the protocol says BYE and closes)
    and nothing of it is read.

Limits are checked before anything is held: a line is never buffered past
C{maxLine} octets, and a literal announcing 10 GB is refused on its
announcement.  Literals of commands other than APPEND count against the
line's limit (a password, a search string, a mailbox name).
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Union

__all__ = [
    "CommandReader", "Complete", "Continue", "Event", "Literal", "RawLine", "Refusal",
    "DEFAULT_MAX_LINE", "DEFAULT_MAX_LITERAL",
]

DEFAULT_MAX_LINE = 64 * 1024
DEFAULT_MAX_LITERAL = 50 * 1024 * 1024

_MARKER = re.compile(rb"~?\{(\d{1,20})(\+?)\}$")


class Literal(bytes):
    """
    The octets of one literal (as opposed to the command's text).
    """

    __slots__ = ()


@dataclass(frozen=True, slots=True)
class Complete:
    """
    A whole command: text pieces (without line ends or literal markers)
    alternating with L{Literal}s, starting and ending with text.
    """

    pieces: tuple[bytes, ...]

    @property
    def tag(self) -> bytes | None:
        return _tagOf(self.pieces[0])


@dataclass(frozen=True, slots=True)
class Continue:
    """
    A synchronizing literal of C{size} octets was accepted: send the
    continuation request now.
    """

    size: int


@dataclass(frozen=True, slots=True)
class RawLine:
    """
    One line read in raw mode, without its line end.
    """

    line: bytes


@dataclass(frozen=True, slots=True)
class Refusal:
    """
    The command could not be read.

    @ivar tag: its tag if the line started with one, else L{None}.
    @ivar reason: C{"line"} (line too long) or C{"literal"} (literal too
        large).
    @ivar fatal: the client is sending what was refused (a
        non-synchronizing literal): close the connection.
    """

    tag: bytes | None
    reason: str
    fatal: bool = False


Event = Union[Complete, Continue, RawLine, Refusal]


def _tagOf(text: bytes) -> bytes | None:
    tag = text.split(b" ", 1)[0]
    if not tag or len(tag) > 64 or any(c < 0x21 or c > 0x7e or c in b'(){%*"\\+' for c in tag):
        return None
    return tag


def _isAppend(text: bytes) -> bool:
    parts = text.split(b" ", 2)
    return len(parts) > 1 and parts[1].upper() == b"APPEND"


class CommandReader:
    """
    Incremental reader of IMAP commands.

    @param maxLine: the longest command, its text and its non-APPEND
        literals together.
    @param maxLiteral: the largest literal of an APPEND.
    """

    __slots__ = ("maxLine", "maxLiteral", "_buffer", "_scanned", "_pieces", "_length", "_literal",
                 "_remaining", "_skipping", "_raw")

    def __init__(self, maxLine: int = DEFAULT_MAX_LINE, maxLiteral: int = DEFAULT_MAX_LITERAL) -> None:
        self.maxLine = maxLine
        self.maxLiteral = maxLiteral
        self._buffer = bytearray()
        self._scanned = 0                     # no line end before this offset of the buffer
        self._pieces: list[bytes] = []        # of the command being read
        self._length = 0                      # its octets counted against maxLine
        self._literal: list[bytes] | None = None
        self._remaining = 0                   # octets of the literal still to come
        self._skipping = False                # discarding the rest of an over-long line
        self._raw = False

    @property
    def buffered(self) -> int:
        """
        Octets received and not yet consumed.
        """
        return len(self._buffer)

    @property
    def inCommand(self) -> bool:
        """
        Has part of a command been read (the next event continues it)?
        """
        return bool(self._pieces) or self._literal is not None

    def feed(self, data: bytes) -> None:
        """
        Add received octets; nothing is parsed until L{next}.
        """
        self._buffer += data

    def readRawLine(self) -> None:
        """
        The next line is not a command: hand it out as a L{RawLine}.
        """
        self._raw = True

    def discard(self) -> None:
        """
        Forget everything received and not yet handed out (STARTTLS: what
        came in the clear after the command is not to be trusted).
        """
        self._buffer.clear()
        self._scanned = 0
        self._reset()
        self._skipping = False

    def _reset(self) -> None:
        self._pieces = []
        self._length = 0
        self._literal = None
        self._remaining = 0

    def next(self) -> Event | None:
        """
        The next event, or L{None} if more bytes are needed.
        """
        buffer = self._buffer
        while True:
            if self._literal is not None:
                if not self._readLiteral():
                    return None
                continue
            end = buffer.find(b"\n", self._scanned)
            if end < 0:
                return self._partialLine()
            line = bytes(buffer[:end])
            del buffer[:end + 1]
            self._scanned = 0
            if line.endswith(b"\r"):
                line = line[:-1]
            if self._skipping:
                self._skipping = False
                continue
            if self._raw and not self._pieces:
                self._raw = False
                return RawLine(line)
            event = self._line(line)
            if event is not None:
                return event

    def _partialLine(self) -> Refusal | None:
        buffer = self._buffer
        if self._skipping:
            buffer.clear()
            self._scanned = 0
            return None
        if self._length + len(buffer) > self.maxLine + 1:
            tag = _tagOf(self._pieces[0] if self._pieces else bytes(buffer[:80]))
            buffer.clear()
            self._scanned = 0
            self._reset()
            self._skipping = True
            return Refusal(tag, "line")
        self._scanned = len(buffer)
        return None

    def _readLiteral(self) -> bool:
        """
        Move literal octets from the buffer; true once the literal is whole.
        """
        buffer = self._buffer
        take = min(len(buffer), self._remaining)
        if take:
            self._literal.append(bytes(buffer[:take]))  # type: ignore[union-attr]
            del buffer[:take]
            self._remaining -= take
        if self._remaining:
            return False
        self._pieces.append(Literal(b"".join(self._literal)))  # type: ignore[arg-type]
        self._literal = None
        return True

    def _line(self, line: bytes) -> Event | None:
        self._length += len(line)
        first = self._pieces[0] if self._pieces else line
        if self._length > self.maxLine:
            self._reset()
            return Refusal(_tagOf(first), "line")
        marker = _MARKER.search(line)
        if marker is None:
            self._pieces.append(line)
            if len(self._pieces) == 1 and not line:
                self._reset()
                return None                     # an empty line: nothing to answer
            complete = Complete(tuple(self._pieces))
            self._reset()
            return complete
        size, synchronizing = int(marker.group(1)), not marker.group(2)
        self._pieces.append(line[:marker.start()])
        if _isAppend(first):
            allowed = self.maxLiteral
        else:
            allowed = self.maxLine - self._length
            self._length += size
        if size > allowed:
            self._reset()
            return Refusal(_tagOf(first), "literal", fatal=not synchronizing)
        self._literal = []
        self._remaining = size
        if synchronizing:
            return Continue(size)
        return None
