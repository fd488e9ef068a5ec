# -*- test-case-name: tests.chat.test_lines -*-
"""
The chat wire format, both ways, without I/O.

Inbound: one raw line (bytes, terminator removed) becomes text, or is
refused with L{BadLine}.  Outbound: every line the server sends is built
here, so C{docs/chat-protocol.md} has one place to mirror.  Each outbound
line starts with a prefix that tells its kind apart::

    [#ROOM] NAME: TEXT        chat line said in ROOM by NAME
    [#ROOM] * NAME TEXT       action (/me) in ROOM by NAME
    [private] NAME: TEXT      private message from NAME to you
    *** TEXT                  system line (greeting, joins, who, new mail...)
    !!! TEXT                  error, answered to you alone

Lines end in a bare LF.
"""
from __future__ import annotations

import unicodedata

EOL = b"\n"

CHAT_PREFIX = b"[#"
PRIVATE_PREFIX = b"[private] "
SYSTEM_PREFIX = b"*** "
ERROR_PREFIX = b"!!! "

# Characters that never travel: C0/C1 controls, DEL, line and paragraph
# separators.  A tab is turned into a space instead.
_REFUSED_CATEGORIES = frozenset({"Cc", "Zl", "Zp"})


class BadLine(ValueError):
    """
    An inbound line that cannot be accepted; C{str(self)} is the public reason.
    """


def decodeLine(raw: bytes) -> str:
    """
    Turn one received line (without its LF; a trailing CR is dropped) into
    text: strict UTF-8, tabs become spaces, and no control characters.

    @raise BadLine: for invalid UTF-8 or a control character.
    """
    if raw.endswith(b"\r"):
        raw = raw[:-1]
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise BadLine("invalid UTF-8, line ignored") from None
    if text.isprintable():          # the common case, checked in C
        return text
    text = text.replace("\t", " ")
    for char in text:
        if unicodedata.category(char) in _REFUSED_CATEGORIES:
            raise BadLine("control characters are not allowed, line ignored")
    return text


def oneLine(text: str, limit: int = 200) -> str:
    """
    Sanitise foreign text (a mail subject, a sender) for a system line:
    controls and line breaks become spaces, runs of spaces collapse, and it is
    cut to C{limit} characters.
    """
    cleaned = "".join(" " if unicodedata.category(c) in _REFUSED_CATEGORIES or c.isspace() else c
                      for c in text)
    cleaned = " ".join(cleaned.split())
    if len(cleaned) > limit:
        cleaned = cleaned[:limit - 3] + "..."
    return cleaned


def _utf8(text: str) -> bytes:
    return text.encode("utf-8")


def chat(room: str, name: str, text: str) -> bytes:
    return b"[#%s] %s: %s\n" % (_utf8(room), _utf8(name), _utf8(text))


def action(room: str, name: str, text: str) -> bytes:
    return b"[#%s] * %s %s\n" % (_utf8(room), _utf8(name), _utf8(text))


def private(name: str, text: str) -> bytes:
    return b"[private] %s: %s\n" % (_utf8(name), _utf8(text))


def system(text: str) -> bytes:
    return SYSTEM_PREFIX + _utf8(text) + EOL


def error(text: str) -> bytes:
    return ERROR_PREFIX + _utf8(text) + EOL


def listing(head: str, items: list[str], width: int = 400) -> bytes:
    """
    System lines C{*** HEAD: item item ...}, wrapped so that no line carries
    much more than C{width} characters of items (big rooms stay readable and
    no single line grows without bound).
    """
    out = []
    chunk: list[str] = []
    size = 0
    for item in items:
        if chunk and size + len(item) > width:
            out.append(system(f"{head}: {' '.join(chunk)}"))
            chunk, size = [], 0
        chunk.append(item)
        size += len(item) + 1
    out.append(system(f"{head}: {' '.join(chunk)}" if chunk else f"{head}:"))
    return b"".join(out)
