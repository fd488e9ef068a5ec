# -*- test-case-name: tests.imap.test_mime -*-
"""
A message's MIME structure with the offset of every part, free of I/O:
what FETCH needs for ENVELOPE, BODYSTRUCTURE and C{BODY[section]}, and
SEARCH for header keys.  The input is the message in wire form (CRLF line
ends), so offsets and sizes are those the client sees.

Parsing is bounded: parts nested deeper than L{MAX_DEPTH} or beyond
L{MAX_PARTS} are treated as opaque leaves, and malformed input never
raises (a multipart without a usable boundary is a leaf, a header without
a blank line has an empty body).
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

__all__ = [
    "Header", "Part", "headerEnd", "parseHeader", "parseMessage", "parseParameters", "unfold",
    "MAX_DEPTH", "MAX_PARTS",
]

MAX_DEPTH = 20
MAX_PARTS = 1000
_FOLD = re.compile(rb"\r?\n(?=[ \t])")


def unfold(value: bytes) -> bytes:
    """
    A header value without its folding line breaks, trimmed.
    """
    return _FOLD.sub(b"", value).strip(b" \t\r\n")


@dataclass(slots=True)
class Header:
    """
    One header field: C{name} lower-cased, C{raw} the whole field as sent
    (name, colon, folded value and its CRLF).
    """

    name: bytes
    raw: bytes

    @property
    def value(self) -> bytes:
        return unfold(self.raw.split(b":", 1)[1]) if b":" in self.raw else b""


def headerEnd(data: bytes, start: int = 0, end: int | None = None) -> int:
    """
    Where the body starts: after the blank line that ends the header
    starting at C{start}, or C{end} if there is none.
    """
    end = len(data) if end is None else end
    if data.startswith(b"\r\n", start):
        return start + 2
    blank = data.find(b"\r\n\r\n", start, end)
    return end if blank < 0 else blank + 4


def parseHeader(block: bytes) -> list[Header]:
    """
    The fields of a header block (continuation lines joined to their field).
    """
    fields: list[Header] = []
    for line in block.split(b"\r\n"):
        if not line:
            continue
        if line[:1] in (b" ", b"\t") and fields:
            fields[-1].raw += line + b"\r\n"
            continue
        name = line.split(b":", 1)[0].strip().lower() if b":" in line else b""
        fields.append(Header(name, line + b"\r\n"))
    return fields


def parseParameters(value: bytes) -> tuple[bytes, list[tuple[bytes, bytes]]]:
    """
    C{type/subtype; a=b; c="d e"} -> (C{type/subtype}, [(a, b), (c, d e)]).
    """
    items: list[bytes] = []
    current = bytearray()
    quoted = False
    escaped = False
    for c in value:
        if escaped:
            current.append(c)
            escaped = False
        elif c == 0x5c and quoted:
            escaped = True
        elif c == 0x22:
            quoted = not quoted
        elif c == 0x3b and not quoted:
            items.append(bytes(current))
            current = bytearray()
        else:
            current.append(c)
    items.append(bytes(current))
    main = re.sub(rb"\([^)]*\)", b"", items[0]).strip()
    params = []
    for item in items[1:]:
        name, equals, val = item.partition(b"=")
        name = name.strip()
        if equals and name:
            params.append((name, val.strip()))
    return main, params


@dataclass(slots=True)
class Part:
    """
    One entity: the message itself, a part of a multipart, or the message
    inside a C{message/rfc822} part (L{message}).

    @ivar start: offset of its header (the MIME header of a part).
    @ivar bodyStart: offset of its body.
    @ivar end: offset just past its body.
    """

    start: int
    bodyStart: int
    end: int
    headers: list[Header]
    mainType: bytes = b"text"
    subType: bytes = b"plain"
    params: list[tuple[bytes, bytes]] = field(default_factory=list)
    children: list[Part] = field(default_factory=list)
    message: Part | None = None
    lines: int = 0

    @property
    def isMultipart(self) -> bool:
        return bool(self.children)

    @property
    def isMessage(self) -> bool:
        return self.message is not None

    def header(self, name: bytes) -> bytes | None:
        """
        The unfolded value of the first field called C{name} (lower case).
        """
        for h in self.headers:
            if h.name == name:
                return h.value
        return None

    def param(self, name: bytes) -> bytes | None:
        for key, value in self.params:
            if key.lower() == name:
                return value
        return None


class _Budget:
    __slots__ = ("parts",)

    def __init__(self) -> None:
        self.parts = 0


def parseMessage(data: bytes) -> Part:
    """
    The structure of the message C{data} (wire form).
    """
    return _parse(data, 0, len(data), b"text/plain", 0, _Budget())


def _parse(data: bytes, start: int, end: int, defaultType: bytes, depth: int, budget: _Budget) -> Part:
    budget.parts += 1
    bodyStart = headerEnd(data, start, end)
    headers = parseHeader(data[start:bodyStart])
    part = Part(start, bodyStart, end, headers)
    contentType = part.header(b"content-type")
    typeText, params = parseParameters(contentType) if contentType else (defaultType, [])
    mainType, slash, subType = typeText.partition(b"/")
    if not slash or not mainType.strip() or not subType.strip():
        mainType, subType, params = b"text", b"plain", params if contentType else []
    part.mainType, part.subType, part.params = mainType.strip().lower(), subType.strip().lower(), params
    body = data[bodyStart:end]
    part.lines = body.count(b"\n") + (1 if body and not body.endswith(b"\n") else 0)
    if depth >= MAX_DEPTH or budget.parts >= MAX_PARTS:
        return part
    if part.mainType == b"multipart":
        boundary = part.param(b"boundary")
        if boundary:
            child = b"message/rfc822" if part.subType == b"digest" else b"text/plain"
            for childStart, childEnd in _split(data, bodyStart, end, boundary):
                if budget.parts >= MAX_PARTS:
                    break
                part.children.append(_parse(data, childStart, childEnd, child, depth + 1, budget))
    elif part.mainType == b"message" and part.subType in (b"rfc822", b"global"):
        part.message = _parse(data, bodyStart, end, b"text/plain", depth + 1, budget)
    return part


def _split(data: bytes, start: int, end: int, boundary: bytes) -> list[tuple[int, int]]:
    """
    The (start, end) of each part between the delimiters C{--boundary}
    (the CRLF before a delimiter belongs to it, RFC 2046 §5.1.1).
    """
    delimiter = b"--" + boundary
    positions: list[tuple[int, bool, int]] = []   # (delimiter start, is close, next line start)
    at = start if data.startswith(delimiter, start) else -1
    if at < 0:
        found = data.find(b"\r\n" + delimiter, start, end)
        at = found + 2 if found >= 0 else -1
    while 0 <= at < end:
        after = at + len(delimiter)
        close = data.startswith(b"--", after)
        lineEnd = data.find(b"\r\n", after, end)
        rest = data[after + (2 if close else 0):lineEnd if lineEnd >= 0 else end]
        if not rest.strip(b" \t"):
            positions.append((at, close, lineEnd + 2 if lineEnd >= 0 else end))
            if close:
                break
        found = data.find(b"\r\n" + delimiter, after, end)
        at = found + 2 if found >= 0 else -1
    parts = []
    for (at, close, nextLine), following in zip(positions, positions[1:] + [None]):  # type: ignore[list-item]
        if close:
            break
        partEnd = end if following is None else max(nextLine, following[0] - 2)
        parts.append((nextLine, partEnd))
    return parts
