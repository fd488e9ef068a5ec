# -*- test-case-name: tests.imap.test_search -*-
"""
SEARCH (RFC 9051 §6.4.4) with ESEARCH's result options (RFC 4731) and
SEARCHRES (C{SAVE} and C{$}, RFC 5182).

The search program is parsed into a tree of predicates first (every key
of RFC 3501 and RFC 9051); then each message is tested, cheapest facts
first: flags, size, dates and numbers come from the listing; header keys
read the header (once, then cached); TEXT and BODY read the message
(a key that needs what is not read yet stops the test, the handler waits
for the folder to read it, and the message is tested again),
matching its raw octets and its decoded text parts.  Strings match as
case-insensitive substrings of the decoded (RFC 2047) header values or
text.  An IMAP4rev2 client gets C{ESEARCH} responses; an IMAP4rev1 one
gets C{SEARCH} unless it asked for RETURN options.
"""
from __future__ import annotations

import datetime
import email.header
import email.utils
from typing import Any, Callable

from .connection import Handler
from .grammar import Arguments, SequenceSet, formatSequence, parseDate
from .mailbox import FLAG_LETTERS
from .messageinfo import cacheKey, loadFull, loadHeader
from .mime import Part
from .responses import Bad, No, quoted
from .structure import SectionError, binaryContent

__all__ = ["Query", "parseProgram", "search"]

Predicate = Callable[["Query", Any], bool]
FLAG_KEYS = {b"ANSWERED": ("R", True), b"DELETED": ("T", True), b"DRAFT": ("D", True), b"FLAGGED": ("F", True),
             b"SEEN": ("S", True), b"UNANSWERED": ("R", False), b"UNDELETED": ("T", False),
             b"UNDRAFT": ("D", False), b"UNFLAGGED": ("F", False), b"UNSEEN": ("S", False)}
HEADER_KEYS = {b"BCC": b"bcc", b"CC": b"cc", b"FROM": b"from", b"SUBJECT": b"subject", b"TO": b"to"}
RETURN_OPTIONS = (b"MIN", b"MAX", b"ALL", b"COUNT", b"SAVE")


class _Unread(Exception):
    """
    A key needs the header (or with C{full}, the whole message), not read yet.
    """

    def __init__(self, full: bool) -> None:
        super().__init__(full)
        self.full = full


class Query:
    """
    One message being tested, with what has been read of it so far.
    """

    __slots__ = ("mailbox", "cache", "seq", "message", "largestUID", "_info", "_data")

    def __init__(self, mailbox: Any, cache: Any) -> None:
        self.mailbox = mailbox
        self.cache = cache
        self.largestUID = mailbox.uids[-1] if mailbox.uids else 0

    def start(self, seq: int, message: Any) -> None:
        self.seq = seq
        self.message = message
        self._info: Any = None
        self._data: bytes | None = None

    def info(self) -> Any:
        if self._info is None:
            self._info = self.cache.get(cacheKey(self.message))
            if self._info is None:
                raise _Unread(False)
        return self._info

    def data(self) -> bytes:
        if self._data is None:
            raise _Unread(True)
        return self._data

    def read(self, full: bool) -> Handler:
        """
        Read what L{_Unread} asked for (a sub-generator of the handler).
        """
        folder = self.mailbox.folder
        if full:
            self._info, self._data = yield from loadFull(self.cache, folder, self.message)
        else:
            self._info = yield from loadHeader(self.cache, folder, self.message)
        return b""


def _decodeHeader(value: bytes) -> str:
    text = value.decode("utf-8", "replace")
    try:
        return str(email.header.make_header(email.header.decode_header(text)))
    except Exception:
        return text


def _headerMatch(name: bytes, needle: str) -> Predicate:
    def test(q: Query, m: Any) -> bool:
        for header in q.info().headers:
            if header.name == name and (not needle or needle in _decodeHeader(header.value).casefold()):
                return True
        return False
    return test


