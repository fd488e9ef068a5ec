# -*- test-case-name: tests.smtp.test_sasl -*-
"""
The server side of SMTP AUTH's SASL exchanges (RFC 4954) for the PLAIN
(RFC 4616) and LOGIN mechanisms, free of I/O: lines in, challenges or
credentials out.  Failures are L{ProtocolError}s carrying their reply.
"""
from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass

from ..errors import ProtocolError

__all__ = ["Challenge", "Credentials", "SASLExchange", "MECHANISMS"]

MECHANISMS = (b"PLAIN", b"LOGIN")

CANCELLED = ProtocolError(b"501 5.0.0", b"Authentication cancelled", "client sent *")
BAD_BASE64 = ProtocolError(b"501 5.5.2", b"Cannot decode response (bad base64)", "bad base64")
MALFORMED = ProtocolError(b"501 5.5.2", b"Malformed authentication response", "malformed SASL response")


@dataclass(frozen=True)
class Challenge:
    """
    Send C{334 <text>} and wait for the client's next line.
    """

    text: bytes


@dataclass(frozen=True)
class Credentials:
    """
    The exchange is over: check these.
    """

    username: bytes
    password: bytes


def _decode(line: bytes) -> bytes:
    if line == b"*":
        raise CANCELLED
    if line == b"=":                 # RFC 4954: an empty initial response
        return b""
    try:
        return base64.b64decode(line, validate=True)
    except (binascii.Error, ValueError):
        raise BAD_BASE64 from None


class SASLExchange:
    """
    One AUTH exchange.  L{begin} with the initial response (or L{None}),
    then L{respond} to each line until a L{Credentials} comes back.
    """

    def __init__(self, mechanism: bytes) -> None:
        mechanism = mechanism.upper()
        if mechanism not in MECHANISMS:
            raise ProtocolError(b"504 5.5.4", b"Unrecognized authentication type",
                                f"mechanism {mechanism[:20]!r}")
        self.mechanism = mechanism
        self._username: bytes | None = None

    def begin(self, initial: bytes | None) -> Challenge | Credentials:
        if initial is None:
            if self.mechanism == b"PLAIN":
                return Challenge(b"")
            return Challenge(base64.b64encode(b"Username:"))
        return self.respond(initial)

    def respond(self, line: bytes) -> Challenge | Credentials:
        decoded = _decode(line.strip())
        if self.mechanism == b"PLAIN":
            return _plain(decoded)
        if self._username is None:
            self._username = decoded
            return Challenge(base64.b64encode(b"Password:"))
        return Credentials(self._username, decoded)


def _plain(message: bytes) -> Credentials:
    parts = message.split(b"\0")
    if len(parts) != 3 or not parts[1]:
        raise MALFORMED
    authzid, authcid, password = parts
    if authzid and authzid != authcid:
        raise ProtocolError(b"535 5.7.8", b"Authentication credentials invalid",
                            "authorization identity differs from authentication identity")
    return Credentials(authcid, password)
