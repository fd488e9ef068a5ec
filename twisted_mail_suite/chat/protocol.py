# -*- test-case-name: tests.chat.test_protocol -*-
"""
The chat protocol: bytes in, lines validated and parsed into commands, the
hub (L{room}) acting on them, formatted lines out.

Per client it enforces the line length limit (without buffering an overlong
line), the flood throttle, the idle timeout (one shared timer, see
L{limits.IdleTracker}) and the output bound for a client that stops reading
(through the transport's producer interface, see L{output}).
"""
from __future__ import annotations

from typing import Any, Callable

from twisted.cred.credentials import UsernamePassword
from twisted.internet.interfaces import IAddress, IPullProducer, IPushProducer, ISSLTransport
from twisted.internet.defer import Deferred, succeed
from twisted.internet.protocol import Factory, Protocol, connectionDone
from twisted.logger import Logger
from twisted.python.failure import Failure
from zope.interface import implementer

from ..net.lifecycle import IDrainable
from ..delivery import DeliveryTarget, deliverChatMail
from ..events import NewMailEvent
from ..identity.policy import LoginOutcome, LoginResult
from ..interfaces import IChatUser
from . import commands as C
from . import lines
from .limits import IdleTracker, TokenBucket
from .output import OutputMixin
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


@implementer(IParticipant, IPushProducer, IPullProducer)
class ChatProtocol(OutputMixin, Protocol):
    """
    One chat client.  Attribute defaults live on the class so that an idle
    connection carries only what differs.
    """

    log = Logger()
    factory: ChatFactory

    name: str | None = None
    user: str | None = None
    room: Any = None
    peerHost = ""
    _admitted = False
    _buffer = b""
    _discarding = False
    _bucket: TokenBucket | None = None
    _strikes = 0
    _auth: Any = None
    _logout: Callable[[], object] | None = None
    _loginPending = False
    _said: list[bytes] | None = None

    # -- connection ----------------------------------------------------------

    def connectionMade(self) -> None:
        factory = self.factory
        peer = self.transport.getPeer()
        self.peerHost = getattr(peer, "host", "") or "local"
        refusal = factory.admit(self)
        if refusal:
            self.transport.write(lines.error(refusal))
            self.transport.loseConnection()
            return
        self._admitted = True
        try:
            self.transport.setTcpNoDelay(True)
        except (AttributeError, NotImplementedError, OSError):
            pass
        self.startOutput()
        config = factory.config
        if config.lines_per_second:
            self._bucket = TokenBucket(config.lines_per_second, config.burst, factory.clock.seconds())
        factory.idle.touch(self)
        self.deliver(factory.greeting)
        if config.require_login:
            self.deliver(lines.system("log in with /login USER PASSWORD (your mail password)"))
        else:
            factory.hub.enter(self, factory.hub.guestName())

    def connectionLost(self, reason: Failure = connectionDone) -> None:
        self.stopOutput()
        if not self._admitted:
            return
        self._admitted = False
        factory = self.factory
        factory.hub.leave(self)
        factory.idle.forget(self)
        factory.release(self)
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

    def _allow(self) -> bool:
        """
        Account one line against the idle timer and the flood throttle.
        """
        factory = self.factory
        factory.idle.touch(self)
        bucket = self._bucket
        if bucket is None or bucket.consume(factory.clock.seconds()):
            self._strikes = 0
            return True
        self._strikes += 1
        if self._strikes == 1:
            self.deliver(lines.error(
                f"slow down: more than {factory.config.lines_per_second:g} lines a second; line dropped"))
        elif self._strikes > bucket.capacity:
            self.log.info("Chat client {peer} ({name}) disconnected for flooding",
                          peer=self.peerHost, name=self.name)
            self.close(lines.error("flooding; disconnecting"))
        return False

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
        if self._said is not None:
            self._said.append(data)
        else:
            self.factory.hub.relay(self, data)

    def _flushSaid(self) -> None:
        said = self._said
        if said:
            data = said[0] if len(said) == 1 else b"".join(said)
            said.clear()
            try:
                self.factory.hub.relay(self, data)
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
        factory = self.factory
        if factory.hub.whisper(self, command.name, command.text):
            return
        owner = factory.ownerOf(command.name)
        if owner is None:
            raise ChatError(f"no such user: {command.name}")
        sender = self.name or "?"
        d = deliverChatMail(factory.suite.config, DeliveryTarget(factory.suite.store), sender, owner, command.text)

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
            secure = ISSLTransport.providedBy(self.transport)
            self._auth = self.factory.suite.portal.session(self.peerHost, secure)
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
            self._loggedIn(result.avatar, result.logout)
            return
        try:
            text, disconnect = LOGIN_REPLIES[result.outcome]
            (self.close if disconnect else self.deliver)(lines.error(text))
        finally:
            self._loginDone()

    def _loggedIn(self, avatar: Any, logout: Callable[[], object]) -> None:
        if not self._admitted or self.outputClosed:
            self._loginPending = False
            logout()
            return
        self._logout = logout
        self.log.info("Chat login of {user} from {peer}", user=avatar.name, peer=self.peerHost)
        previous = self.factory.hub.login(self, avatar.name)
        if previous is not None:
            previous.close(lines.system("you logged in from elsewhere; disconnecting"))
        self._loginDone()

    def _loginBroken(self, failure: Failure) -> None:
        self.log.failure("Chat login from {peer} broke", failure, peer=self.peerHost)
        self.deliver(lines.error("login is unavailable, try again later"))
        self._loginDone()

    # -- called by the factory -------------------------------------------------

    def idleKick(self) -> None:
        self.log.info("Chat client {peer} ({name}) idle, disconnecting", peer=self.peerHost, name=self.name)
        self.close(lines.system(f"disconnecting: idle for {self.factory.idle.timeout:g} seconds"))


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


