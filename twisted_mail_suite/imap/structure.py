# -*- test-case-name: tests.imap.test_mime -*-
"""
FETCH data made from a message's structure (L{twisted_mail_suite.imap.mime}),
free of I/O: ENVELOPE, BODY and BODYSTRUCTURE (RFC 9051 §7.5.2), the
octet range of a C{BODY[section]}, and the decoded content of a
C{BINARY[section]}.
"""
from __future__ import annotations

import base64
import binascii
import quopri
from email.utils import getaddresses
from typing import Sequence

from .mime import Header, Part, parseParameters
from .responses import nstring, string

__all__ = ["SectionError", "binaryContent", "bodyStructure", "envelope", "findPart", "headerFields",
           "sectionRange"]


class SectionError(Exception):
    """
    The section names no part of this message, or one that cannot be
    decoded (C{code} C{UNKNOWN-CTE}).
    """

    def __init__(self, code: bytes | None = None) -> None:
        super().__init__(code)
        self.code = code


def _first(headers: Sequence[Header], name: bytes) -> bytes | None:
    for h in headers:
        if h.name == name:
            return h.value
    return None


def _addresses(value: bytes | None, utf8: bool) -> bytes:
    if value is None:
        return b"NIL"
    out = []
    for name, address in getaddresses([value.decode("latin-1")]):
        if not address and not name:
            continue
        mailbox, at, host = address.rpartition("@")
        if not at:
            mailbox, host = address, "MISSING_DOMAIN"
        out.append(b"(%s NIL %s %s)" % (
            nstring(name.encode("latin-1"), utf8) if name else b"NIL",
            string(mailbox.encode("latin-1"), utf8), string(host.encode("latin-1"), utf8)))
    return b"(" + b"".join(out) + b")" if out else b"NIL"


def envelope(headers: Sequence[Header], utf8: bool = False) -> bytes:
    """
    The ENVELOPE of a message with C{headers}: date, subject, from, sender
    and reply-to (both defaulting to from), to, cc, bcc, in-reply-to and
    message-id, as sent (encoded words are the client's to decode).
    """
    sender = _first(headers, b"from")
    fields = [
        nstring(_first(headers, b"date"), utf8),
        nstring(_first(headers, b"subject"), utf8),
        _addresses(sender, utf8),
        _addresses(_first(headers, b"sender") or sender, utf8),
        _addresses(_first(headers, b"reply-to") or sender, utf8),
        _addresses(_first(headers, b"to"), utf8),
        _addresses(_first(headers, b"cc"), utf8),
        _addresses(_first(headers, b"bcc"), utf8),
        nstring(_first(headers, b"in-reply-to"), utf8),
        nstring(_first(headers, b"message-id"), utf8),
    ]
    return b"(" + b" ".join(fields) + b")"


def _params(params: Sequence[tuple[bytes, bytes]], utf8: bool) -> bytes:
    if not params:
        return b"NIL"
    return b"(" + b" ".join(string(name.lower(), utf8) + b" " + string(value, utf8)
                            for name, value in params) + b")"


def _disposition(part: Part, utf8: bool) -> bytes:
    value = part.header(b"content-disposition")
    if not value:
        return b"NIL"
    kind, params = parseParameters(value)
    return b"(%s %s)" % (string(kind.strip().lower(), utf8), _params(params, utf8))


def _language(part: Part, utf8: bool) -> bytes:
    value = part.header(b"content-language")
    if not value:
        return b"NIL"
    tags = [t.strip() for t in value.split(b",") if t.strip()]
    if len(tags) == 1:
        return string(tags[0], utf8)
    return b"(" + b" ".join(string(t, utf8) for t in tags) + b")"


