# -*- test-case-name: tests.imap.test_session -*-
"""
The IMAP session state machine (RFC 9051 §3), free of I/O: no transport,
no reactor, no store.

States::

    notAuthenticated --login--> authenticating --loginSucceeded--> authenticated
            ^                        |                                |    ^
            +-------loginFailed------+                         select |    | deselect
                                                                      v    |
                                                                    selected (select again: another mailbox)
    any state --logout--> loggedOut

Each command belongs to one class, and its input says which: C{anyState}
(CAPABILITY, NOOP, LOGOUT, ID), C{notAuthenticated} (STARTTLS, LOGIN,
AUTHENTICATE), C{authenticated} (valid once logged in, with or without a
mailbox selected: LIST, SELECT, APPEND, IDLE, ...), C{selected} (only with
a mailbox selected: FETCH, STORE, SEARCH, COPY, MOVE, EXPUNGE, CLOSE, ...).
The machine answers a legal command with a L{Perform} carrying what the
handler works on (the logged-in account, the selected mailbox); an illegal
one raises C{automat.NoTransition}, which the protocol answers with one
C{BAD} in one place.  The handlers report what happened with the other
inputs (C{loginSucceeded}, C{select}, C{deselect}, C{logout}, ...).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from automat import NoTransition, TypeMachineBuilder

__all__ = ["NoTransition", "Perform", "SessionCore", "SessionInput", "SessionMachine", "STATE_NAMES"]


@dataclass(slots=True)
class SessionCore:
    """
    What the session knows besides its state.

    @ivar plaintextAllowed: LOGIN and AUTHENTICATE PLAIN may be used here
        (TLS, loopback or C{allow_plaintext_auth}); else LOGINDISABLED.
    @ivar tlsAvailable: STARTTLS can be offered (not yet inside TLS).
    @ivar rev2: the client ENABLEd IMAP4rev2.
    @ivar user: the logged-in user's name.
    @ivar account: the logged-in user's account (the avatar).
    @ivar mailbox: the selected mailbox, or L{None}.
    """

    plaintextAllowed: bool = False
    tlsAvailable: bool = False
    rev2: bool = False
    user: str = ""
    account: Any = None
    mailbox: Any = None


@dataclass(frozen=True, slots=True)
class Perform:
    """
    Run the command's handler on C{account} and C{mailbox} (either may be
    L{None}, as the state says).
    """

    command: Any
    account: Any = None
    mailbox: Any = None


class SessionInput(Protocol):
    def anyState(self, command: Any) -> Perform:
        "A command valid in every state but logout (CAPABILITY, NOOP, LOGOUT, ID)."

    def notAuthenticated(self, command: Any) -> Perform:
        "A command valid before login only (STARTTLS, LOGIN, AUTHENTICATE)."

    def authenticated(self, command: Any) -> Perform:
        "A command valid once logged in, mailbox selected or not."

    def selected(self, command: Any) -> Perform:
        "A command valid only with a mailbox selected."

    def login(self) -> None:
        "The credentials are being checked."

    def loginSucceeded(self, user: str, account: Any) -> None:
        "The portal accepted the login."

    def loginFailed(self) -> None:
        "The login was refused; the client may try again."

    def select(self, mailbox: Any) -> None:
        "A mailbox was selected (SELECT or EXAMINE succeeded)."

    def deselect(self) -> None:
        "No mailbox is selected any more (CLOSE, UNSELECT, a failed SELECT)."

    def logout(self) -> None:
        "LOGOUT, or the connection is ending."


# The RFC's name of each machine state, for "not valid in this state" replies.
STATE_NAMES = {
    "notAuthenticated": "not authenticated", "authenticating": "not authenticated",
    "authenticated": "authenticated", "selected": "selected", "loggedOut": "logout",
}


def _build():  # type: ignore[no-untyped-def]
    builder = TypeMachineBuilder(SessionInput, SessionCore)
    notAuthenticated = builder.state("notAuthenticated")
    authenticating = builder.state("authenticating")
    authenticated = builder.state("authenticated")
    selected = builder.state("selected")
    loggedOut = builder.state("loggedOut")

    def perform(inputs: SessionInput, core: SessionCore, command: Any) -> Perform:
        return Perform(command, core.account, core.mailbox)

    def nothing(inputs: SessionInput, core: SessionCore) -> None:
        return None

    def loggedIn(inputs: SessionInput, core: SessionCore, user: str, account: Any) -> None:
        core.user = user
        core.account = account

    def opened(inputs: SessionInput, core: SessionCore, mailbox: Any) -> None:
        core.mailbox = mailbox

    def closed(inputs: SessionInput, core: SessionCore) -> None:
        core.mailbox = None

    def ended(inputs: SessionInput, core: SessionCore) -> None:
        core.mailbox = None
        core.account = None

    for state in (notAuthenticated, authenticated, selected):
        state.upon(SessionInput.anyState).loop()(perform)
    for state in (notAuthenticated, authenticating, authenticated, selected):
        state.upon(SessionInput.logout).to(loggedOut)(ended)
    loggedOut.upon(SessionInput.logout).loop()(nothing)

    notAuthenticated.upon(SessionInput.notAuthenticated).loop()(perform)
    notAuthenticated.upon(SessionInput.login).to(authenticating)(nothing)
    authenticating.upon(SessionInput.loginSucceeded).to(authenticated)(loggedIn)
    authenticating.upon(SessionInput.loginFailed).to(notAuthenticated)(nothing)

    authenticated.upon(SessionInput.authenticated).loop()(perform)
    selected.upon(SessionInput.authenticated).loop()(perform)
    selected.upon(SessionInput.selected).loop()(perform)

    authenticated.upon(SessionInput.select).to(selected)(opened)
    selected.upon(SessionInput.select).loop()(opened)
    selected.upon(SessionInput.deselect).to(authenticated)(closed)
    authenticated.upon(SessionInput.deselect).loop()(closed)

    return builder.build()


SessionMachine = _build()
"""
C{SessionMachine(SessionCore())} -> an object providing L{SessionInput},
in the C{notAuthenticated} state.
"""