@implementer(IDrainable)
class ChatFactory(Factory):
    """
    The chat service of one suite: one hub, one idle tracker, connection
    counts, and the new-mail subscription.
    """

    log = Logger()
    protocol = ChatProtocol

    def __init__(self, suite: Any, role: str = "chat") -> None:
        self.suite = suite
        self.role = role
        self.config = config = suite.config.chat
        self.clock = suite.clock
        self.maxLine = config.max_line_length
        self.maxPending = config.max_pending_output
        self.hub = ChatHub(self.ownerOf, config.announce_limit)
        self.idle = IdleTracker(self.clock, config.idle_timeout, self._expire)
        self.greeting = lines.system(
            f"welcome to the chat on {suite.config.hostname}; /help lists the commands")
        self.connections = 0
        self._perAddress: dict[str, int] = {}
        self._protocols: set[ChatProtocol] = set()
        self._drained: list[Deferred] = []
        self._unsubscribe = suite.bus.subscribe(NewMailEvent, self.newMail)

    def buildProtocol(self, addr: IAddress) -> ChatProtocol:
        protocol = ChatProtocol()
        protocol.factory = self
        return protocol

    def ownerOf(self, name: str) -> str | None:
        """
        The registered user whose name is C{name}, if any.
        """
        entry = self.suite.users.lookup(name)
        return entry.name if entry is not None else None

    def admit(self, protocol: ChatProtocol) -> str | None:
        """
        Count a new connection; return the refusal text if over a limit.
        """
        config = self.config
        host = protocol.peerHost
        perAddress = self._perAddress.get(host, 0)
        if config.max_connections and self.connections >= config.max_connections:
            return "too many connections, try again later"
        if config.max_connections_per_ip and perAddress >= config.max_connections_per_ip:
            return "too many connections from your address"
        self.connections += 1
        self._perAddress[host] = perAddress + 1
        self._protocols.add(protocol)
        return None

    def release(self, protocol: ChatProtocol) -> None:
        self.connections -= 1
        self._protocols.discard(protocol)
        if not self._protocols:
            drained, self._drained = self._drained, []
            for d in drained:
                d.callback(None)
        host = protocol.peerHost
        count = self._perAddress.get(host, 0) - 1
        if count > 0:
            self._perAddress[host] = count
        else:
            self._perAddress.pop(host, None)

    def _expire(self, protocol: ChatProtocol) -> None:
        protocol.idleKick()

    def newMail(self, event: NewMailEvent) -> None:
        """
        Tell a logged-in user about mail that reached their mailbox.
        """
        participant = self.hub.findUser(event.user)
        if participant is not None:
            sender = lines.oneLine(event.sender or "<>", 100)
            subject = lines.oneLine(event.subject or "(no subject)")
            participant.deliver(lines.system(f"new mail from {sender}: {subject}"))

    def stopFactory(self) -> None:
        """
        The last listener stopped: tell everyone and close their connections.
        """
        self.idle.stop()
        for protocol in list(self._protocols):
            protocol.close(lines.system("the chat server is shutting down"))

    def drain(self, timeout: float) -> Deferred:
        """
        Graceful shutdown (called by the service once the listeners are
        closed): everyone has been told and is being closed; wait up to
        C{timeout} seconds for the connections to go, then abort the rest.

        @return: a Deferred firing when no chat connection is left.
        """
        self.stopFactory()
        if not self._protocols:
            return succeed(None)
        d: Deferred = Deferred()
        self._drained.append(d)
        timer = self.clock.callLater(timeout, self._abortAll)
        d.addBoth(lambda result: (timer.cancel() if timer.active() else None, result)[1])
        return d

    def _abortAll(self) -> None:
        for protocol in list(self._protocols):
            protocol.transport.abortConnection()
        self._protocols.clear()
        drained, self._drained = self._drained, []
        for d in drained:
            d.callback(None)



__all__ = ["ChatProtocol", "ChatFactory"]