def _textMatch(needle: str, bodyOnly: bool) -> Predicate:
    raw = needle.encode("utf-8")

    def test(q: Query, m: Any) -> bool:
        data = q.data()
        root = q._info.root
        start = root.bodyStart if bodyOnly else 0
        if raw.lower() in data[start:].lower() or needle in data[start:].decode("utf-8", "replace").casefold():
            return True
        if not bodyOnly and any(needle in _decodeHeader(h.value).casefold() for h in root.headers):
            return True
        stack = [root]
        while stack:
            part = stack.pop()
            stack.extend(part.children)
            if part.message is not None:
                stack.append(part.message)
            encoding = (part.header(b"content-transfer-encoding") or b"").strip().lower()
            if not part.children and part.message is None and encoding in (b"base64", b"quoted-printable"):
                try:
                    decoded = binaryContent(data[part.start:part.end], _shifted(part), [])
                except SectionError:
                    continue
                if needle in decoded.decode(_charset(part), "replace").casefold():
                    return True
        return False
    return test


def _shifted(part: Any) -> Part:
    """
    C{part} with offsets counted from its own start.
    """
    return Part(0, part.bodyStart - part.start, part.end - part.start, part.headers, part.mainType,
                part.subType, part.params)


def _charset(part: Any) -> str:
    charset = (part.param(b"charset") or b"utf-8").decode("ascii", "replace").strip('"')
    try:
        b"".decode(charset)
        return charset
    except LookupError:
        return "utf-8"


def _day(seconds: float) -> datetime.date:
    return datetime.datetime.fromtimestamp(seconds, datetime.timezone.utc).date()


def _sentDay(q: Query) -> datetime.date | None:
    for header in q.info().headers:
        if header.name == b"date":
            try:
                parsed = email.utils.parsedate_to_datetime(header.value.decode("latin-1"))
            except (TypeError, ValueError, IndexError):
                return None
            return parsed.date() if parsed is not None else None
    return None


def _dateKey(when: datetime.date, compare: Callable[[datetime.date, datetime.date], bool], sent: bool) -> Predicate:
    def test(q: Query, m: Any) -> bool:
        day = _sentDay(q) if sent else _day(m.internalDate)
        return day is not None and compare(day, when)
    return test


def _string(args: Arguments) -> str:
    return args.astring("search string").decode("utf-8", "replace").casefold()


def _key(args: Arguments, mailbox: Any) -> Predicate:
    token = args.peek()
    if isinstance(token, list):
        inner = Arguments(args.list())
        program = _program(inner, mailbox)
        return program
    atom = args.atom("search key")
    key = atom.upper()
    if key in FLAG_KEYS:
        letter, wanted = FLAG_KEYS[key]
        return lambda q, m: (letter in q.mailbox.current(m).flags) == wanted
    if key == b"ALL":
        return lambda q, m: True
    if key in (b"NEW", b"OLD", b"RECENT"):
        recent = mailbox.recent
        if key == b"RECENT":
            return lambda q, m: m.uid in recent
        if key == b"OLD":
            return lambda q, m: m.uid not in recent
        return lambda q, m: m.uid in recent and "S" not in q.mailbox.current(m).flags
    if key in (b"KEYWORD", b"UNKEYWORD"):
        flag = args.atom("keyword")
        letter = FLAG_LETTERS.get(bytes(flag).lower()) or mailbox.folder.keywordLetter(flag.decode("ascii", "replace"))
        wanted = key == b"KEYWORD"
        if letter is None:
            return lambda q, m: not wanted
        return lambda q, m: (letter in q.mailbox.current(m).flags) == wanted
    if key in HEADER_KEYS:
        return _headerMatch(HEADER_KEYS[key], _string(args))
    if key == b"HEADER":
        name = args.astring("header name").lower()
        return _headerMatch(name, _string(args))
    if key in (b"BODY", b"TEXT"):
        return _textMatch(_string(args), key == b"BODY")
    if key in (b"LARGER", b"SMALLER"):
        size = args.number("size")
        return (lambda q, m: m.size > size) if key == b"LARGER" else (lambda q, m: m.size < size)
    dates = {b"BEFORE": (lambda d, w: d < w, False), b"ON": (lambda d, w: d == w, False),
             b"SINCE": (lambda d, w: d >= w, False), b"SENTBEFORE": (lambda d, w: d < w, True),
             b"SENTON": (lambda d, w: d == w, True), b"SENTSINCE": (lambda d, w: d >= w, True)}
    if key in dates:
        compare, sent = dates[key]
        when = datetime.date(*parseDate(args.astring("date")))
        return _dateKey(when, compare, sent)
    if key == b"NOT":
        inner = _key(args, mailbox)
        return lambda q, m: not inner(q, m)
    if key == b"OR":
        first, second = _key(args, mailbox), _key(args, mailbox)
        return lambda q, m: first(q, m) or second(q, m)
    if key == b"UID":
        numbers = args.sequenceSet()
        return _inSet(numbers, uid=True)
    if key[:1].isdigit() or key[:1] in (b"*", b"$"):
        return _inSet(SequenceSet.parse(atom), uid=False)
    raise Bad(b"Unknown search key.")


