# -*- test-case-name: tests.pop3.test_protocol,tests.pop3.test_login -*-
"""
One POP3 command line -> one input of the session machine.

Parsing checks the syntax and what depends on the connection rather than
on the state (is a plaintext password allowed here, was APOP offered);
the session machine checks the sequence.  Every failure is a L{POP3Error}
carrying its C{-ERR} reply, including a command that is not valid in the
current state (automat's C{NoTransition}, turned into a reply here, in
one place).
"""
from __future__ import annotations

import base64
from typing import Callable

from automat import NoTransition

from ..identity.sasl import (
    Challenge, Credentials, SASLAuthzMismatch, SASLBadEncoding, SASLCancelled, SASLError, SASLExchange,
    SASLMalformed, SASLUnknownMechanism, Step,
)
from .actions import CRLF, Action, POP3Error
from .session import STATE_NAMES, SessionCore, SessionInput

__all__ = ["CommandParser", "MECHANISMS", "PLAINTEXT_REFUSED", "SASL_REPLIES", "saslFailure"]

PLAINTEXT_REFUSED = b"[AUTH] Plaintext authentication disallowed on non-secure (SSL/TLS) connections."

MECHANISMS = (b"PLAIN",)

_Handler = Callable[["CommandParser", bytes], Action]

SASL_REPLIES: dict[type[SASLError], bytes] = {
    SASLCancelled: b"Authentication cancelled.",
    SASLBadEncoding: b"Invalid base64 data in the SASL response.",
    SASLMalformed: b"Invalid SASL PLAIN response.",
    SASLUnknownMechanism: b"Unsupported authentication mechanism.",
    SASLAuthzMismatch: b"[AUTH] Authentication failed.",
}


def saslFailure(error: SASLError) -> POP3Error:
    """
    The C{-ERR} reply to a failed SASL exchange; the error's text goes to
    the log.
    """
    return POP3Error(SASL_REPLIES[type(error)], str(error))


def _number(argument: bytes) -> int:
    if not argument.isdigit() or len(argument) > 9:
        raise POP3Error(b"Invalid message number.")
    return int(argument)


def _printable(data: bytes, limit: int = 20) -> bytes:
    return bytes(c if 0x21 <= c <= 0x7E else 0x3F for c in data[:limit])


def _noArguments(name: str) -> _Handler:
    def handler(parser: CommandParser, argument: bytes) -> Action:
        return getattr(parser._session, name)()  # type: ignore[no-any-return]

    return handler


def _optionalNumber(name: str) -> _Handler:
    def handler(parser: CommandParser, argument: bytes) -> Action:
        return getattr(parser._session, name)(_number(argument) if argument else None)  # type: ignore[no-any-return]

    return handler


def _oneNumber(name: str) -> _Handler:
    def handler(parser: CommandParser, argument: bytes) -> Action:
        return getattr(parser._session, name)(_number(argument))  # type: ignore[no-any-return]

    return handler


class CommandParser:
    """
    The command line parser of one connection (the command table,
    L{_COMMANDS}, is shared by every connection).

    @ivar challenge: the APOP timestamp of the greeting, or L{None} when
        APOP is not offered.
    """

    __slots__ = ("_session", "_core", "challenge", "_exchange")

    def __init__(self, session: SessionInput, core: SessionCore, challenge: bytes | None) -> None:
        self._session = session
        self._core = core
        self.challenge = challenge
        self._exchange: SASLExchange | None = None

    def parse(self, line: bytes) -> Action:
        """
        Feed the session the input C{line} stands for.

        @return: the session's action.
        @raise POP3Error: for an unknown command, bad arguments, a command
            not valid in the current state, or the session's own refusal.
        """
        verb, _, argument = line.partition(b" ")
        verb = verb.upper()
        handler = _COMMANDS.get(verb)
        if handler is None:
            raise POP3Error(b"Unknown command: %s" % _printable(verb))
        try:
            # A password is taken as sent, spaces and all.
            return handler(self, argument if verb == b"PASS" else argument.strip(b" "))
        except NoTransition as e:
            state = STATE_NAMES.get(getattr(e.state, "name", ""), "current")
            raise POP3Error(b"%s is not valid in the %s state." % (verb, state.encode("ascii"))) from None

    def saslResponse(self, line: bytes) -> Action:
        """
        The line after a SASL challenge: C{*} cancels, anything else must
        be the mechanism's response.
        """
        exchange, self._exchange = self._exchange, None
        assert exchange is not None
        try:
            step = exchange.respond(line.strip())
        except SASLError as e:
            return self._session.saslAborted(saslFailure(e).reply)
        return self._session.saslResponse(*self._credentials(step))

    def _requirePlaintext(self) -> None:
        if not self._core.plaintextAllowed:
            raise POP3Error(PLAINTEXT_REFUSED, "plaintext login over an insecure channel")

    def _user(self, argument: bytes) -> Action:
        self._requirePlaintext()
        if not argument:
            raise POP3Error(b"Usage: USER name.")
        return self._session.user(argument)

    def _pass(self, argument: bytes) -> Action:
        self._requirePlaintext()
        return self._session.password(argument)

    def _apop(self, argument: bytes) -> Action:
        if self.challenge is None:
            raise POP3Error(b"APOP is not available.")
        name, _, digest = argument.partition(b" ")
        digest = digest.strip(b" ").lower()
        if not name or len(digest) != 32 or not all(c in b"0123456789abcdef" for c in digest):
            raise POP3Error(b"Usage: APOP name digest.")
        return self._session.apop(name, digest)

    def _auth(self, argument: bytes) -> Action:
        if not argument:
            return self._session.authMechanisms()
        mechanism, _, initial = argument.partition(b" ")
        try:
            exchange = SASLExchange(mechanism, MECHANISMS)
        except SASLError as e:
            raise saslFailure(e) from None
        self._requirePlaintext()
        try:
            step = exchange.begin(initial.strip(b" ") or None)
        except SASLError as e:
            raise saslFailure(e) from None
        if isinstance(step, Challenge):
            action = self._session.authChallenge(b"+ " + base64.b64encode(step.data) + CRLF)
            self._exchange = exchange
            return action
        return self._session.authPlain(*self._credentials(step))

    @staticmethod
    def _credentials(step: Step) -> tuple[bytes, bytes]:
        # POP3 offers PLAIN only, whose one response always ends the exchange.
        assert isinstance(step, Credentials), step
        return step.username, step.password

    def _top(self, argument: bytes) -> Action:
        number, _, lines = argument.partition(b" ")
        lines = lines.strip(b" ")
        if not lines.isdigit():
            raise POP3Error(b"Usage: TOP msg lines.")
        return self._session.top(_number(number), int(lines))


# verb -> handler(parser, argument); one table for every connection
_COMMANDS: dict[bytes, _Handler] = {
    b"USER": CommandParser._user, b"PASS": CommandParser._pass, b"APOP": CommandParser._apop,
    b"AUTH": CommandParser._auth, b"TOP": CommandParser._top,
    b"STLS": _noArguments("stls"), b"CAPA": _noArguments("capa"),
    b"STAT": _noArguments("stat"), b"RSET": _noArguments("rset"),
    b"NOOP": _noArguments("noop"), b"QUIT": _noArguments("quit"),
    b"LIST": _optionalNumber("list"), b"UIDL": _optionalNumber("uidl"),
    b"RETR": _oneNumber("retr"), b"DELE": _oneNumber("dele"),
}
