# -*- test-case-name: tests.smtp.test_address -*-
"""
Parsing the arguments of MAIL and RCPT (RFC 5321 §4.1.2, RFC 1870, RFC 6152,
RFC 6531): the path in angle brackets and the ESMTP parameters after it;
and the EHLO/HELO name, made safe for trace fields and logs
(L{neuterHelo}, L{isHeloDomain}).  No I/O; failures are L{ProtocolError}s
carrying their reply.
"""
from __future__ import annotations

import ipaddress
import re
from functools import lru_cache

from ..errors import ProtocolError

__all__ = ["isHeloDomain", "neuterHelo", "parseMailArguments", "parseRcptArguments", "MAX_HELO", "MAX_PATH"]

MAX_PATH = 256          # RFC 5321 §4.5.3.1.3, with the angle brackets
MAX_HELO = 255          # RFC 5321 §4.5.3.1.2 (a domain); Postfix's VALID_HOSTNAME_LEN

_ATEXT = rb"[A-Za-z0-9!#$%&'*+/=?^_`{|}~\x80-\xff-]"
_DOT_ATOM = rb"%s+(?:\.%s+)*" % (_ATEXT, _ATEXT)
_QUOTED = rb'"(?:[\x20\x21\x23-\x5b\x5d-\x7e\x80-\xff]|\\[\x20-\x7e])*"'
_LABEL = rb"[A-Za-z0-9\x80-\xff](?:[A-Za-z0-9\x80-\xff-]*[A-Za-z0-9\x80-\xff])?"
_DOMAIN = rb"(?:%s(?:\.%s)*\.?|\[[!-Z^-~]+\])" % (_LABEL, _LABEL)
_MAILBOX = re.compile(rb"^(?:%s|%s)@%s$" % (_DOT_ATOM, _QUOTED, _DOMAIN))
_ROUTE = re.compile(rb"^@[^:<>\s]+(?:,@[^:<>\s]+)*:")
_PARAM = re.compile(rb"^([A-Za-z0-9][A-Za-z0-9-]*)(?:=([\x21-\x3c\x3e-\x7e]+))?$")


def _split(argument: bytes, keyword: bytes, code: bytes) -> tuple[bytes, list[bytes]]:
    """
    C{FROM:<path> A=B C} -> (C{path}, [C{A=B}, C{C}]).
    """
    if argument[:len(keyword)].upper() != keyword:
        raise ProtocolError(b"501 5.5.4", b"Syntax: MAIL FROM:<address> or RCPT TO:<address>",
                            f"missing {keyword!r}")
    rest = argument[len(keyword):].lstrip(b" ")
    if not rest.startswith(b"<"):
        raise ProtocolError(b"501 " + code, b"Syntax: address must be in angle brackets",
                            f"no angle brackets in {rest[:40]!r}")
    close = rest.find(b">")
    if close < 0:
        raise ProtocolError(b"501 " + code, b"Syntax: unterminated address", "no closing bracket")
    if close + 1 > MAX_PATH:
        raise ProtocolError(b"501 " + code, b"Address too long", f"path of {close + 1} octets")
    path, after = rest[1:close], rest[close + 1:]
    if after and not after.startswith(b" "):
        raise ProtocolError(b"501 " + code, b"Syntax: junk after address", f"{after[:40]!r}")
    if path[:1] == b"@":
        route = _ROUTE.match(path)
        if route is not None:                  # source routes are ignored (RFC 5321 §4.1.1.3)
            path = path[route.end():]
    return path, after.split()


@lru_cache(maxsize=1024)
def _mailboxSyntax(path: bytes) -> bool:
    """
    Is C{path} a mailbox by RFC 5321's grammar?  Remembered for the last
    addresses seen: a client sends the same sender and recipients message
    after message, and the grammar's regex is the costliest step of MAIL
    and RCPT.
    """
    return _MAILBOX.match(path) is not None


def _checkMailbox(path: bytes, utf8: bool, code: bytes) -> None:
    if not _mailboxSyntax(path):
        raise ProtocolError(b"501 " + code, b"Bad address syntax", f"bad mailbox {path[:60]!r}")
    if not path.isascii():
        if not utf8:
            raise ProtocolError(b"553 5.6.7", b"Non-ASCII address requires SMTPUTF8",
                                "UTF-8 address without SMTPUTF8")
        try:
            path.decode("utf-8")
        except UnicodeDecodeError:
            raise ProtocolError(b"501 " + code, b"Address is not valid UTF-8", "bad UTF-8") from None


def _parameters(words: list[bytes]) -> dict[bytes, bytes | None]:
    params: dict[bytes, bytes | None] = {}
    for word in words:
        match = _PARAM.match(word)
        if match is None:
            raise ProtocolError(b"501 5.5.4", b"Bad parameter syntax", f"parameter {word[:40]!r}")
        key = match.group(1).upper()
        if key in params:
            raise ProtocolError(b"501 5.5.4", b"Duplicate parameter", f"parameter {key!r} twice")
        params[key] = match.group(2)
    return params


