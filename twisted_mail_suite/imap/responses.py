# -*- test-case-name: tests.imap.test_responses -*-
"""
Writing IMAP data, free of I/O: strings (atom, quoted or literal as the
octets require), NIL, lists, flags, and the errors a command handler
raises to end with C{NO} or C{BAD}.
"""
from __future__ import annotations

from typing import Iterable

__all__ = [
    "CRLF", "IMAPError", "No", "Bad", "astring", "nstring", "string", "quoted", "literal", "flagList",
    "SYSTEM_FLAGS",
]

CRLF = b"\r\n"
SYSTEM_FLAGS = (b"\\Answered", b"\\Flagged", b"\\Deleted", b"\\Seen", b"\\Draft")
_ATOM_SPECIALS = frozenset(b'(){ %*"\\]')
_QUOTABLE_MAX = 1024


class IMAPError(Exception):
    """
    The command fails: C{status} (C{b"NO"} or C{b"BAD"}), an optional
    response code (C{b"TRYCREATE"}) and the text, for the client.
    C{reason} is for the log only.
    """

    status = b"NO"

    def __init__(self, text: bytes, code: bytes | None = None, reason: str = "") -> None:
        super().__init__(text, code, reason)
        self.text = text
        self.code = code
        self.reason = reason

    def line(self) -> bytes:
        """
        The tagged line's text after the tag (no line end).
        """
        if self.code:
            return b"%s [%s] %s" % (self.status, self.code, self.text)
        return b"%s %s" % (self.status, self.text)


class No(IMAPError):
    status = b"NO"


class Bad(IMAPError):
    status = b"BAD"


def quoted(data: bytes) -> bytes:
    """
    C{data} as a quoted string (it must hold no CR, LF or NUL).
    """
    return b'"' + data.replace(b"\\", b"\\\\").replace(b'"', b'\\"') + b'"'


def literal(data: bytes) -> bytes:
    return b"{%d}\r\n%s" % (len(data), data)


def string(data: bytes, utf8: bool = False) -> bytes:
    """
    C{data} as a quoted string if it can be one (short, no CR/LF/NUL, and
    7-bit unless C{utf8}), else as a literal.
    """
    if len(data) <= _QUOTABLE_MAX and not any(c in data for c in b"\r\n\0") \
            and (utf8 or data.isascii()):
        return quoted(data)
    return literal(data)


def nstring(data: bytes | None, utf8: bool = False) -> bytes:
    return b"NIL" if data is None else string(data, utf8)


def astring(data: bytes, utf8: bool = False) -> bytes:
    """
    C{data} as an atom when it is one (and not C{NIL}), else a string.
    """
    if data and data.isascii() and data.upper() != b"NIL" \
            and not any(c <= 0x20 or c == 0x7f or c in _ATOM_SPECIALS for c in data):
        return data
    return string(data, utf8)


def flagList(flags: Iterable[bytes]) -> bytes:
    return b"(" + b" ".join(flags) + b")"
