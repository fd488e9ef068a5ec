# -*- test-case-name: tests.chat.test_protocol -*-
"""
The chat protocol: bytes in, lines validated and parsed into commands, the
hub (L{room}) acting on them, formatted lines out.

Per client it enforces the line length limit (without buffering an overlong
line) and the flood throttles: its own (L{limits.TokenBucket}) and its
address's, shared with the other connections from there
(L{limits.AddressBudget}: lines, and the bytes a broadcast costs).  Around
that it sits on the connection chassis (L{twisted_mail_suite.net}):
admission through the factory's C{ConnectionManager} (each L{Refusal}
answered by a line of L{REFUSALS}), the idle timeout through the factory's
shared C{IdleTracker}, the graceful shutdown as an C{IManagedConnection},
and every line out through L{BoundedOutput} (the slow-reader bound, the
plain-TCP fast path, and the close grace: whatever closes a connection, it
is aborted if the client has not taken its last lines
C{BoundedOutput.closeGrace} seconds later).

Slow readers and floods: a member that is behind (output pending past
half of its bound) skips the lines of senders whose address has spent more
than half of a budget (L{offer}) and is told how many it missed once it
catches up; so the flooders are throttled, then disconnected, before the
members they flood are dropped as slow readers.

The protocol knows its factory only as a L{ChatServer}, the few things it
asks of it (built by L{twisted_mail_suite.chat.factory}).
"""
from __future__ import annotations

import typing
from typing import Any, Callable

from twisted.cred.credentials import UsernamePassword
from twisted.internet.defer import Deferred, succeed
from twisted.internet.interfaces import IReactorTime
from twisted.internet.protocol import Protocol, connectionDone
from twisted.logger import Logger
from twisted.python.failure import Failure
from zope.interface import implementer

from ..config import ChatConfig
from ..identity.policy import AuthSession, LoginOutcome, LoginResult
from ..interfaces import IChatUser, IMetrics, IVerifiedLogin
from ..net.admission import Refusal, Ticket
from ..net.idle import IdleTracker
from ..net.lifecycle import ConnectionManager, IManagedConnection, Lifecycle
from ..net.output import BoundedOutput
from ..net.transport import isSecure, peerHost as hostOf, setNoDelay
from . import commands as C
from . import lines
from .flood import FloodControl
from .limits import AddressBudgets
from .room import ChatError, ChatHub, IParticipant

_BEFORE_LOGIN = (C.Login, C.Help, C.Quit, C.Nothing, C.Invalid)
_RELAYED = (C.Say, C.Action, C.Nothing)


# What a client may have sent behind a pending /login before it is cut off.
_HELD_DURING_LOGIN = 256 * 1024

# outcome of a failed /login -> (error line, disconnect after it)
LOGIN_REPLIES: dict[LoginOutcome, tuple[str, bool]] = {
    LoginOutcome.FAILED: ("login failed", False),
    LoginOutcome.FAILED_DISCONNECT: ("login failed; disconnecting", True),
    LoginOutcome.REFUSED: ("too many failed logins; disconnecting", True),
    LoginOutcome.PLAINTEXT_REFUSED: ("passwords are accepted only over TLS or from a loopback address", False),
    LoginOutcome.IN_USE: ("login is unavailable, try again later", False),
    LoginOutcome.TEMPORARY: ("login is unavailable, try again later", False),
}

# what everyone hears when the server stops
SHUTTING_DOWN = lines.system("the chat server is shutting down")

# why a connection was not admitted -> the one line it gets before the close
REFUSALS: dict[Refusal, bytes] = {
    Refusal.BUSY: lines.error("too many connections, try again later"),
    Refusal.ADDRESS: lines.error("too many connections from your address"),
    Refusal.DRAINING: SHUTTING_DOWN,
}


class ChatServer(typing.Protocol):
    """
    What a L{ChatProtocol} needs of its factory (L{ChatFactory
    <twisted_mail_suite.chat.factory.ChatFactory>}).
    """

    config: ChatConfig
    clock: IReactorTime
    hub: ChatHub
    idle: IdleTracker
    manager: ConnectionManager
    greeting: bytes
    maxLine: int
    maxPending: int
    shedAbove: int
    budgets: AddressBudgets
    metrics: IMetrics

    def ownerOf(self, name: str) -> str | None:
        """The registered user owning C{name}, if any."""

    def loginSession(self, peerHost: str, secure: bool) -> AuthSession:
        """The login helper (failed-login policy) for one connection."""

    def mailOffline(self, sender: str, recipient: str, text: str) -> Deferred:
        """Mail C{text} from chat user C{sender} to local user C{recipient}."""


