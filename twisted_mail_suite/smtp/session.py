# -*- test-case-name: tests.smtp.test_session -*-
"""
The SMTP session state machine (RFC 5321 §4.1.4, RFC 3207, RFC 4954), free
of I/O: no transport, no reactor, no store.

States: C{idle} (connected, or just after STARTTLS or XCLIENT: EHLO/HELO needed),
C{greeted}, C{haveSender}, C{haveRecipients}, C{receiving} (inside DATA),
C{authenticating} (a SASL challenge is out: the next line is its response,
not a command) and C{closed} (after QUIT).

Commands whose outcome needs I/O (MAIL, RCPT, AUTH) come in two inputs:
the command itself, which only checks that it is legal now, and the result
fed back by the protocol once validation finished (C{senderAccepted},
C{recipientAccepted}, C{authenticated}).  An input that is illegal in the
current state raises C{automat.NoTransition}; the protocol maps that to
C{503 5.5.1} in one place.

The machine is declared once (L{TRANSITIONS}) and built twice: as an
automat machine (L{SessionMachine}, its checked shape) and as L{Session},
a dict per input, which the protocol runs: automat finds a transition by
scanning its list, some 15 comparisons per input, six inputs per message.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Protocol

from automat import NoTransition, TypeMachineBuilder

__all__ = ["Envelope", "NoTransition", "STATES", "Session", "SessionCore", "SessionInput", "SessionMachine",
           "TRANSITIONS"]


@dataclass(slots=True)
class Envelope:
    """
    One mail transaction (from MAIL to the end of DATA or RSET).

    @ivar sender: the reverse path, C{b""} for the null sender.
    @ivar recipients: the accepted forward paths, in order.
    @ivar accepted: what the delivery avatar returned per recipient.
    @ivar declaredSize: C{SIZE=} from MAIL, or L{None}.
    @ivar body: C{b"7BIT"} or C{b"8BITMIME"}.
    @ivar utf8: C{SMTPUTF8} was given at MAIL.
    @ivar overshoot: RCPTs refused for exceeding the recipient limit.
    """

    sender: bytes = b""
    recipients: list[bytes] = field(default_factory=list)
    accepted: list[object] = field(default_factory=list)
    declaredSize: int | None = None
    body: bytes = b"7BIT"
    utf8: bool = False
    overshoot: int = 0


@dataclass(slots=True)
class SessionCore:
    """
    What the session knows besides its state.

    @ivar heloName: the EHLO/HELO argument (as the protocol keeps it:
        made safe for trace fields), or L{None} before it.
    @ivar extended: EHLO (not HELO) was used.
    @ivar user: the authenticated user, or L{None}.
    @ivar envelope: the current transaction, or L{None}.
    @ivar sasl: the SASL exchange whose challenge is out (state
        C{authenticating}), or L{None}; opaque to the machine.
    @ivar junk: junk or failed commands since the last accepted message
        (counted by the protocol against its limit).
    @ivar accepted: messages accepted in this session (for the log).
    """

    heloName: bytes | None = None
    extended: bool = False
    user: str | None = None
    envelope: Envelope | None = None
    sasl: object | None = None
    junk: int = 0
    accepted: int = 0

    def forget(self) -> None:
        """
        Back to the state right after connecting (used after STARTTLS);
        the counters go on.
        """
        self.heloName = None
        self.extended = False
        self.user = None
        self.envelope = None
        self.sasl = None


class SessionInput(Protocol):
    def hello(self, name: bytes, extended: bool) -> None:
        "EHLO or HELO: (re)start the session; any transaction is dropped."

    def startTLS(self) -> None:
        "STARTTLS accepted: everything learnt so far is forgotten."

    def restart(self, user: str | None) -> None:
        "XCLIENT accepted: the session starts again, as just connected, logged in as C{user} (or not)."

    def auth(self) -> None:
        "AUTH may start now (after EHLO, outside a transaction)."

    def challenge(self, exchange: object) -> None:
        "The SASL C{exchange} sent a challenge: the next line is its response."

    def response(self) -> object:
        "The line answering the challenge came (or the exchange is dropped); returns the exchange."

    def authenticated(self, user: str) -> None:
        "The SASL exchange succeeded for C{user}."

    def mailFrom(self) -> None:
        "MAIL may be given now."

    def senderAccepted(self, envelope: Envelope) -> None:
        "The sender was validated: the transaction starts."

    def rcptTo(self) -> None:
        "RCPT may be given now."

    def recipientAccepted(self, address: bytes, accepted: object) -> int:
        "A recipient was validated; returns how many there are now."

    def data(self) -> Envelope:
        "DATA: the message text follows; returns the transaction."

    def messageDone(self) -> None:
        "The end of the message text was seen (whatever became of it)."

    def reset(self) -> None:
        "RSET: drop the transaction."

    def quit(self) -> None:
        "QUIT."


# The behaviours: what an input does to the core besides moving the state.
# The first argument is the machine the input came through (unused).

def _hello(inputs: object, core: SessionCore, name: bytes, extended: bool) -> None:
    core.heloName = name
    core.extended = extended
    core.envelope = None


def _startTLS(inputs: object, core: SessionCore) -> None:
    core.forget()


def _restart(inputs: object, core: SessionCore, user: str | None) -> None:
    core.forget()
    core.user = user


def _nothing(inputs: object, core: SessionCore) -> None:
    return None


def _challenge(inputs: object, core: SessionCore, exchange: object) -> None:
    core.sasl = exchange


def _response(inputs: object, core: SessionCore) -> object:
    exchange, core.sasl = core.sasl, None
    return exchange


def _authenticated(inputs: object, core: SessionCore, user: str) -> None:
    core.user = user


def _senderAccepted(inputs: object, core: SessionCore, envelope: Envelope) -> None:
    core.envelope = envelope


def _recipientAccepted(inputs: object, core: SessionCore, address: bytes, accepted: object) -> int:
    envelope = core.envelope
    assert envelope is not None
    envelope.recipients.append(address)
    envelope.accepted.append(accepted)
    return len(envelope.recipients)


def _data(inputs: object, core: SessionCore) -> Envelope:
    assert core.envelope is not None
    return core.envelope


def _dropTransaction(inputs: object, core: SessionCore) -> None:
    core.envelope = None


_COMMAND_STATES = ("idle", "greeted", "haveSender", "haveRecipients")

TRANSITIONS: tuple[tuple[str, str, str, Callable[..., Any]], ...] = (
    ("greeted", "mailFrom", "greeted", _nothing),
    ("greeted", "senderAccepted", "haveSender", _senderAccepted),
    ("haveSender", "rcptTo", "haveSender", _nothing),
    ("haveSender", "recipientAccepted", "haveRecipients", _recipientAccepted),
    ("haveRecipients", "data", "receiving", _data),
    ("receiving", "messageDone", "greeted", _dropTransaction),
    ("haveRecipients", "rcptTo", "haveRecipients", _nothing),
    ("haveRecipients", "recipientAccepted", "haveRecipients", _recipientAccepted),
    *((state, "hello", "greeted", _hello) for state in _COMMAND_STATES),
    *((state, "quit", "closed", _dropTransaction) for state in _COMMAND_STATES),
    ("idle", "reset", "idle", _nothing),
    *((state, "reset", "greeted", _dropTransaction) for state in ("greeted", "haveSender", "haveRecipients")),
    ("greeted", "startTLS", "idle", _startTLS),
    *((state, "restart", "idle", _restart) for state in ("idle", "greeted")),
    ("greeted", "auth", "greeted", _nothing),
    ("greeted", "challenge", "authenticating", _challenge),
    ("authenticating", "response", "greeted", _response),
    ("greeted", "authenticated", "greeted", _authenticated),
)
"""
The machine, declared once: C{(state, input, next state, behaviour)}; a
pair not listed is illegal (C{NoTransition}).  Both L{SessionMachine} (the
automat form) and L{Session} (the form the protocol runs) are built from it.
"""

STATES = ("idle", "greeted", "haveSender", "haveRecipients", "receiving", "authenticating", "closed")


def _build() -> type:
    builder = TypeMachineBuilder(SessionInput, SessionCore)
    states = {name: builder.state(name) for name in STATES}
    for state, name, after, behaviour in TRANSITIONS:
        states[state].upon(getattr(SessionInput, name)).to(states[after])(behaviour)
    return builder.build()


SessionMachine = _build()
"""
C{SessionMachine(SessionCore())} -> an object providing L{SessionInput}:
the automat form of L{TRANSITIONS} (its declared, checked shape; automat
looks a transition up by a linear scan, so the protocol runs L{Session}).
"""


def _input(name: str) -> Callable[..., Any]:
    """
    The method of L{Session} for the input C{name}: one dict look-up.
    """
    table = {state: (after, behaviour) for state, input_, after, behaviour in TRANSITIONS if input_ == name}

    def implementation(self: Session, *args: Any) -> Any:
        try:
            self.state, behaviour = table[self.state]
        except KeyError:
            raise NoTransition(self.state, name) from None
        return behaviour(self, self.core, *args)

    implementation.__name__ = implementation.__qualname__ = name
    implementation.__doc__ = getattr(SessionInput, name).__doc__
    return implementation


class Session:
    """
    The session machine the protocol runs: L{TRANSITIONS} as one dict per
    input, the state a plain attribute.  It behaves as L{SessionMachine}
    does, state for state and input for input (tests hold both to the
    table), at a dict look-up per input.

    @ivar state: the current state's name (one of L{STATES}).
    @ivar core: the L{SessionCore} the behaviours act on.
    """

    __slots__ = ("state", "core")

    def __init__(self, core: SessionCore) -> None:
        self.state = "idle"
        self.core = core

    hello = _input("hello")
    startTLS = _input("startTLS")
    restart = _input("restart")
    auth = _input("auth")
    challenge = _input("challenge")
    response = _input("response")
    authenticated = _input("authenticated")
    mailFrom = _input("mailFrom")
    senderAccepted = _input("senderAccepted")
    rcptTo = _input("rcptTo")
    recipientAccepted = _input("recipientAccepted")
    data = _input("data")
    messageDone = _input("messageDone")
    reset = _input("reset")
    quit = _input("quit")
