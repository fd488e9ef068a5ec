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
from .session import CRLF, STATE_NAMES, Action, POP3Error, SessionCore, SessionInput

__all__ = ["CommandParser", "MECHANISMS", "PLAINTEXT_REFUSED", "SASL_REPLIES", "saslFailure"]

PLAINTEXT_REFUSED = b"[AUTH] Plaintext authentication disallowed on non-secure (SSL/TLS) connections."

MECHANISMS = (b"PLAIN",)

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


def _noArguments(input: Callable[[], Action]) -> Callable[[bytes], Action]:
    return lambda argument: input()


def _optionalNumber(input: Callable[[int | None], Action]) -> Callable[[bytes], Action]:
    return lambda argument: input(_number(argument) if argument else None)


def _oneNumber(input: Callable[[int], Action]) -> Callable[[bytes], Action]:
    return lambda argument: input(_number(argument))


class CommandParser:
    """
    The command table of one connection.

    @ivar challenge: the APOP timestamp of the greeting, or L{None} when
        APOP is not offered.
    """

    def __init__(self, session: SessionInput, core: SessionCore, challenge: bytes | None) -> None:
        self._session = session
        self._core = core
        self.challenge = challenge
        self._exchange: SASLExchange | None = None
        self._commands: dict[bytes, Callable[[bytes], Action]] = {
            b"USER": self._user, b"PASS": self._pass, b"APOP": self._apop,
            b"AUTH": self._auth, b"TOP": self._top,
            b"STLS": _noArguments(session.stls), b"CAPA": _noArguments(session.capa),
            b"STAT": _noArguments(session.stat), b"RSET": _noArguments(session.rset),
            b"NOOP": _noArguments(session.noop), b"QUIT": _noArguments(session.quit),
            b"LIST": _optionalNumber(session.list), b"UIDL": _optionalNumber(session.uidl),
            b"RETR": _oneNumber(session.retr), b"DELE": _oneNumber(session.dele),
        }

    def parse(self, line: bytes) -> Action:
        """
        Feed the session the input C{line} stands for.

        @return: the session's action.
        @raise POP3Error: for an unknown command, bad arguments, a command
            not valid in the current state, or the session's own refusal.
        """
        verb, _, argument = line.partition(b" ")
        verb = verb.upper()
        handler = self._commands.get(verb)
        if handler is None:
            raise POP3Error(b"Unknown command: %s" % _printable(verb))
        try:
            # A password is taken as sent, spaces and all.
            return handler(argument if verb == b"PASS" else argument.strip(b" "))
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