@implementer(IParticipant, IManagedConnection, IVerifiedLogin)
class ChatProtocol(FloodControl, BoundedOutput, Protocol):
    """
    One chat client.  Attribute defaults live on the class so that an idle
    connection carries only what differs.
    """

    log = Logger()
    factory: ChatServer

    name: str | None = None
    user: str | None = None
    room: Any = None
    peerHost = ""
    _ticket: Ticket | None = None       # admitted and not yet gone
    _lifecycle: Lifecycle | None = None  # made when the shutdown asks (see shutdown)
    _buffer = b""
    _discarding = False
    _auth: Any = None
    _logout: Callable[[], object] | None = None
    _loginPending = False
    _said: list[bytes] | None = None

    @property
    def presenceUser(self) -> str | None:
        """
        The chat name (a guest's too), or L{None} before it has one (for
        "who is online", L{twisted_mail_suite.net.presence}).
        """
        return self.name

    # -- what BoundedOutput asks of the protocol -------------------------------

    @property
    def maxPendingOutput(self) -> int:  # type: ignore[override]
        return self.factory.maxPending

    @property
    def clock(self) -> IReactorTime:  # type: ignore[override]
        return self.factory.clock

    def outputDropped(self, pending: int) -> None:
        self.log.info("Chat client {peer} ({name}) stopped reading; dropped after {size} bytes pending",
                      peer=self.peerHost, name=self.name, size=pending)

    # -- connection ----------------------------------------------------------

    def connectionMade(self) -> None:
        factory = self.factory
        self.peerHost = hostOf(self.transport)
        admitted = factory.manager.admit(self.peerHost, self)
        if isinstance(admitted, Refusal):   # not counted: nothing to release
            self.startOutput()
            self.deliver(REFUSALS[admitted])
            self.closeOutput()              # aborted after the grace if the line is not taken
            return
        self._ticket = admitted
        setNoDelay(self.transport)
        self.startOutput()
        self.startFloodControl()
        factory.idle.touch(self)
        self.deliver(factory.greeting)
        if factory.config.require_login:
            self.deliver(lines.system("log in with /login USER PASSWORD (your mail password)"))
        else:
            factory.hub.enter(self, factory.hub.guestName())

    def connectionLost(self, reason: Failure = connectionDone) -> None:
        self.stopOutput()
        ticket = self._ticket
        if ticket is None:                  # refused, or gone already
            return
        self._ticket = None
        factory = self.factory
        factory.hub.leave(self)
        factory.idle.forget(self)
        ticket.release()
        self.stopFloodControl()
        if self._lifecycle is not None:
            self._lifecycle.lost()
        if self._logout is not None:
            logout, self._logout = self._logout, None
            logout()

    def close(self, lastLine: bytes | None = None) -> None:
        """
        Say C{lastLine}, leave the chat at once and close after the output.
        """
        self._flushSaid()
        if lastLine is not None:
            self.deliver(lastLine)
        self.factory.hub.leave(self)
        self.closeOutput()

    # -- IManagedConnection, called by the factory's ConnectionManager ----------

    def shutdown(self) -> Deferred:
        """
        The server is stopping: say so and close at once (a pending login
        or offline mail is not waited for).  The L{Lifecycle} is made only
        here, to say when the connection is gone: an idle one carries none.
        """
        if self._ticket is None:
            return succeed(None)
        lifecycle = self._lifecycle
        if lifecycle is None:
            lifecycle = self._lifecycle = Lifecycle()
        gone = lifecycle.whenGone()
        if lifecycle.drain():               # once
            lifecycle.close()
            self.close(SHUTTING_DOWN)
        return gone

    def abandon(self) -> None:
        """
        The shutdown timeout passed (the goodbye went out with L{shutdown}).
        """
        self.close(SHUTTING_DOWN)

    def idleExpired(self) -> None:
        """Called by the factory's L{IdleTracker}: say why, and close."""
        self.log.info("Chat client {peer} ({name}) idle, disconnecting", peer=self.peerHost, name=self.name)
        self.close(lines.system(f"disconnecting: idle for {self.factory.idle.timeout:g} seconds"))

    # -- input ---------------------------------------------------------------

    def dataReceived(self, data: bytes) -> None:
        """
        Split into lines by LF; a line longer than the limit is refused and
        the rest of it skipped as it arrives, never buffered.

        Consecutive chat and action lines that arrive together are relayed
        together, as one write per member, once the other lines of this
        chunk are handled (or before the next command that is not a chat
        line).  A client that sends faster than the room can be written to
        thus costs one fan-out per read, not one per line: a server that
        falls behind catches up instead of falling further behind.
        """
        if self.outputClosed:
            return
        if self._loginPending:              # paused: only what was already read arrives
            self._buffer += data
            if len(self._buffer) > _HELD_DURING_LOGIN:
                self.close(lines.error("too much input while logging in; disconnecting"))
            return
        if self._discarding:
            end = data.find(b"\n")
            if end < 0:
                return
            self._discarding = False
            data = data[end + 1:]
        if self._buffer:
            data = self._buffer + data
            self._buffer = b""
        limit = self.factory.maxLine
        start = 0
        self._said = []
        try:
            while True:
                end = data.find(b"\n", start)
                if end < 0:
                    break
                line = data[start:end]
                start = end + 1
                if len(line) > limit and not (len(line) == limit + 1 and line.endswith(b"\r")):
                    self._tooLong()
                else:
                    self.lineReceived(line)
                if self.outputClosed:       # quit, kicked or dropped: ignore the rest
                    return
                if self._loginPending:      # the rest waits for the login's result, in order
                    self._buffer = data[start:]
                    self.transport.pauseProducing()
                    return
        finally:
            self._flushSaid()
            self._said = None
        rest = data[start:]
        if len(rest) > limit + 1:       # (a CR may still precede the LF)
            self._discarding = True
            self._tooLong()
        elif rest:
            self._buffer = rest

    def _tooLong(self) -> None:
        if self._allow():
            self.deliver(lines.error(f"line too long (more than {self.factory.maxLine} bytes), ignored"))

    def lineReceived(self, raw: bytes) -> None:
        if not self._allow():
            return
        try:
            command = C.parseLine(lines.decodeLine(raw))
        except lines.BadLine as e:
            self.deliver(lines.error(str(e)))
            return
        if self.name is None and not isinstance(command, _BEFORE_LOGIN):
            self.deliver(lines.error("log in first: /login USER PASSWORD"))
            return
        if self._said and not isinstance(command, _RELAYED):
            self._flushSaid()
        try:
            _HANDLERS[type(command)](self, command)
        except ChatError as e:
            self.deliver(lines.error(e.text))
        except Exception:
            self.log.failure("Chat command {command!r} from {peer} failed",
                             command=command, peer=self.peerHost)
            self.deliver(lines.error("internal error, sorry"))

    # -- commands ------------------------------------------------------------

    def _say(self, command: C.Say) -> None:
        self._relay(lines.chat(self.room.name, self.name, command.text))

    def _action(self, command: C.Action) -> None:
        self._relay(lines.action(self.room.name, self.name, command.text))

    def _relay(self, data: bytes) -> None:
        self.factory.metrics.chatLine()
        if self._said is not None:
            self._said.append(data)
        else:
            self._broadcast(data)

    def _broadcast(self, data: bytes) -> None:
        room = self.room
        shed = self._spend(data, len(room.members) - 1) if room is not None else False
        self.factory.hub.relay(self, data, shed)

    def _flushSaid(self) -> None:
        said = self._said
        if said:
            data = said[0] if len(said) == 1 else b"".join(said)
            said.clear()
            try:
                self._broadcast(data)
            except Exception:
                self.log.failure("Relaying chat from {peer} failed", peer=self.peerHost)
                self.deliver(lines.error("internal error, sorry"))

    def _who(self, command: C.Who) -> None:
        self.factory.hub.who(self)

    def _rename(self, command: C.Rename) -> None:
        self.factory.hub.rename(self, command.name)

    def _join(self, command: C.Join) -> None:
        self.factory.hub.join(self, command.room)

    def _part(self, command: C.Part) -> None:
        self.factory.hub.part(self)

    def _rooms(self, command: C.Rooms) -> None:
        self.factory.hub.listRooms(self)

    def _help(self, command: C.Help) -> None:
        self.deliver(b"".join(lines.system(text) for text in C.HELP))

    def _quit(self, command: C.Quit) -> None:
        self.close(lines.system("bye"))

    def _nothing(self, command: C.Nothing) -> None:
        pass

    def _invalid(self, command: C.Invalid) -> None:
        self.deliver(lines.error(command.message))

    def _private(self, command: C.Private) -> None:
        """
        To whoever is online by that name; else, from a logged-in user to a
        registered one, by mail (guests may not mail: their name proves
        nothing).
        """
        factory = self.factory
        shed = self._spend(command.text.encode("utf-8"), 1)
        if factory.hub.whisper(self, command.name, command.text, shed):
            return
        owner = factory.ownerOf(command.name)
        if owner is None:
            raise ChatError(f"no such user: {command.name}")
        sender = self.user
        if sender is None:
            raise ChatError(f"{owner} is offline; log in (/login USER PASSWORD) to mail them")
        d = factory.mailOffline(sender, owner, command.text)

        def mailed(_: object) -> None:
            self.deliver(lines.system(f"{owner} is offline; your message was mailed to them"))

        def failed(failure: Failure) -> None:
            self.log.failure("Offline chat message from {sender} to {owner} failed",
                             failure, sender=sender, owner=owner)
            self.deliver(lines.error(f"could not mail {owner}, try again later"))

        d.addCallbacks(mailed, failed)

    # -- login ---------------------------------------------------------------

    def _login(self, command: C.Login) -> None:
        if self.user is not None:
            raise ChatError(f"already logged in as {self.user}")
        if self._loginPending:
            raise ChatError("a login is already in progress")
        if self._auth is None:
            self._auth = self.factory.loginSession(self.peerHost, isSecure(self.transport))
        self._loginPending = True
        credentials = UsernamePassword(command.user.encode("utf-8"), command.password.encode("utf-8"))
        d = self._auth.login(credentials, IChatUser)
        d.addCallback(self._loginResult)
        d.addErrback(self._loginBroken)

    def _loginDone(self) -> None:
        """
        The login has its result: handle the lines that came after it.
        """
        self._loginPending = False
        if self.outputClosed or self.transport is None:
            return
        self.transport.resumeProducing()
        if self._buffer:
            self.dataReceived(b"")

    def _loginResult(self, result: LoginResult) -> None:
        if result.outcome is LoginOutcome.SUCCEEDED:
            self._loggedIn(result.avatar.name, result.logout)
            return
        try:
            text, disconnect = LOGIN_REPLIES[result.outcome]
            (self.close if disconnect else self.deliver)(lines.error(text))
        finally:
            self._loginDone()

    def loginVerified(self, user: str, logout: Callable[[], object]) -> None:
        """
        L{IVerifiedLogin}: C{user} logged in through the same portal
        elsewhere (a web session bridged to this connection).
        """
        if self.user is not None or self._loginPending:
            logout()
            return
        self._loginPending = True
        self._loggedIn(user, logout)

    def _loggedIn(self, user: str, logout: Callable[[], object]) -> None:
        if self._ticket is None or self.outputClosed:
            self._loginPending = False
            logout()
            return
        self._logout = logout
        self.log.info("Chat login of {user} from {peer}", user=user, peer=self.peerHost)
        previous = self.factory.hub.login(self, user)
        if previous is not None:
            previous.close(lines.system("you logged in from elsewhere; disconnecting"))
        self._loginDone()

    def _loginBroken(self, failure: Failure) -> None:
        self.log.failure("Chat login from {peer} broke", failure, peer=self.peerHost)
        self.deliver(lines.error("login is unavailable, try again later"))
        self._loginDone()


_HANDLERS: dict[type, Callable[[ChatProtocol, Any], None]] = {
    C.Say: ChatProtocol._say,
    C.Action: ChatProtocol._action,
    C.Who: ChatProtocol._who,
    C.Rename: ChatProtocol._rename,
    C.Private: ChatProtocol._private,
    C.Login: ChatProtocol._login,
    C.Join: ChatProtocol._join,
    C.Part: ChatProtocol._part,
    C.Rooms: ChatProtocol._rooms,
    C.Help: ChatProtocol._help,
    C.Quit: ChatProtocol._quit,
    C.Nothing: ChatProtocol._nothing,
    C.Invalid: ChatProtocol._invalid,
}


__all__ = ["ChatProtocol", "ChatServer", "LOGIN_REPLIES", "REFUSALS"]