def bodyStructure(part: Part, extensible: bool = True, utf8: bool = False) -> bytes:
    """
    BODYSTRUCTURE (C{extensible}) or BODY of C{part}.
    """
    if part.isMultipart:
        out = b"".join(bodyStructure(child, extensible, utf8) for child in part.children)
        out = b"(" + out + b" " + string(part.subType.upper(), utf8)
        if extensible:
            params = [(k, v) for k, v in part.params]
            out += b" %s %s %s %s" % (_params(params, utf8), _disposition(part, utf8), _language(part, utf8),
                                      nstring(part.header(b"content-location"), utf8))
        return out + b")"
    encoding = part.header(b"content-transfer-encoding")
    fields = [
        string(part.mainType.upper(), utf8), string(part.subType.upper(), utf8),
        _params(part.params, utf8),
        nstring(part.header(b"content-id"), utf8),
        nstring(part.header(b"content-description"), utf8),
        string(encoding.upper() if encoding else b"7BIT", utf8),
        b"%d" % (part.end - part.bodyStart),
    ]
    if part.message is not None:
        inner = part.message
        fields += [envelope(inner.headers, utf8), bodyStructure(inner, extensible, utf8), b"%d" % part.lines]
    elif part.mainType == b"text":
        fields.append(b"%d" % part.lines)
    if extensible:
        fields += [nstring(part.header(b"content-md5"), utf8), _disposition(part, utf8),
                   _language(part, utf8), nstring(part.header(b"content-location"), utf8)]
    return b"(" + b" ".join(fields) + b")"


def findPart(root: Part, numbers: Sequence[int]) -> Part | None:
    """
    The part numbered C{numbers} (C{[1, 2]} for C{1.2}), RFC 9051
    §6.4.5: a non-multipart message (or encapsulated message) has only
    part 1, its body.
    """
    current: Part | None = None
    for number in numbers:
        if current is None:
            container = root
        elif current.message is not None:
            container = current.message
        elif current.isMultipart:
            container = current
        else:
            return None
        if container.isMultipart:
            if not 1 <= number <= len(container.children):
                return None
            current = container.children[number - 1]
        elif number == 1:
            current = container
        else:
            return None
    return current


def headerFields(headers: Sequence[Header], names: Sequence[bytes], exclude: bool) -> bytes:
    """
    The raw fields named (or, if C{exclude}, not named) in C{names}, then
    the blank line.
    """
    wanted = {n.lower() for n in names}
    return b"".join(h.raw for h in headers if (h.name in wanted) != exclude) + b"\r\n"


def sectionRange(root: Part, numbers: Sequence[int], text: bytes) -> tuple[int, int] | list[Header]:
    """
    Where C{BODY[numbers.text]} is in the message: an octet range, or for
    C{HEADER.FIELDS} the headers to filter (C{text} is upper case:
    C{b""}, C{HEADER}, C{TEXT}, C{MIME}, C{HEADER.FIELDS}, ...).

    @raise SectionError: no such part, or C{MIME}/C{HEADER}/C{TEXT} of a
        part that has none.
    """
    if numbers:
        part = findPart(root, numbers)
        if part is None:
            raise SectionError()
        if not text:
            return (part.bodyStart, part.end)
        if text == b"MIME":
            return (part.start, part.bodyStart)
        if part.message is not None:
            message = part.message
        elif part is root:                       # part 1 of a single-part message
            message = root
        else:
            raise SectionError()
    else:
        message = root
        if text == b"MIME":
            raise SectionError()
    if not text:
        return (message.start, message.end)
    if text == b"HEADER":
        return (message.start, message.bodyStart)
    if text == b"TEXT":
        return (message.bodyStart, message.end)
    return message.headers


def binaryContent(data: bytes, root: Part, numbers: Sequence[int]) -> bytes:
    """
    The decoded content of a leaf part (BINARY, RFC 3516 / RFC 9051).

    @raise SectionError: no such leaf part, or an unknown transfer
        encoding (code C{UNKNOWN-CTE}).
    """
    part = findPart(root, numbers) if numbers else (root if not root.isMultipart else None)
    if part is None or part.isMultipart:
        raise SectionError()
    body = data[part.bodyStart:part.end]
    encoding = (part.header(b"content-transfer-encoding") or b"7bit").strip().lower()
    if encoding in (b"7bit", b"8bit", b"binary"):
        return body
    if encoding == b"base64":
        try:
            return base64.b64decode(b"".join(body.split()), validate=False)
        except (binascii.Error, ValueError):
            raise SectionError(b"UNKNOWN-CTE") from None
    if encoding == b"quoted-printable":
        return quopri.decodestring(body)
    raise SectionError(b"UNKNOWN-CTE")

