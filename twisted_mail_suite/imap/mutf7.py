# -*- test-case-name: tests.imap.test_mutf7 -*-
"""
Modified UTF-7 (RFC 3501 §5.1.3), the mailbox-name encoding of IMAP4rev1.
Mailbox names are kept in this form on disk (as Dovecot keeps them); an
IMAP4rev2 client (RFC 9051 §5.1) sees and sends UTF-8.
"""
from __future__ import annotations

import base64
import binascii

__all__ = ["decode", "encode", "storedName", "wireName", "MUTF7Error"]


class MUTF7Error(ValueError):
    """
    Not valid modified UTF-7.
    """


def encode(text: str) -> bytes:
    """
    C{text} in modified UTF-7.
    """
    out = bytearray()
    pending: list[str] = []

    def flush() -> None:
        if pending:
            raw = "".join(pending).encode("utf-16-be")
            out.extend(b"&" + base64.b64encode(raw).rstrip(b"=").replace(b"/", b",") + b"-")
            pending.clear()

    for character in text:
        if 0x20 <= ord(character) <= 0x7e:
            flush()
            out.extend(b"&-" if character == "&" else character.encode("ascii"))
        else:
            pending.append(character)
    flush()
    return bytes(out)


def decode(data: bytes) -> str:
    """
    The text of modified UTF-7 C{data}.

    @raise MUTF7Error: C{data} is not modified UTF-7.
    """
    out = []
    i, n = 0, len(data)
    while i < n:
        c = data[i]
        if c == 0x26:                                   # &
            end = data.find(b"-", i + 1)
            if end < 0:
                raise MUTF7Error("unterminated shift")
            chunk = data[i + 1:end]
            if not chunk:
                out.append("&")
            else:
                padded = chunk.replace(b",", b"/") + b"=" * (-len(chunk) % 4)
                try:
                    raw = base64.b64decode(padded, validate=True)
                    out.append(raw.decode("utf-16-be"))
                except (binascii.Error, UnicodeDecodeError, ValueError):
                    raise MUTF7Error("bad base64 run") from None
            i = end + 1
        elif 0x20 <= c <= 0x7e:
            out.append(chr(c))
            i += 1
        else:
            raise MUTF7Error("octet outside modified UTF-7")
    return "".join(out)


def storedName(raw: bytes, utf8: bool) -> str:
    """
    A mailbox name from the wire as stored: UTF-8 (an IMAP4rev2 client,
    or 8-bit octets from any client) is converted to modified UTF-7;
    7-bit names must be valid modified UTF-7.

    @raise MUTF7Error: neither valid UTF-8 nor modified UTF-7.
    """
    if utf8 or not raw.isascii():
        try:
            return encode(raw.decode("utf-8")).decode("ascii")
        except UnicodeDecodeError:
            raise MUTF7Error("not UTF-8") from None
    decode(raw)
    return raw.decode("ascii")


def wireName(name: str, utf8: bool) -> bytes:
    """
    A stored mailbox name as the client sees it (UTF-8 for IMAP4rev2).
    """
    if utf8:
        try:
            return decode(name.encode("ascii")).encode("utf-8")
        except (MUTF7Error, UnicodeError):
            pass
    return name.encode("ascii", "replace")
