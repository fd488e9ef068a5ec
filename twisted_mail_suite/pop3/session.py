# -*- test-case-name: tests.pop3.test_session -*-
"""
The POP3 session state machine (RFC 1939 §3-§6, RFC 2449, RFC 2595, RFC
5034), free of I/O: no transport, no reactor, no mailbox.

States: C{authorization}, C{haveUser} (after USER: PASS or QUIT
expected; its data is the name), C{saslPlain} (AUTH PLAIN waiting for its
response line), C{authenticating} (a login check is under way),
C{transaction} (logged in: its data is the L{Maildrop}), C{update} (after
QUIT in the transaction state, while deletions are applied) and
C{closed}.

Each command input returns an action for the protocol: a L{Reply} to send,
or work that needs I/O (L{Login}, L{SendMessage}, L{StartTLS}, L{Update}),
whose outcome comes back as another input (C{loginSucceeded},
C{loginFailed}, C{loginRefused}, C{updated}).  A command that is illegal in
the current state raises C{automat.NoTransition}; the protocol answers it
with C{-ERR} in one place.  A bad argument (no such message, a message
marked deleted) raises L{POP3Error}, which carries its reply.

The actions, the L{Maildrop} and L{POP3Error} are values defined in
L{twisted_mail_suite.pop3.actions} (re-exported here).

What depends on the connection rather than on the state (is a plaintext
password allowed here, was APOP offered, is the syntax right) is checked by
the protocol when it parses the line, before any input.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from automat import NoTransition, TypeMachineBuilder

from .actions import (
    CRLF, Action, Challenge, Login, Maildrop, POP3Error, Reply, SendMessage, StartTLS, Update,
    multiline, ok,
)

__all__ = [
    "Action", "Challenge", "Login", "Maildrop", "NoTransition", "POP3Error", "Reply",
    "SendMessage", "SessionCore", "SessionInput", "SessionMachine", "StartTLS", "Update",
    "multiline", "STATE_NAMES",
]


@dataclass(slots=True)
class PendingUser:
    """
    The C{haveUser} state's data: the name given by USER.
    """

    name: bytes


@dataclass(slots=True)
class SessionCore:
    """
    What the session knows besides its state (the protocol updates the
    connection facts after STLS).

    @ivar plaintextAllowed: USER/PASS and SASL PLAIN may be used here.
    @ivar tlsAvailable: STLS can be offered (not yet inside TLS).
    @ivar implementation: the IMPLEMENTATION capability's argument.
    """

    plaintextAllowed: bool = False
    tlsAvailable: bool = False
    implementation: bytes = b"twisted-mail-suite"


class SessionInput(Protocol):
    def user(self, name: bytes) -> Action:
        "USER name."

    def password(self, password: bytes) -> Action:
        "PASS string, after USER."

    def apop(self, name: bytes, digest: bytes) -> Action:
        "APOP name digest."

    def authMechanisms(self) -> Action:
        "AUTH without arguments: list the SASL mechanisms."

    def authPlain(self, user: bytes, password: bytes) -> Action:
        "AUTH PLAIN with its (decoded) initial response."

    def authChallenge(self, data: bytes) -> Action:
        "AUTH PLAIN without initial response: ask for it with C{data} (the C{+} line)."

    def saslResponse(self, user: bytes, password: bytes) -> Action:
        "The (decoded) response to the SASL challenge."

    def saslAborted(self, reply: bytes) -> Action:
        "The client cancelled the SASL exchange, or its response was bad."

    def stls(self) -> Action:
        "STLS."

    def capa(self) -> Action:
        "CAPA."

    def loginSucceeded(self, user: bytes, maildrop: Maildrop) -> Action:
        "The portal accepted the login and the maildrop is loaded."

    def loginFailed(self, reply: bytes) -> Action:
        "The login was refused; the client may try again."

    def loginRefused(self, reply: bytes) -> Action:
        "The login was refused and the connection must close."

    def stat(self) -> Action:
        "STAT."

    def list(self, number: int | None) -> Action:
        "LIST [msg]."

    def uidl(self, number: int | None) -> Action:
        "UIDL [msg]."

    def retr(self, number: int) -> Action:
        "RETR msg."

    def top(self, number: int, lines: int) -> Action:
        "TOP msg n."

    def dele(self, number: int) -> Action:
        "DELE msg."

    def rset(self) -> Action:
        "RSET."

    def noop(self) -> Action:
        "NOOP."

    def quit(self) -> Action:
        "QUIT."

    def updated(self, succeeded: bool) -> Action:
        "The UPDATE state's work finished (or failed)."


# The RFC's name for each machine state, for "-ERR not valid" replies.
STATE_NAMES = {
    "authorization": "AUTHORIZATION", "haveUser": "AUTHORIZATION (after USER)",
    "saslPlain": "AUTHORIZATION", "authenticating": "AUTHORIZATION",
    "transaction": "TRANSACTION", "update": "UPDATE", "closed": "UPDATE",
}


def _capabilities(core: SessionCore, loggedIn: bool) -> bytes:
    """
    The CAPA list (RFC 2449): only what is true on this connection now.
    USER and SASL PLAIN only where a plaintext password would be accepted
    (TLS, loopback or C{allow_plaintext_auth}), as Dovecot does, so a
    client never sends a password that would be refused; STLS only before
    TLS; none of the three after login (RFC 2449 §5).
    """
    lines = [b"CAPA", b"TOP", b"UIDL", b"RESP-CODES", b"AUTH-RESP-CODE", b"PIPELINING"]
    if not loggedIn:
        if core.plaintextAllowed:
            lines += [b"USER", b"SASL PLAIN"]
        if core.tlsAvailable:
            lines.append(b"STLS")
    lines.append(b"IMPLEMENTATION " + core.implementation)
    return multiline(b"Capability list follows", lines)


def _build():  # type: ignore[no-untyped-def]
    builder = TypeMachineBuilder(SessionInput, SessionCore)
    authorization = builder.state("authorization")

    def rememberUser(inputs: SessionInput, core: SessionCore, name: bytes) -> PendingUser:
        return PendingUser(name)

    haveUser = builder.state("haveUser", rememberUser)
    saslPlain = builder.state("saslPlain")
    authenticating = builder.state("authenticating")

    def openMaildrop(inputs: SessionInput, core: SessionCore, user: bytes, maildrop: Maildrop) -> Maildrop:
        return maildrop

    transaction = builder.state("transaction", openMaildrop)
    update = builder.state("update")
    closed = builder.state("closed")

    # AUTHORIZATION

    def userAccepted(inputs: SessionInput, core: SessionCore, name: bytes) -> Action:
        return Reply(ok(b"Send your password."))

    def passwordLogin(inputs: SessionInput, core: SessionCore, pending: PendingUser, password: bytes) -> Action:
        return Login(pending.name, password=password)

    def apopLogin(inputs: SessionInput, core: SessionCore, name: bytes, digest: bytes) -> Action:
        return Login(name, digest=digest)

    def plainLogin(inputs: SessionInput, core: SessionCore, user: bytes, password: bytes) -> Action:
        return Login(user, password=password)

    def mechanisms(inputs: SessionInput, core: SessionCore) -> Action:
        return Reply(multiline(b"", [b"PLAIN"] if core.plaintextAllowed else []))

    def challenge(inputs: SessionInput, core: SessionCore, data: bytes) -> Action:
        return Challenge(data)

    def aborted(inputs: SessionInput, core: SessionCore, reply: bytes) -> Action:
        return Reply(reply)

    def startTLS(inputs: SessionInput, core: SessionCore) -> Action:
        if not core.tlsAvailable:
            raise POP3Error(b"STLS is not available (TLS is already active).")
        return StartTLS(ok(b"Begin TLS negotiation now."))

    def capaBeforeLogin(inputs: SessionInput, core: SessionCore) -> Action:
        return Reply(_capabilities(core, loggedIn=False))

    def goodbye(inputs: SessionInput, core: SessionCore) -> Action:
        return Reply(ok(b"Logging out."), close=True)

    def noUserYet(inputs: SessionInput, core: SessionCore, password: bytes) -> Action:
        return Reply(b"-ERR No username given." + CRLF)

    def withoutName(f):  # type: ignore[no-untyped-def]
        """
        The same transition from C{haveUser}, whose data (the USER name)
        it does not need.
        """
        def fromHaveUser(inputs: SessionInput, core: SessionCore, pending: PendingUser,
                         *args: Any) -> Action:
            return f(inputs, core, *args)

        fromHaveUser.__name__ = f.__name__
        return fromHaveUser

    def anotherUser(inputs: SessionInput, core: SessionCore, pending: PendingUser, name: bytes) -> Action:
        pending.name = name
        return userAccepted(inputs, core, name)

    authorization.upon(SessionInput.user).to(haveUser)(userAccepted)
    authorization.upon(SessionInput.password).loop()(noUserYet)
    authorization.upon(SessionInput.apop).to(authenticating)(apopLogin)
    authorization.upon(SessionInput.authMechanisms).loop()(mechanisms)
    authorization.upon(SessionInput.authPlain).to(authenticating)(plainLogin)
    authorization.upon(SessionInput.authChallenge).to(saslPlain)(challenge)
    authorization.upon(SessionInput.stls).loop()(startTLS)
    authorization.upon(SessionInput.capa).loop()(capaBeforeLogin)
    authorization.upon(SessionInput.quit).to(closed)(goodbye)

    # After USER, RFC 1939 §7 expects PASS or QUIT (a new USER and CAPA are harmless).
    haveUser.upon(SessionInput.user).loop()(anotherUser)
    haveUser.upon(SessionInput.password).to(authenticating)(passwordLogin)
    haveUser.upon(SessionInput.capa).loop()(withoutName(capaBeforeLogin))
    haveUser.upon(SessionInput.quit).to(closed)(withoutName(goodbye))

    saslPlain.upon(SessionInput.saslResponse).to(authenticating)(plainLogin)
    saslPlain.upon(SessionInput.saslAborted).to(authorization)(aborted)

    @authenticating.upon(SessionInput.loginSucceeded).to(transaction)
    def loggedIn(inputs: SessionInput, core: SessionCore, user: bytes, maildrop: Maildrop) -> Action:
        count, octets = maildrop.summary()
        return Reply(ok(b"Logged in: %d messages (%d octets)." % (count, octets)))

    authenticating.upon(SessionInput.loginFailed).to(authorization)(aborted)

    @authenticating.upon(SessionInput.loginRefused).to(closed)
    def refused(inputs: SessionInput, core: SessionCore, reply: bytes) -> Action:
        return Reply(reply, close=True)

    # TRANSACTION

    @transaction.upon(SessionInput.stat).loop()
    def stat(inputs: SessionInput, core: SessionCore, maildrop: Maildrop) -> Action:
        return Reply(ok(b"%d %d" % maildrop.summary()))

    @transaction.upon(SessionInput.list).loop()
    def listing(inputs: SessionInput, core: SessionCore, maildrop: Maildrop, number: int | None) -> Action:
        if number is not None:
            return Reply(ok(b"%d %d" % (number, maildrop.sizes[maildrop.index(number)])))
        count, octets = maildrop.summary()
        return Reply(multiline(b"%d messages (%d octets)" % (count, octets),
                               [b"%d %d" % (i + 1, maildrop.sizes[i]) for i in maildrop.live()]))

    @transaction.upon(SessionInput.uidl).loop()
    def uniqueIDs(inputs: SessionInput, core: SessionCore, maildrop: Maildrop, number: int | None) -> Action:
        if number is not None:
            return Reply(ok(b"%d %s" % (number, maildrop.uids[maildrop.index(number)])))
        return Reply(multiline(b"", [b"%d %s" % (i + 1, maildrop.uids[i]) for i in maildrop.live()]))

    @transaction.upon(SessionInput.retr).loop()
    def retrieve(inputs: SessionInput, core: SessionCore, maildrop: Maildrop, number: int) -> Action:
        index = maildrop.index(number)
        return SendMessage(index, ok(b"%d octets" % maildrop.sizes[index]))

    @transaction.upon(SessionInput.top).loop()
    def top(inputs: SessionInput, core: SessionCore, maildrop: Maildrop, number: int, lines: int) -> Action:
        return SendMessage(maildrop.index(number), ok(), lines)

    @transaction.upon(SessionInput.dele).loop()
    def delete(inputs: SessionInput, core: SessionCore, maildrop: Maildrop, number: int) -> Action:
        maildrop.deleted.add(maildrop.index(number))
        return Reply(ok(b"Marked to be deleted."))

    @transaction.upon(SessionInput.rset).loop()
    def reset(inputs: SessionInput, core: SessionCore, maildrop: Maildrop) -> Action:
        maildrop.deleted.clear()
        return Reply(ok(b"%d messages (%d octets)." % maildrop.summary()))

    @transaction.upon(SessionInput.noop).loop()
    def noop(inputs: SessionInput, core: SessionCore, maildrop: Maildrop) -> Action:
        return Reply(ok())

    @transaction.upon(SessionInput.capa).loop()
    def capaLoggedIn(inputs: SessionInput, core: SessionCore, maildrop: Maildrop) -> Action:
        return Reply(_capabilities(core, loggedIn=True))

    @transaction.upon(SessionInput.quit).to(update)
    def enterUpdate(inputs: SessionInput, core: SessionCore, maildrop: Maildrop) -> Action:
        return Update(tuple(sorted(maildrop.deleted)))

    # UPDATE

    @update.upon(SessionInput.updated).to(closed)
    def finished(inputs: SessionInput, core: SessionCore, succeeded: bool) -> Action:
        if succeeded:
            return Reply(ok(b"Logging out."), close=True)
        return Reply(b"-ERR [SYS/TEMP] Some deleted messages were not removed." + CRLF, close=True)

    return builder.build()


SessionMachine = _build()
"""
C{SessionMachine(SessionCore())} -> an object providing L{SessionInput},
in the C{authorization} state.
"""
