# -*- test-case-name: tests.imap.test_fetch -*-
"""
FETCH (RFC 9051 §6.4.5): the data items, and their values for each
message, read as little as possible:

  - FLAGS, UID, RFC822.SIZE and INTERNALDATE come from the folder's
    listing (Maildir: file names and one stat; PostgreSQL: the index
    columns), no message is opened;
  - ENVELOPE and header sections need the header only, read once and
    kept (L{twisted_mail_suite.imap.messageinfo});
  - BODYSTRUCTURE, BODY and part sections need the structure, parsed
    once from the whole message and kept (offsets, not content);
  - C{BODY[]} and C{RFC822} (and their partial forms) of a large message
    are streamed from the content a chunk at a time, never held whole (a
    small one, up to L{INLINE} octets, is read at once: fewer writes).

Reading a body without C{.PEEK} sets C{\\Seen} (read-write mailboxes),
and the new FLAGS go in the same response.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Generator, Iterator

from .connection import Handler
from .grammar import Arguments, SyntaxError_, formatDateTime, tokenize
from .messageinfo import MessageInfo, loadFull, loadHeader, readAll, streamRange
from .responses import Bad, No, literal, quoted
from .structure import SectionError, binaryContent, bodyStructure, headerFields, sectionRange

__all__ = ["Item", "fetch", "parseItems"]

_SECTION = re.compile(
    rb"^(BODY|BODY\.PEEK|BINARY|BINARY\.PEEK|BINARY\.SIZE)\[([^\]]*)\](?:<(\d{1,10})(?:\.(\d{1,10}))?>)?$",
    re.IGNORECASE)
_SECTION_SPEC = re.compile(
    rb"^((?:[1-9]\d{0,8}\.)*[1-9]\d{0,8})?\.?(HEADER\.FIELDS\.NOT|HEADER\.FIELDS|HEADER|TEXT|MIME)?"
    rb"(?:\s*\((.*)\))?$", re.IGNORECASE | re.DOTALL)
MACROS = {b"ALL": [b"FLAGS", b"INTERNALDATE", b"RFC822.SIZE", b"ENVELOPE"],
          b"FAST": [b"FLAGS", b"INTERNALDATE", b"RFC822.SIZE"],
          b"FULL": [b"FLAGS", b"INTERNALDATE", b"RFC822.SIZE", b"ENVELOPE", b"BODY"]}
SIMPLE = {b"UID": "uid", b"FLAGS": "flags", b"INTERNALDATE": "internaldate", b"RFC822.SIZE": "size",
          b"ENVELOPE": "envelope", b"BODYSTRUCTURE": "bodystructure", b"BODY": "body"}
FLUSH = 64 * 1024          # octets gathered per write: past the transport's buffer (64 KiB), so each
                           # write pauses the handler and is sent as it is, never joined again
INLINE = 128 * 1024        # a message up to this size is read whole; a larger one is streamed


@dataclass(frozen=True)
class Item:
    """
    One data item to fetch.

    @ivar name: its name in the response (C{BODY[HEADER]<0>}).
    @ivar kind: C{uid flags internaldate size envelope bodystructure body
        section binary binarysize}.
    @ivar text: the section's text part, upper case (C{HEADER}, C{TEXT},
        C{MIME}, C{HEADER.FIELDS}, C{HEADER.FIELDS.NOT} or empty).
    @ivar partial: C{(start, length)} (length L{None}: to the end).
    @ivar peek: reading it leaves \\Seen alone.
    """

    name: bytes
    kind: str
    numbers: tuple[int, ...] = ()
    text: bytes = b""
    fields: tuple[bytes, ...] = ()
    partial: tuple[int, int | None] | None = None
    peek: bool = True

    @property
    def whole(self) -> bool:
        """
        Is this the whole message (streamed from the file)?
        """
        return self.kind == "section" and not self.numbers and not self.text


def _item(token: bytes) -> Item:
    upper = token.upper()
    kind = SIMPLE.get(upper)
    if kind is not None:
        return Item(upper, kind)
    if upper == b"RFC822":
        return Item(b"RFC822", "section", peek=False)
    if upper == b"RFC822.HEADER":
        return Item(b"RFC822.HEADER", "section", text=b"HEADER")
    if upper == b"RFC822.TEXT":
        return Item(b"RFC822.TEXT", "section", text=b"TEXT", peek=False)
    match = _SECTION.match(token)
    if match is None:
        raise Bad(b"Invalid fetch attribute.")
    prefix, spec, start, length = match.groups()
    prefix = prefix.upper()
    section = _SECTION_SPEC.match(spec)
    if section is None:
        raise Bad(b"Invalid section.")
    numbersText, text, fieldsText = section.groups()
    numbers = tuple(int(n) for n in numbersText.split(b".")) if numbersText else ()
    text = (text or b"").upper()
    fields: tuple[bytes, ...] = ()
    if text.startswith(b"HEADER.FIELDS"):
        try:
            tokens = tokenize([fieldsText or b""])
        except SyntaxError_:
            raise Bad(b"Invalid header field list.") from None
        if not tokens or any(isinstance(t, list) for t in tokens):
            raise Bad(b"Invalid header field list.")
        fields = tuple(bytes(t) for t in tokens)
    elif fieldsText is not None or (text == b"MIME" and not numbers):
        raise Bad(b"Invalid section.")
    if prefix.startswith(b"BINARY") and text:
        raise Bad(b"Invalid BINARY section.")
    partial = None
    if start is not None:
        if prefix == b"BINARY.SIZE" or length is None:
            raise Bad(b"Invalid partial.")
        partial = (int(start), int(length))
    sectionName = b".".join(b"%d" % n for n in numbers)
    if text:
        sectionName += (b"." if sectionName else b"") + text
    if fields:
        sectionName += b" (" + b" ".join(fields) + b")"
    base = {b"BODY": b"BODY", b"BODY.PEEK": b"BODY", b"BINARY": b"BINARY", b"BINARY.PEEK": b"BINARY",
            b"BINARY.SIZE": b"BINARY.SIZE"}[prefix]
    name = base + b"[" + sectionName + b"]" + (b"<%d>" % partial[0] if partial else b"")
    kind = {b"BODY": "section", b"BINARY": "binary", b"BINARY.SIZE": "binarysize"}[base]
    return Item(name, kind, numbers, text, fields, partial, peek=prefix.endswith(b".PEEK") or base == b"BINARY.SIZE")


def parseItems(args: Arguments) -> list[Item]:
    token = args.peek()
    if isinstance(token, list):
        tokens = args.list("fetch attributes")
        if not tokens:
            raise Bad(b"Missing fetch attributes.")
    else:
        atom = args.atom("fetch attribute")
        tokens = MACROS.get(atom.upper(), [atom])
    items = []
    for token in tokens:
        if not isinstance(token, bytes):
            raise Bad(b"Invalid fetch attribute.")
        items.append(_item(token))
    return items


def fetch(ctx: Any, perform: Any, args: Arguments, uid: bool = False) -> Handler:
    mailbox = perform.mailbox
    targets = mailbox.resolve(args.sequenceSet(), uid)
    items = parseItems(args)
    if args.more:
        raise Bad(b"FETCH modifiers are not supported.")
    if uid and not any(item.kind == "uid" for item in items):
        items.insert(0, Item(b"UID", "uid"))
    utf8 = ctx.core.rev2
    cache = perform.account.cache
    wantsFlags = any(item.kind == "flags" for item in items)
    setsSeen = not mailbox.readOnly and any(not item.peek for item in items)
    pending: list[bytes] = []
    size = 0
    missing = False
    for seq, message in targets:
        try:
            pieces = yield from _message(mailbox, cache, seq, message, items, utf8, wantsFlags, setsSeen)
        except KeyError:
            missing = True
            continue
        for piece in pieces:
            if isinstance(piece, bytes):
                pending.append(piece)
                size += len(piece)
                if size <= FLUSH:
                    continue
            if pending:
                yield b"".join(pending)
                pending, size = [], 0
            if not isinstance(piece, bytes):
                yield from piece
    if pending:
        yield b"".join(pending)
    if missing:
        raise No(b"Some of the requested messages no longer exist.", b"EXPUNGEISSUED")
    return b"OK Fetch completed."


def _message(mailbox: Any, cache: Any, seq: int, message: Any, items: list[Item], utf8: bool,
             wantsFlags: bool, setsSeen: bool) -> Generator[Any, Any, list[bytes | Iterator[bytes]]]:
    """
    The response for one message, as bytes and streams to send in order
    (a sub-generator of the handler: it waits for the folder).

    @raise KeyError: the message is gone and its content was asked for.
    """
    folder = mailbox.folder
    current = mailbox.current(message)        # a message gone meanwhile keeps what is known of it
    info: MessageInfo | None = None
    data: bytes | None = None
    parts: list[Any] = []
    if setsSeen and "S" not in current.flags:
        changed = yield folder.setFlags([current.uid], add="S")
        mailbox.replace(changed)
        current = mailbox.current(current)
        if not wantsFlags:
            items = [*items, Item(b"FLAGS", "flags")]
    for item in items:
        kind = item.kind
        if kind == "uid":
            parts.append(b"UID %d" % current.uid)
        elif kind == "flags":
            parts.append(b"FLAGS " + mailbox.flagsResponse(current))
        elif kind == "size":
            parts.append(b"RFC822.SIZE %d" % current.size)
        elif kind == "internaldate":
            parts.append(b"INTERNALDATE " + quoted(formatDateTime(current.internalDate)))
        elif kind == "envelope":
            info = info or (yield from loadHeader(cache, folder, current))
            parts.append(b"ENVELOPE " + info.envelope(utf8))
        elif kind in ("bodystructure", "body"):
            if info is None or info.root is None:
                info, data = yield from loadFull(cache, folder, current, data)
            parts.append(kind.upper().encode() + b" " + bodyStructure(info.root, kind == "bodystructure", utf8))
        elif item.whole and (data is not None or current.size <= INLINE):
            if data is None:
                data = yield from readAll(folder, current)
            value = _partial(data, item.partial)
            parts.append((item.name + b" {%d}\r\n" % len(value), value))     # the content itself, not a copy
        elif item.whole:
            parts.append((item.name + b" ", (yield from streamRange(folder, current, item.partial))))
        elif kind == "section" and not item.numbers and item.text in (b"HEADER", b"HEADER.FIELDS",
                                                                      b"HEADER.FIELDS.NOT"):
            info = info or (yield from loadHeader(cache, folder, current))
            value = info.header if item.text == b"HEADER" else \
                headerFields(info.headers, item.fields, item.text.endswith(b".NOT"))
            parts.append(item.name + b" " + _literal(value, item.partial))
        else:
            if info is None or info.root is None or data is None:
                info, data = yield from loadFull(cache, folder, current, data)
            parts.append(item.name + b" " + _section(item, info, data))
    out: list[Any] = []
    text = b"* %d FETCH (" % seq
    for index, part in enumerate(parts):
        if index:
            text += b" "
        if isinstance(part, tuple):       # (text, content bytes or a stream): the content goes as it is
            out += [text + part[0], part[1]]
            text = b""
        else:
            text += part
    out.append(text + b")\r\n")
    return out


def _partial(value: bytes, partial: tuple[int, int | None] | None) -> bytes:
    if partial is not None:
        start, length = partial
        value = value[start:start + length] if length is not None else value[start:]
    return value


def _literal(value: bytes, partial: tuple[int, int | None] | None) -> bytes:
    return literal(_partial(value, partial))


def _section(item: Item, info: MessageInfo, data: bytes) -> bytes:
    root = info.root
    try:
        if item.kind in ("binary", "binarysize"):
            content = binaryContent(data, root, item.numbers)
            if item.kind == "binarysize":
                return b"%d" % len(content)
            if item.partial is not None:
                start, length = item.partial
                content = content[start:start + length] if length is not None else content[start:]
            return (b"~{%d}\r\n" % len(content) if b"\0" in content else b"{%d}\r\n" % len(content)) + content
        found = sectionRange(root, item.numbers, item.text)
    except SectionError as e:
        if e.code:
            raise No(b"Unknown content transfer encoding.", e.code) from None
        return b"NIL" if item.kind != "binarysize" else b"0"
    if isinstance(found, list):
        value = headerFields(found, item.fields, item.text.endswith(b".NOT"))
    else:
        value = data[found[0]:found[1]]
    return _literal(value, item.partial)

