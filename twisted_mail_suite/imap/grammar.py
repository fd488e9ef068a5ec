# -*- test-case-name: tests.imap.test_grammar -*-
"""
The IMAP argument grammar, free of I/O: a whole command (the pieces of a
L{twisted_mail_suite.imap.parser.Complete}) -> its tag, its name and its
arguments as tokens, and a cursor that reads typed values from them.

Tokens: L{Atom} (including flags such as C{\\Seen}, sequence sets, and
fetch attributes whose C{[...]} section and C{<...>} partial are kept
whole: C{BODY[HEADER.FIELDS (FROM TO)]<0.100>}), L{String} (quoted, with
C{\\"} and C{\\\\} escapes, or a literal; 8-bit octets are allowed, as
IMAP4rev2 and UTF-8 mailbox names need), and Python lists for
parenthesised lists, nested as deep as they come (up to L{MAX_DEPTH}).

Errors are L{SyntaxError_}s carrying the client-facing text; the protocol
answers them with C{BAD}.
"""
from __future__ import annotations

import calendar
import re
import time
from dataclasses import dataclass
from typing import Iterator, Sequence, Union

from .parser import Literal

__all__ = [
    "Arguments", "Atom", "ParsedCommand", "SequenceSet", "String", "SyntaxError_", "Token",
    "parseCommand", "parseDate", "parseDateTime", "tokenize", "MAX_DEPTH",
]