def _inSet(numbers: SequenceSet, uid: bool) -> Predicate:
    if numbers.saved:
        return lambda q, m: m.uid in q.mailbox.saved
    if uid:
        return lambda q, m: numbers.contains(m.uid, q.largestUID)
    return lambda q, m: numbers.contains(q.seq, q.mailbox.exists)


def _program(args: Arguments, mailbox: Any) -> Predicate:
    keys = []
    while args.more:
        keys.append(_key(args, mailbox))
    if not keys:
        raise Bad(b"Missing search key.")
    if len(keys) == 1:
        return keys[0]
    return lambda q, m: all(key(q, m) for key in keys)


def parseProgram(args: Arguments, mailbox: Any) -> tuple[list[bytes] | None, Predicate]:
    """
    C{[RETURN (options)] [CHARSET name] keys...} -> the return options
    (L{None} without RETURN) and the program.
    """
    options = None
    if args.peekAtom() == b"RETURN":
        args.atom()
        options = [bytes(o).upper() for o in args.list("return options")]
        if any(o not in RETURN_OPTIONS for o in options):
            raise Bad(b"Invalid RETURN option.")
    if args.peekAtom() == b"CHARSET":
        args.atom()
        charset = args.astring("charset").upper()
        if charset not in (b"UTF-8", b"US-ASCII"):
            raise No(b"Unsupported charset.", b"BADCHARSET (UTF-8 US-ASCII)")
    return options, _program(args, mailbox)


def search(ctx: Any, perform: Any, args: Arguments, uid: bool = False) -> Handler:
    mailbox = perform.mailbox
    options, program = parseProgram(args, mailbox)
    query = Query(mailbox, perform.account.cache)
    found: list[int] = []
    gone = False
    for index, message in enumerate(list(mailbox.messages)):
        query.start(index + 1, message)
        try:
            while True:
                try:
                    matched = program(query, message)
                except _Unread as unread:
                    yield from query.read(unread.full)
                    continue
                break
        except KeyError:
            gone = True
            continue
        if matched:
            found.append(message.uid if uid else index + 1)
    if options is not None and b"SAVE" in options:
        mailbox.saved = set(found) if uid else {mailbox.messages[n - 1].uid for n in found}
        options = [o for o in options if o != b"SAVE"]
        if not options:
            return b"OK Search completed, result saved."
    if options is None and not ctx.core.rev2:
        yield b"* SEARCH" + b"".join(b" %d" % n for n in found) + b"\r\n"
    else:
        yield _esearch(ctx.tag, uid, options or [b"ALL"], found)
    if gone:
        raise No(b"Some of the messages no longer exist.", b"EXPUNGEISSUED")
    return b"OK Search completed."


def _esearch(tag: bytes, uid: bool, options: list[bytes], found: list[int]) -> bytes:
    out = b"* ESEARCH (TAG " + quoted(tag) + b")" + (b" UID" if uid else b"")
    if found:
        if b"MIN" in options:
            out += b" MIN %d" % min(found)
        if b"MAX" in options:
            out += b" MAX %d" % max(found)
        if b"ALL" in options:
            out += b" ALL " + formatSequence(found)
    if b"COUNT" in options:
        out += b" COUNT %d" % len(found)
    return out + b"\r\n"

