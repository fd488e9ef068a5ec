# -*- test-case-name: tests.imap.test_login -*-
"""
Before and at login: the capability list, STARTTLS, LOGIN and
AUTHENTICATE PLAIN (the shared SASL exchange, with SASL-IR), and the reply
to each login outcome of the shared failed-login policy (RFC 5530 codes:
C{[AUTHENTICATIONFAILED]}, C{[UNAVAILABLE]}, C{[PRIVACYREQUIRED]}).
"""
from __future__ import annotations

import base64
from typing import Any

from twisted.cred.credentials import UsernamePassword

from ..identity.policy import LoginOutcome
from ..identity.sasl import Challenge, SASLCancelled, SASLError, SASLExchange, SASLUnknownMechanism
from .connection import RAW_LINE, Handler
from .grammar import Arguments
from .responses import Bad, No

__all__ = ["LOGIN_REPLIES", "authenticate", "capabilities", "login", "startTLS"]

AUTH_FAILED = b"NO [AUTHENTICATIONFAILED] Authentication failed."
PRIVACY = No(b"Plaintext authentication disallowed on non-secure connections.", b"PRIVACYREQUIRED")

# outcome of a failed login -> (tagged reply, close the connection after it)
LOGIN_REPLIES: dict[LoginOutcome, tuple[bytes, bool]] = {
    LoginOutcome.FAILED: (AUTH_FAILED, False),
    LoginOutcome.FAILED_DISCONNECT: (AUTH_FAILED, True),
    LoginOutcome.REFUSED: (b"NO [UNAVAILABLE] Too many login attempts, try again later.", True),
    LoginOutcome.PLAINTEXT_REFUSED: (PRIVACY.line(), False),
    LoginOutcome.IN_USE: (b"NO [INUSE] Mailbox in use, try again later.", False),
    LoginOutcome.TEMPORARY: (b"NO [UNAVAILABLE] Temporary server failure, try again later.", False),
}

BASE = (b"IMAP4rev1", b"IMAP4rev2", b"LITERAL+", b"SASL-IR", b"ID", b"ENABLE", b"IDLE", b"NAMESPACE",
        b"UNSELECT", b"UIDPLUS", b"MOVE", b"SPECIAL-USE", b"CHILDREN", b"LIST-EXTENDED", b"LIST-STATUS",
        b"ESEARCH", b"SEARCHRES", b"STATUS=SIZE", b"BINARY")


def capabilities(core: Any, appendLimit: int) -> bytes:
    """
    The capability list true on this connection now: STARTTLS only before
    TLS, and before login AUTH=PLAIN where a plaintext password would be
    accepted, LOGINDISABLED where not (so a client never sends one that
    would be refused).
    """
    names = list(BASE)
    names.append(b"APPENDLIMIT=%d" % appendLimit)
    if core.account is None:
        if core.tlsAvailable:
            names.append(b"STARTTLS")
        names.append(b"AUTH=PLAIN" if core.plaintextAllowed else b"LOGINDISABLED")
    return b" ".join(names)


def startTLS(ctx: Any, perform: Any, args: Arguments) -> Handler:
    args.end()
    if not ctx.core.tlsAvailable:
        raise Bad(b"TLS is already active or not available.")
    ctx.afterReply(ctx.startTLS)
    return b"OK Begin TLS negotiation now."
    yield


def login(ctx: Any, perform: Any, args: Arguments) -> Handler:
    user = args.astring("user name")
    password = args.astring("password")
    args.end()
    if not ctx.core.plaintextAllowed:
        raise PRIVACY
    return (yield from ctx.checkLogin(UsernamePassword(user, password)))


def authenticate(ctx: Any, perform: Any, args: Arguments) -> Handler:
    mechanism = args.atom("mechanism")
    initial = args.astring("initial response") if args.more else None
    args.end()
    try:
        exchange = SASLExchange(mechanism, (b"PLAIN",))
    except SASLUnknownMechanism:
        raise No(b"Unsupported authentication mechanism.") from None
    if not ctx.core.plaintextAllowed:
        raise PRIVACY
    try:
        step = exchange.begin(initial)
        while isinstance(step, Challenge):
            yield b"+ " + base64.b64encode(step.data) + b"\r\n"
            line = yield RAW_LINE
            step = exchange.respond(line.strip())
    except SASLCancelled:
        raise Bad(b"Authentication cancelled.") from None
    except SASLError as e:
        raise Bad(b"Invalid SASL response.", reason=str(e)) from None
    return (yield from ctx.checkLogin(UsernamePassword(step.username, step.password)))