MAX_DEPTH = 32
MAX_NUMBER = 2 ** 32 - 1
_TAG_FORBIDDEN = frozenset(b'(){%*"\\+ ]')
_MONTHS = {m.encode(): i for i, m in enumerate(
    ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"), 1)}
_DATE = re.compile(rb"^(\d{1,2})-([A-Za-z]{3})-(\d{4})$")
_DATE_TIME = re.compile(rb"^ ?(\d{1,2})-([A-Za-z]{3})-(\d{4}) (\d\d):(\d\d):(\d\d) ([+-])(\d\d)(\d\d)$")
_NUMBER = re.compile(rb"^[0-9]{1,10}$")


class SyntaxError_(Exception):
    """
    The command does not parse; C{text} is for the client (C{BAD text}).
    """

    def __init__(self, text: str) -> None:
        super().__init__(text)
        self.text = text


class Atom(bytes):
    """
    An atom (or flag, sequence set, fetch attribute) as sent.
    """

    __slots__ = ()

    def __repr__(self) -> str:
        return f"Atom({bytes(self)!r})"


class String(bytes):
    """
    A quoted string (unescaped) or a literal's octets.
    """

    __slots__ = ()

    def __repr__(self) -> str:
        return f"String({bytes(self)!r})"


Token = Union[Atom, String, list]


@dataclass(frozen=True, slots=True)
class ParsedCommand:
    """
    @ivar tag: the client's tag.
    @ivar name: the command name, upper case (C{b"UID"} for the UID forms;
        their verb is the first argument).
    @ivar arguments: the tokens after the name.
    """

    tag: bytes
    name: bytes
    arguments: list


def _isAtomChar(c: int) -> bool:
    return c > 0x20 and c != 0x7f and c not in b'()"'


def tokenize(pieces: Sequence[bytes]) -> list:
    """
    The tokens of a command's pieces (text and L{Literal}s).

    @raise SyntaxError_: unbalanced parentheses or brackets, a bad quoted
        string, a NUL, lists nested deeper than L{MAX_DEPTH}.
    """
    top: list = []
    stack = [top]
    for piece in pieces:
        if isinstance(piece, Literal):
            stack[-1].append(String(piece))
            continue
        _tokenizeText(piece, stack)
    if len(stack) != 1:
        raise SyntaxError_("Unbalanced parentheses")
    return top


def _tokenizeText(text: bytes, stack: list) -> None:
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c == 0x20:
            i += 1
        elif c == 0x28:                                       # (
            if len(stack) > MAX_DEPTH:
                raise SyntaxError_("Lists nested too deep")
            new: list = []
            stack[-1].append(new)
            stack.append(new)
            i += 1
        elif c == 0x29:                                       # )
            if len(stack) == 1:
                raise SyntaxError_("Unbalanced parentheses")
            stack.pop()
            i += 1
        elif c == 0x22:                                       # "
            value, i = _quoted(text, i + 1)
            stack[-1].append(String(value))
        elif c < 0x20 or c == 0x7f:                           # controls: no token starts with one
            raise SyntaxError_("Invalid characters in command")
        else:
            value, i = _atom(text, i)
            stack[-1].append(Atom(value))


def _quoted(text: bytes, i: int) -> tuple[bytes, int]:
    out = bytearray()
    n = len(text)
    while i < n:
        c = text[i]
        if c == 0x22:
            return bytes(out), i + 1
        if c == 0x5c:
            if i + 1 >= n or text[i + 1] not in b'"\\':
                raise SyntaxError_("Invalid escape in quoted string")
            out.append(text[i + 1])
            i += 2
            continue
        if c == 0:
            raise SyntaxError_("NUL in quoted string")
        out.append(c)
        i += 1
    raise SyntaxError_("Unterminated quoted string")


def _atom(text: bytes, i: int) -> tuple[bytes, int]:
    start, n = i, len(text)
    while i < n:
        c = text[i]
        if c == 0x5b:                                          # [ ... ] kept whole
            depth = 0
            while i < n:
                c = text[i]
                if c == 0x5b:
                    depth += 1
                elif c == 0x5d:
                    depth -= 1
                    if depth == 0:
                        break
                elif c == 0:
                    raise SyntaxError_("Invalid characters in command")
                i += 1
            if i >= n:
                raise SyntaxError_("Unbalanced brackets")
            i += 1
            continue
        if not _isAtomChar(c):
            break
        i += 1
    return text[start:i], i


def parseCommand(pieces: Sequence[bytes]) -> ParsedCommand:
    """
    Tag, name and arguments of a whole command.

    @raise SyntaxError_: with C{tag} set as an attribute when the tag was
        readable (so the C{BAD} can be tagged).
    """
    first = pieces[0]
    tag, _, rest = first.partition(b" ")
    if not tag or any(c < 0x21 or c > 0x7e or c in _TAG_FORBIDDEN for c in tag):
        raise SyntaxError_("Invalid tag")
    name, _, rest = rest.partition(b" ")
    if not name or not all(_isAtomChar(c) and c not in b"[]{" for c in name):
        error = SyntaxError_("Missing or invalid command name")
        error.tag = tag  # type: ignore[attr-defined]
        raise error
    try:
        arguments = tokenize((rest, *pieces[1:]))
    except SyntaxError_ as e:
        e.tag = tag  # type: ignore[attr-defined]
        e.name = name.upper()  # type: ignore[attr-defined]
        raise
    return ParsedCommand(tag, name.upper(), arguments)


class SequenceSet:
    """
    A sequence set (C{1,3:5,7:*}), or C{$} (the saved search result,
    RFC 5182).  C{*} is L{None} in L{ranges} and means the largest number
    in use.
    """

    __slots__ = ("ranges", "saved")

    def __init__(self, ranges: Sequence[tuple[int | None, int | None]], saved: bool = False) -> None:
        self.ranges = tuple(ranges)
        self.saved = saved

    @classmethod
    def parse(cls, text: bytes) -> SequenceSet:
        """
        @raise SyntaxError_: not a sequence set.
        """
        if text == b"$":
            return cls((), saved=True)
        ranges = []
        for part in text.split(b","):
            low, colon, high = part.partition(b":")
            if colon:
                ranges.append((cls._number(low), cls._number(high)))
            else:
                number = cls._number(low)
                ranges.append((number, number))
        return cls(ranges)

    @staticmethod
    def _number(text: bytes) -> int | None:
        if text == b"*":
            return None
        if not _NUMBER.match(text) or text.startswith(b"0"):
            raise SyntaxError_("Invalid sequence set")
        value = int(text)
        if value > MAX_NUMBER:
            raise SyntaxError_("Invalid sequence set")
        return value

    def bounds(self, largest: int) -> Iterator[tuple[int, int]]:
        """
        Each range as C{(low, high)}, C{*} replaced by C{largest}, in order.
        """
        for low, high in self.ranges:
            low = largest if low is None else low
            high = largest if high is None else high
            yield (low, high) if low <= high else (high, low)

    def contains(self, number: int, largest: int) -> bool:
        return any(low <= number <= high for low, high in self.bounds(largest))

    def __repr__(self) -> str:
        return "SequenceSet($)" if self.saved else f"SequenceSet({self.ranges!r})"


def formatSequence(numbers: Sequence[int]) -> bytes:
    """
    Sorted numbers as a compact sequence set (C{1:3,7}); C{b""} if none.
    """
    out = []
    it = iter(sorted(numbers))
    for first in it:
        last = first
        for number in it:
            if number == last + 1:
                last = number
                continue
            out.append(b"%d" % first if first == last else b"%d:%d" % (first, last))
            first = last = number
        out.append(b"%d" % first if first == last else b"%d:%d" % (first, last))
    return b",".join(out)


def formatPairs(numbers: Sequence[int]) -> bytes:
    """
    Numbers in the order given as a sequence set, runs compacted (for
    COPYUID, whose two sets pair up in order).
    """
    out = []
    i = 0
    while i < len(numbers):
        j = i
        while j + 1 < len(numbers) and numbers[j + 1] == numbers[j] + 1:
            j += 1
        out.append(b"%d" % numbers[i] if i == j else b"%d:%d" % (numbers[i], numbers[j]))
        i = j + 1
    return b",".join(out)


def parseDate(text: bytes) -> tuple[int, int, int]:
    """
    An IMAP C{date} (C{1-Feb-1994}) as C{(year, month, day)}.
    """
    match = _DATE.match(text)
    if not match or match.group(2).capitalize() not in _MONTHS:
        raise SyntaxError_("Invalid date")
    day, month, year = int(match.group(1)), _MONTHS[match.group(2).capitalize()], int(match.group(3))
    if not 1 <= year or not 1 <= day <= calendar.monthrange(year, month)[1]:
        raise SyntaxError_("Invalid date")
    return year, month, day


def parseDateTime(text: bytes) -> float:
    """
    An IMAP C{date-time} (C{17-Jul-1996 02:44:25 -0700}) as POSIX seconds.
    """
    match = _DATE_TIME.match(text)
    if not match or match.group(2).capitalize() not in _MONTHS:
        raise SyntaxError_("Invalid date-time")
    day, year = int(match.group(1)), int(match.group(3))
    month = _MONTHS[match.group(2).capitalize()]
    hour, minute, second = int(match.group(4)), int(match.group(5)), int(match.group(6))
    if not (1 <= day <= calendar.monthrange(year, month)[1] and hour < 24 and minute < 60 and second < 61):
        raise SyntaxError_("Invalid date-time")
    offset = (int(match.group(8)) * 60 + int(match.group(9))) * 60
    if match.group(7) == b"-":
        offset = -offset
    return calendar.timegm((year, month, day, hour, minute, second, 0, 0, 0)) - offset


def formatDateTime(seconds: float) -> bytes:
    """
    POSIX seconds as an IMAP C{date-time} in UTC (C{" 2-Jan-2024 10:00:00 +0000"}).
    """
    t = time.gmtime(seconds)
    month = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")[t.tm_mon - 1]
    return b"%2d-%s-%04d %02d:%02d:%02d +0000" % (t.tm_mday, month.encode(), t.tm_year, t.tm_hour,
                                                   t.tm_min, t.tm_sec)


class Arguments:
    """
    A cursor over a command's tokens, reading typed values; every reader
    raises L{SyntaxError_} when the next token is missing or of the wrong
    kind.
    """

    __slots__ = ("tokens", "index")

    def __init__(self, tokens: Sequence) -> None:
        self.tokens = tokens
        self.index = 0

    def _next(self, what: str) -> Token:
        if self.index >= len(self.tokens):
            raise SyntaxError_(f"Missing {what}")
        token = self.tokens[self.index]
        self.index += 1
        return token  # type: ignore[no-any-return]

    @property
    def more(self) -> bool:
        return self.index < len(self.tokens)

    def peek(self) -> Token | None:
        return self.tokens[self.index] if self.index < len(self.tokens) else None  # type: ignore[no-any-return]

    def peekAtom(self) -> bytes | None:
        """
        The next token upper-cased if it is an atom (not consumed), else L{None}.
        """
        token = self.peek()
        return token.upper() if isinstance(token, Atom) else None

    def atom(self, what: str = "argument") -> Atom:
        token = self._next(what)
        if not isinstance(token, Atom):
            raise SyntaxError_(f"Expected {what}")
        return token

    def astring(self, what: str = "argument") -> bytes:
        token = self._next(what)
        if isinstance(token, list):
            raise SyntaxError_(f"Expected {what}")
        return bytes(token)

    def nstring(self, what: str = "argument") -> bytes | None:
        token = self._next(what)
        if isinstance(token, Atom) and token.upper() == b"NIL":
            return None
        if isinstance(token, list):
            raise SyntaxError_(f"Expected {what}")
        return bytes(token)

    def list(self, what: str = "list") -> list:
        token = self._next(what)
        if not isinstance(token, list):
            raise SyntaxError_(f"Expected {what}")
        return token

    def number(self, what: str = "number") -> int:
        token = self._next(what)
        if not isinstance(token, Atom) or not _NUMBER.match(token) or int(token) > MAX_NUMBER:
            raise SyntaxError_(f"Expected {what}")
        return int(token)

    def sequenceSet(self) -> SequenceSet:
        return SequenceSet.parse(self.atom("sequence set"))

    def end(self) -> None:
        if self.index < len(self.tokens):
            raise SyntaxError_("Unexpected extra arguments")
