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
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from automat import NoTransition, TypeMachineBuilder

__all__ = ["Envelope", "SessionCore", "SessionInput", "SessionMachine", "NoTransition"]


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


def _build() -> type:
    builder = TypeMachineBuilder(SessionInput, SessionCore)
    idle = builder.state("idle")
    greeted = builder.state("greeted")
    haveSender = builder.state("haveSender")
    haveRecipients = builder.state("haveRecipients")
    receiving = builder.state("receiving")
    authenticating = builder.state("authenticating")
    closed = builder.state("closed")
    commandStates = (idle, greeted, haveSender, haveRecipients)

    def hello(inputs: SessionInput, core: SessionCore, name: bytes, extended: bool) -> None:
        core.heloName = name
        core.extended = extended
        core.envelope = None

    def startTLS(inputs: SessionInput, core: SessionCore) -> None:
        core.forget()

    def restart(inputs: SessionInput, core: SessionCore, user: str | None) -> None:
        core.forget()
        core.user = user

    def nothing(inputs: SessionInput, core: SessionCore) -> None:
        return None

    def challenge(inputs: SessionInput, core: SessionCore, exchange: object) -> None:
        core.sasl = exchange

    def response(inputs: SessionInput, core: SessionCore) -> object:
        exchange, core.sasl = core.sasl, None
        return exchange

    def authenticated(inputs: SessionInput, core: SessionCore, user: str) -> None:
        core.user = user

    def senderAccepted(inputs: SessionInput, core: SessionCore, envelope: Envelope) -> None:
        core.envelope = envelope

    def recipientAccepted(inputs: SessionInput, core: SessionCore, address: bytes, accepted: object) -> int:
        assert core.envelope is not None
        core.envelope.recipients.append(address)
        core.envelope.accepted.append(accepted)
        return len(core.envelope.recipients)

    def data(inputs: SessionInput, core: SessionCore) -> Envelope:
        assert core.envelope is not None
        return core.envelope

    def dropTransaction(inputs: SessionInput, core: SessionCore) -> None:
        core.envelope = None

    # automat looks transitions up in registration order: the per-message
    # path comes first.
    greeted.upon(SessionInput.mailFrom).to(greeted)(nothing)
    greeted.upon(SessionInput.senderAccepted).to(haveSender)(senderAccepted)
    haveSender.upon(SessionInput.rcptTo).to(haveSender)(nothing)
    haveSender.upon(SessionInput.recipientAccepted).to(haveRecipients)(recipientAccepted)
    haveRecipients.upon(SessionInput.data).to(receiving)(data)
    receiving.upon(SessionInput.messageDone).to(greeted)(dropTransaction)
    haveRecipients.upon(SessionInput.rcptTo).to(haveRecipients)(nothing)
    haveRecipients.upon(SessionInput.recipientAccepted).to(haveRecipients)(recipientAccepted)

    for state in commandStates:
        state.upon(SessionInput.hello).to(greeted)(hello)
        state.upon(SessionInput.quit).to(closed)(dropTransaction)
    idle.upon(SessionInput.reset).to(idle)(nothing)
    for state in (greeted, haveSender, haveRecipients):
        state.upon(SessionInput.reset).to(greeted)(dropTransaction)
    greeted.upon(SessionInput.startTLS).to(idle)(startTLS)
    for state in (idle, greeted):
        state.upon(SessionInput.restart).to(idle)(restart)
    greeted.upon(SessionInput.auth).to(greeted)(nothing)
    greeted.upon(SessionInput.challenge).to(authenticating)(challenge)
    authenticating.upon(SessionInput.response).to(greeted)(response)
    greeted.upon(SessionInput.authenticated).to(greeted)(authenticated)
    return builder.build()


SessionMachine = _build()
"""
C{SessionMachine(SessionCore())} -> an object providing L{SessionInput}.
"""
