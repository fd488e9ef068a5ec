# -*- test-case-name: tests.identity.test_sasl -*-
"""
The server side of SASL's PLAIN (RFC 4616) and LOGIN mechanisms, shared by
SMTP AUTH (RFC 4954), POP3 AUTH (RFC 5034) and, later, IMAP AUTHENTICATE.

Free of I/O and of wire codes: the protocol hands in the client's lines
(still base64, as they came), and gets back a L{Challenge} (raw bytes: the
protocol base64-encodes them and adds its own prefix, C{334 } or C{+ }) or
the L{Credentials} to check.  Failures are L{SASLError}s; each protocol
maps them to its replies through one table.
"""
from __future__ import annotations

import binascii
from dataclasses import dataclass
from typing import Iterable, Union

__all__ = [
    "MECHANISMS", "Challenge", "Credentials", "SASLExchange", "Step",
    "SASLError", "SASLCancelled", "SASLMalformed", "SASLBadEncoding",
    "SASLUnknownMechanism", "SASLAuthzMismatch",
]

MECHANISMS = (b"PLAIN", b"LOGIN")

CANCEL = b"*"          # RFC 4954 §4, RFC 5034 §4: the client gives up
EMPTY = b"="           # ... and an initial response of zero length


class SASLError(Exception):
    """
    The exchange failed; it is over.  The message is for the log only.
    """


class SASLCancelled(SASLError):
    """
    The client cancelled the exchange (C{*}).
    """


class SASLMalformed(SASLError):
    """
    The decoded response does not have the mechanism's layout.
    """


class SASLBadEncoding(SASLError):
    """
    The response is not valid base64.
    """


class SASLUnknownMechanism(SASLError):
    """
    The client asked for a mechanism this server does not offer.
    """


class SASLAuthzMismatch(SASLError):
    """
    PLAIN named an authorization identity other than the user's own (no
    proxy logins).
    """


@dataclass(frozen=True)
class Challenge:
    """
    Send C{data} (raw; the protocol encodes it) and pass the client's next
    line to L{SASLExchange.respond}.
    """

    data: bytes


@dataclass(frozen=True)
class Credentials:
    """
    The exchange is over: check these.
    """

    username: bytes
    password: bytes


Step = Union[Challenge, Credentials]


def _decode(line: bytes) -> bytes:
    try:
        return binascii.a2b_base64(line, strict_mode=True)
    except (binascii.Error, ValueError):
        raise SASLBadEncoding("bad base64") from None


class SASLExchange:
    """
    One exchange.  L{begin} with the initial response (or L{None}), then
    L{respond} to each line until L{Credentials} come back.

    The protocol strips the line ends (and whatever else its grammar
    strips) before handing lines in.

    @param mechanism: the client's mechanism name, any case.
    @param mechanisms: the mechanisms this protocol offers.
    @param lenientMarkers: also accept C{*} (cancel) in the initial
        response and C{=} (empty) in later responses, as SMTP always has;
        by the RFCs' letter (and in POP3) C{*} is valid only after a
        challenge and C{=} only as the initial response.
    @raise SASLUnknownMechanism: for a mechanism not in C{mechanisms}.
    """

    def __init__(self, mechanism: bytes, mechanisms: Iterable[bytes] = MECHANISMS,
                 lenientMarkers: bool = False) -> None:
        mechanism = mechanism.upper()
        if mechanism not in MECHANISMS or mechanism not in tuple(mechanisms):
            raise SASLUnknownMechanism(f"mechanism {mechanism[:20]!r}")
        self.mechanism = mechanism
        self._lenient = lenientMarkers
        self._username: bytes | None = None

    def begin(self, initial: bytes | None) -> Step:
        """
        Start, with the client's initial response if it sent one.
        """
        if initial is None:
            if self.mechanism == b"PLAIN":
                return Challenge(b"")
            return Challenge(b"Username:")
        if initial == CANCEL and self._lenient:
            raise SASLCancelled("client sent *")
        return self._step(b"" if initial == EMPTY else _decode(initial))

    def respond(self, line: bytes) -> Step:
        """
        The client's answer to the last L{Challenge}.
        """
        if line == CANCEL:
            raise SASLCancelled("client sent *")
        if line == EMPTY and self._lenient:
            return self._step(b"")
        return self._step(_decode(line))

    def _step(self, message: bytes) -> Step:
        if self.mechanism == b"PLAIN":
            return _plain(message)
        if self._username is None:
            self._username = message
            return Challenge(b"Password:")
        return Credentials(self._username, message)


def _plain(message: bytes) -> Credentials:
    parts = message.split(b"\0")
    if len(parts) != 3 or not parts[1]:
        raise SASLMalformed("malformed PLAIN response")
    authzid, authcid, password = parts
    if authzid and authzid != authcid:
        raise SASLAuthzMismatch("authorization identity differs from authentication identity")
    return Credentials(authcid, password)
