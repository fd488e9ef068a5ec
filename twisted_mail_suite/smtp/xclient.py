# -*- test-case-name: tests.smtp.test_xclient -*-
"""
Postfix's XCLIENT extension, for a proxy in front of us (nginx's mail
proxy sends C{XCLIENT ADDR=... LOGIN=... NAME=...} after its EHLO):
the proxy tells us who its client really is, and the session starts
again as if that client had connected, so C{Received:}, the logs and
the failed-login policy see the real address.

Only peers in C{proxy.trusted} see XCLIENT in the EHLO reply and may
send it; from anyone else it is refused C{550 5.7.0} (counted as junk).
Attributes (values in xtext, C{[UNAVAILABLE]} and C{[TEMPUNAVAIL]} meaning
unknown): C{ADDR} (IPv4, or C{IPV6:} and an IPv6 address), C{NAME},
C{HELO}, C{PROTO}, C{LOGIN} (the user the proxy authenticated: the session
is logged in as them), C{PORT}, C{DESTADDR}, C{DESTPORT}.  Success is
answered with the greeting (220), as Postfix does.
"""
from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from typing import Any

from twisted.internet.defer import Deferred, maybeDeferred
from twisted.mail.smtp import IMessageDelivery

from ..errors import ProtocolError

__all__ = ["XCLIENT_EXTENSION", "ClientFacts", "parseXclient", "loginAvatar"]

XCLIENT_EXTENSION = b"XCLIENT ADDR NAME HELO PROTO LOGIN PORT DESTADDR DESTPORT"
ATTRIBUTES = frozenset([b"ADDR", b"NAME", b"HELO", b"PROTO", b"LOGIN", b"PORT", b"DESTADDR", b"DESTPORT"])
UNKNOWN = frozenset([b"[UNAVAILABLE]", b"[TEMPUNAVAIL]"])
_XTEXT = re.compile(rb"\+([0-9A-Fa-f]{2})")


def _bad(text: bytes, why: str) -> ProtocolError:
    return ProtocolError(b"501 5.5.4", text, why)


@dataclass(frozen=True)
class ClientFacts:
    """
    What an XCLIENT command says of the real client (L{None}: not said,
    or unknown).
    """

    addr: str | None = None
    name: str | None = None
    helo: str | None = None
    login: str | None = None


def parseXclient(argument: bytes) -> ClientFacts:
    """
    The attributes of an XCLIENT command line (after the verb).

    @raise ProtocolError: 501 for a missing, unknown or malformed attribute.
    """
    values: dict[bytes, str | None] = {}
    for item in argument.split():
        name, equals, raw = item.partition(b"=")
        name = name.upper()
        if not equals or name not in ATTRIBUTES:
            raise _bad(b"Bad XCLIENT attribute name", f"XCLIENT attribute {item[:40]!r}")
        value = _XTEXT.sub(lambda m: bytes([int(m.group(1), 16)]), raw)
        values[name] = None if value.upper() in UNKNOWN or not value else value.decode("utf-8", "replace")
    if not values:
        raise _bad(b"Syntax: XCLIENT attribute=value ...", "XCLIENT without attributes")
    addr = values.get(b"ADDR")
    if addr is not None:
        if addr[:5].upper() == "IPV6:":
            addr = addr[5:]
        try:
            addr = str(ipaddress.ip_address(addr))
        except ValueError:
            raise _bad(b"Bad XCLIENT ADDR syntax", f"XCLIENT ADDR {addr[:60]!r}") from None
    return ClientFacts(addr=addr, name=values.get(b"NAME"), helo=values.get(b"HELO"), login=values.get(b"LOGIN"))


def loginAvatar(portal: Any, login: str) -> Deferred:
    """
    The delivery avatar of the user the proxy logged in (its password was
    checked there), without a password.

    @return: a Deferred firing with C{(user, avatar, logout)}, or failing
        with a 550 L{ProtocolError} for a login that is no user of ours.
    """
    checker = portal.checker
    user = checker.userName(login)
    if user is None or checker.users.lookup(user) is None:
        raise ProtocolError(b"550 5.7.8", b"XCLIENT LOGIN is not a user here", f"XCLIENT LOGIN {login[:64]!r}")
    d = maybeDeferred(portal.realm.requestAvatar, user, None, IMessageDelivery)
    return d.addCallback(lambda result: (user, result[1], result[2]))