def parseMailArguments(argument: bytes, extended: bool, maxSize: int) -> tuple[bytes, bool, bytes, int | None]:
    """
    Parse C{FROM:<path> [SIZE=n] [BODY=7BIT|8BITMIME] [SMTPUTF8] [AUTH=...]}.

    @param extended: EHLO was used (parameters are only allowed then).
    @param maxSize: the largest message accepted, 0 for no limit.
    @return: C{(sender, utf8, body, declaredSize)}; C{sender} is C{b""} for
        the null reverse path.
    @raise ProtocolError: C{501}/C{553} syntax, C{555} unknown parameter,
        C{552 5.3.4} declared size too big.
    """
    path, words = _split(argument, b"FROM:", b"5.1.7")
    if not words:                               # the usual case: no parameters
        if path:
            _checkMailbox(path, False, b"5.1.7")
        return path, False, b"7BIT", None
    params = _parameters(words)
    if params and not extended:
        raise ProtocolError(b"555 5.5.4", b"Parameters need EHLO", "MAIL parameters after HELO")
    utf8 = b"SMTPUTF8" in params
    if utf8 and params[b"SMTPUTF8"] is not None:
        raise ProtocolError(b"501 5.5.4", b"SMTPUTF8 takes no value", "SMTPUTF8=...")
    body = (params.get(b"BODY") or b"7BIT").upper()
    if body not in (b"7BIT", b"8BITMIME"):
        raise ProtocolError(b"501 5.5.4", b"BODY must be 7BIT or 8BITMIME", f"BODY={body[:20]!r}")
    declared: int | None = None
    if b"SIZE" in params:
        value = params[b"SIZE"] or b""
        if not value.isdigit() or len(value) > 20:
            raise ProtocolError(b"501 5.5.4", b"SIZE must be a number", f"SIZE={value[:20]!r}")
        declared = int(value)
        if maxSize and declared > maxSize:
            raise ProtocolError(b"552 5.3.4", b"Message size exceeds fixed maximum message size",
                                f"declared {declared} > {maxSize}")
    unknown = set(params) - {b"SIZE", b"BODY", b"SMTPUTF8", b"AUTH"}
    if unknown:
        raise ProtocolError(b"555 5.5.4", b"Unsupported MAIL parameter", f"parameters {sorted(unknown)!r}")
    if path:
        _checkMailbox(path, utf8, b"5.1.7")
    return path, utf8, body, declared


def parseRcptArguments(argument: bytes, utf8: bool) -> bytes:
    """
    Parse C{TO:<path>} (no RCPT parameters are supported).

    @param utf8: the transaction declared C{SMTPUTF8}.
    @return: the address (C{local@domain} or C{postmaster}).
    @raise ProtocolError: C{501}/C{553} syntax, C{555} any parameter.
    """
    path, words = _split(argument, b"TO:", b"5.1.3")
    if words:
        _parameters(words)
        raise ProtocolError(b"555 5.5.4", b"Unsupported RCPT parameter", f"parameters {words!r}")
    if len(path) == 10 and path.lower() == b"postmaster":
        return path
    if not path:
        raise ProtocolError(b"501 5.1.3", b"Empty recipient", "RCPT TO:<>")
    _checkMailbox(path, utf8, b"5.1.3")
    return path


# EHLO/HELO names.  Only these octets survive in a name; every other one
# (space, TAB and other controls, "(", ")", ";", "<", ">", '"', "\\", "@",
# ",", 8-bit, ...) becomes "?", as Postfix neuters its HELO name
# (printable() and NEUTER_CHARACTERS): the name is one token that cannot
# open a comment, end the Received field's clauses or fake its text.
_HELO_UNSAFE = re.compile(rb"[^A-Za-z0-9.:_\[\]-]")
_HELO_LABEL = rb"[A-Za-z0-9_](?:[A-Za-z0-9_-]*[A-Za-z0-9_])?"
_HELO_DOMAIN = re.compile(rb"%s(?:\.%s)*\.?" % (_HELO_LABEL, _HELO_LABEL))


def neuterHelo(name: bytes) -> bytes:
    """
    The EHLO/HELO argument as the server keeps it: at most L{MAX_HELO}
    octets, each outside C{A-Z a-z 0-9 . - _ : [ ]} replaced by C{?}.
    """
    return _HELO_UNSAFE.sub(b"?", name[:MAX_HELO])


def isHeloDomain(name: bytes) -> bool:
    """
    Is C{name} a domain (letters, digits, hyphens and, as in real-world
    host names, underscores) or an address literal (C{[192.0.2.1]},
    C{[IPv6:2001:db8::1]}), fit for the C{from} clause of a C{Received:}
    field?
    """
    if name[:1] == b"[" and name[-1:] == b"]":
        literal = name[1:-1]
        try:
            if literal[:5].upper() == b"IPV6:":
                return ipaddress.ip_address(literal[5:].decode("ascii")).version == 6
            return ipaddress.ip_address(literal.decode("ascii")).version == 4
        except (ValueError, UnicodeDecodeError):
            return False
    return len(name) <= MAX_HELO and _HELO_DOMAIN.fullmatch(name) is not None
