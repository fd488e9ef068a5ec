# -*- test-case-name: tests.pop3.test_protocol -*-
"""
POP3 on the wire: bytes -> session inputs, actions -> bytes and I/O.

The protocol splits lines, parses each into one input of the session
machine (L{twisted_mail_suite.pop3.session}), and performs the action the
machine answers with: a reply, a login through the portal, a message
streamed from the mailbox, STLS, or the UPDATE state's deletions.

Commands are handled strictly in order.  While a login check is pending or
a message is being streamed, later commands wait in a queue (PIPELINING,
RFC 2449); when the queue is long, the protocol stops reading.  The
protocol is the connection's streaming producer for its whole life: when
the transport's buffer is full it stops streaming and stops handling
commands until the buffer drains, so neither a huge message nor a client
that never reads makes the server hold more than a few chunks.
"""
from __future__ import annotations

import binascii
import itertools
import os
import secrets
from collections import Counter, deque
from typing import Any, Callable

from automat import NoTransition
from twisted.cred.credentials import UsernamePassword
from twisted.cred.error import UnauthorizedLogin
from twisted.internet.defer import Deferred, maybeDeferred
from twisted.internet.interfaces import (
    INegotiated, IPushProducer, ISSLTransport, ITCPTransport, ITLSTransport,
)
from twisted.internet.protocol import Protocol, ServerFactory
from twisted.logger import Logger
from twisted.mail.pop3 import APOPCredentials, IMailbox
from twisted.python.failure import Failure
from zope.interface import implementer

from ..auth import LoginFailed
from ..errors import LoginRefused, MailboxInUse, PlaintextRefused, ProtocolError
from .mailbox import IPeekMailbox
from .session import (
    STATE_NAMES, Action, Challenge, Login, Maildrop, POP3Error, Reply, SendMessage,
    SessionCore, SessionMachine, StartTLS, Update,
)
from .stream import MessageReader

__all__ = ["POP3Factory", "POP3ServerProtocol", "makeFactory", "decodePlain"]

MAX_LINE = 8192          # RFC 2449 says 255 for commands; SASL responses may be longer
MAX_QUEUED_LINES = 256   # pipelined commands held before we stop reading

_AUTH_FAILED = b"-ERR [AUTH] Authentication failed.\r\n"
_PLAINTEXT_REFUSED = b"[AUTH] Plaintext authentication disallowed on non-secure (SSL/TLS) connections."
_IN_USE = b"-ERR [IN-USE] Mailbox is locked by another POP3 session.\r\n"
_TEMPORARY = b"-ERR [SYS/TEMP] Temporary server failure, try again later.\r\n"
_challengeCounter = itertools.count(1)


def decodePlain(data: bytes) -> tuple[bytes, bytes]:
    """
    Decode a SASL PLAIN response (RFC 4616): base64 of
    C{authzid NUL authcid NUL password}.

    @return: C{(authcid, password)}.
    @raise POP3Error: bad base64 or layout, or an authorization identity
        other than the user's own (no proxy logins).
    """
    try:
        decoded = binascii.a2b_base64(data, strict_mode=True)
    except (binascii.Error, ValueError):
        raise POP3Error(b"Invalid base64 data in the SASL response.") from None
    parts = decoded.split(b"\0")
    if len(parts) != 3 or not parts[1]:
        raise POP3Error(b"Invalid SASL PLAIN response.")
    authzid, authcid, password = parts
    if authzid and authzid != authcid:
        raise POP3Error(b"[AUTH] Authentication failed.", "PLAIN authzid differs from authcid")
    return authcid, password


def _number(argument: bytes) -> int:
    if not argument.isdigit() or len(argument) > 9:
        raise POP3Error(b"Invalid message number.")
    return int(argument)


def _noArguments(input: Callable[[], Action]) -> Callable[[bytes], Action]:
    return lambda argument: input()


def _optionalNumber(input: Callable[[int | None], Action]) -> Callable[[bytes], Action]:
    return lambda argument: input(_number(argument) if argument else None)


def _oneNumber(input: Callable[[int], Action]) -> Callable[[bytes], Action]:
    return lambda argument: input(_number(argument))


def _printable(data: bytes, limit: int = 20) -> bytes:
    return bytes(c if 0x21 <= c <= 0x7E else 0x3F for c in data[:limit])


@implementer(IPushProducer)
class POP3ServerProtocol(Protocol):
    """
    One POP3 connection.
    """

    log = Logger()

    def __init__(self, factory: POP3Factory) -> None:
        self.factory = factory
        self._buffer = b""
        self._lines: deque[bytes] = deque()
        self._processing = False
        self._waiting = False         # a login, maildrop load or update is under way
        self._reader: MessageReader | None = None
        self._paused = False          # the transport asked us to stop writing
        self._readingPaused = False
        self._sasl = False            # the next line answers a SASL challenge
        self._closing = False
        self._disconnected = False
        self._counted = False
        self._registered = False
        self._mailbox: Any = None
        self._logout: Callable[[], None] | None = None
        self._user = ""
        self._challenge: bytes | None = None
        self._idleCall: Any = None
        self._lastActivity = 0.0
        self._commands: dict[bytes, Callable[[bytes], Action]] = {}
    # Connection life

    def connectionMade(self) -> None:
        transport = self.transport
        peer = transport.getPeer()
        self.peer = getattr(peer, "host", None) or str(peer)
        if not self.factory.admit(self.peer):
            self._closing = True
            transport.write(b"-ERR [SYS/TEMP] Too many connections, try again later.\r\n")
            transport.loseConnection()
            return
        self._counted = True
        if ITCPTransport.providedBy(transport):
            transport.setTcpNoDelay(True)
        suite = self.factory.suite
        secure = INegotiated.providedBy(transport) or ISSLTransport.providedBy(transport)
        self._secure = secure
        self._auth = suite.portal.session(self.peer, secure)
        self._core = SessionCore(
            plaintextAllowed=self._auth.plaintextAllowed,
            tlsAvailable=(not secure and ITLSTransport.providedBy(transport)
                          and suite.tlsOptions is not None))
        self._session = session = SessionMachine(self._core)
        self._commands = {
            b"USER": self._userCommand, b"PASS": self._passCommand, b"APOP": self._apopCommand,
            b"AUTH": self._authCommand, b"TOP": self._topCommand,
            b"STLS": _noArguments(session.stls), b"CAPA": _noArguments(session.capa),
            b"STAT": _noArguments(session.stat), b"RSET": _noArguments(session.rset),
            b"NOOP": _noArguments(session.noop), b"QUIT": _noArguments(session.quit),
            b"LIST": _optionalNumber(session.list), b"UIDL": _optionalNumber(session.uidl),
            b"RETR": _oneNumber(session.retr), b"DELE": _oneNumber(session.dele),
        }
        transport.registerProducer(self, True)
        self._registered = True
        hostname = suite.config.hostname.encode("idna")
        greeting = b"+OK " + hostname + b" POP3 ready."
        if self.factory.apopOffered():
            self._challenge = b"<%d.%d.%s@%s>" % (os.getpid(), next(_challengeCounter),
                                                  secrets.token_hex(6).encode("ascii"), hostname)
            greeting += b" " + self._challenge
        transport.write(greeting + b"\r\n")
        timeout = self.factory.config.idle_timeout
        if timeout > 0:
            self._lastActivity = self.factory.clock.seconds()
            self._idleCall = self.factory.clock.callLater(timeout, self._checkIdle)

    def connectionLost(self, reason: Failure | None = None) -> None:
        self._disconnected = True
        self._closing = True
        self._lines.clear()
        if self._idleCall is not None and self._idleCall.active():
            self._idleCall.cancel()
        self._idleCall = None
        if self._reader is not None:
            self._reader.close()
            self._reader = None
        self._release()
        if self._counted:
            self._counted = False
            self.factory.release(self.peer)

    def _release(self) -> None:
        """
        Log out (frees the maildrop for the next session); no deletions.
        """
        logout, self._logout = self._logout, None
        self._mailbox = None
        if logout is not None:
            try:
                logout()
            except Exception:
                self.log.failure("POP3 logout of {user} failed", user=self._user)

    def _close(self) -> None:
        self._closing = True
        self._lines.clear()
        if self._reader is not None:
            self._reader.close()
            self._reader = None
        if self._registered:
            self._registered = False
            self.transport.unregisterProducer()
        if not self._disconnected:
            self.transport.loseConnection()

    def _checkIdle(self) -> None:
        timeout = self.factory.config.idle_timeout
        idle = self.factory.clock.seconds() - self._lastActivity
        if idle < timeout:
            self._idleCall = self.factory.clock.callLater(timeout - idle, self._checkIdle)
            return
        self._idleCall = None
        self.log.info("POP3 client {peer} idle for {seconds}s, disconnected",
                      peer=self.peer, seconds=int(idle))
        if self._reader is None:
            self.transport.write(b"-ERR Disconnected for inactivity.\r\n")
        self._close()

    # IPushProducer: the transport's buffer is full / drained.

    def pauseProducing(self) -> None:
        self._paused = True

    def resumeProducing(self) -> None:
        self._paused = False
        if self._reader is not None:
            self._pump()
        else:
            self._processQueue()

    def stopProducing(self) -> None:
        self._paused = True
        if self._reader is not None:
            self._reader.close()
            self._reader = None

    # Input

    def dataReceived(self, data: bytes) -> None:
        if self._closing:
            return
        self._lastActivity = self.factory.clock.seconds()
        if self._buffer:
            data = self._buffer + data
        lines = data.split(b"\n")
        self._buffer = lines.pop()
        for line in lines:
            if len(line) > MAX_LINE:
                self._lineTooLong()
                return
            self._lines.append(line[:-1] if line.endswith(b"\r") else line)
        if len(self._buffer) > MAX_LINE:
            self._lineTooLong()
            return
        self._processQueue()

    def _lineTooLong(self) -> None:
        self._buffer = b""
        self._lines.clear()
        self.log.info("POP3 client {peer} sent an over-long line", peer=self.peer)
        if self._reader is None:
            self.transport.write(b"-ERR Line too long.\r\n")
        self._close()

    def _busy(self) -> bool:
        return self._waiting or self._reader is not None or self._paused or self._closing

    def _processQueue(self) -> None:
        if self._processing:
            return
        self._processing = True
        try:
            while self._lines and not self._busy():
                self._handleLine(self._lines.popleft())
        finally:
            self._processing = False
        queued = len(self._lines)
        if self._disconnected:
            return
        if queued >= MAX_QUEUED_LINES and not self._readingPaused:
            self._readingPaused = True
            self.transport.pauseProducing()
        elif queued < MAX_QUEUED_LINES // 2 and self._readingPaused:
            self._readingPaused = False
            self.transport.resumeProducing()

    def _handleLine(self, line: bytes) -> None:
        try:
            if self._sasl:
                self._sasl = False
                action = self._saslResponse(line)
            else:
                verb, _, argument = line.partition(b" ")
                handler = self._commands.get(verb.upper())
                if handler is None:
                    self.transport.write(b"-ERR Unknown command: %s\r\n" % _printable(verb))
                    return
                try:
                    action = handler(argument.strip(b" "))
                except NoTransition as e:
                    state = STATE_NAMES.get(getattr(e.state, "name", ""), "current")
                    self.transport.write(b"-ERR %s is not valid in the %s state.\r\n"
                                         % (verb.upper(), state.encode("ascii")))
                    return
        except POP3Error as e:
            self.transport.write(e.reply)
            return
        except ProtocolError as e:
            self.log.warn("POP3 command failed: {reason}", reason=e.reason)
            self.transport.write(b"-ERR " + e.publicText + b"\r\n")
            return
        except Exception:
            self.log.failure("POP3 command from {peer} failed", peer=self.peer)
            self.transport.write(_TEMPORARY)
            return
        self._perform(action)

    # Parsing: bytes -> inputs

    def _topCommand(self, argument: bytes) -> Action:
        number, _, lines = argument.partition(b" ")
        lines = lines.strip(b" ")
        if not lines.isdigit():
            raise POP3Error(b"Usage: TOP msg lines.")
        return self._session.top(_number(number), int(lines))

    def _requirePlaintext(self) -> None:
        if not self._core.plaintextAllowed:
            raise POP3Error(_PLAINTEXT_REFUSED, "plaintext login over an insecure channel")

    def _userCommand(self, argument: bytes) -> Action:
        self._requirePlaintext()
        if not argument:
            raise POP3Error(b"Usage: USER name.")
        return self._session.user(argument)

    def _passCommand(self, argument: bytes) -> Action:
        self._requirePlaintext()
        return self._session.password(argument)

    def _apopCommand(self, argument: bytes) -> Action:
        if self._challenge is None:
            raise POP3Error(b"APOP is not available.")
        name, _, digest = argument.partition(b" ")
        digest = digest.strip(b" ").lower()
        if not name or len(digest) != 32 or not all(c in b"0123456789abcdef" for c in digest):
            raise POP3Error(b"Usage: APOP name digest.")
        return self._session.apop(name, digest)

    def _authCommand(self, argument: bytes) -> Action:
        if not argument:
            return self._session.authMechanisms()
        mechanism, _, initial = argument.partition(b" ")
        if mechanism.upper() != b"PLAIN":
            raise POP3Error(b"Unsupported authentication mechanism.")
        self._requirePlaintext()
        initial = initial.strip(b" ")
        if not initial:
            return self._session.authChallenge()
        return self._session.authPlain(*decodePlain(b"" if initial == b"=" else initial))

    def _saslResponse(self, line: bytes) -> Action:
        if line.strip() == b"*":
            return self._session.saslAborted(b"-ERR Authentication cancelled.\r\n")
        try:
            user, password = decodePlain(line.strip())
        except POP3Error as e:
            return self._session.saslAborted(e.reply)
        return self._session.saslResponse(user, password)

    # Actions -> I/O

    def _perform(self, action: Action) -> None:
        if isinstance(action, SendMessage):
            self._sendMessage(action)
        elif isinstance(action, Reply):
            self.transport.write(action.data)
            if action.close:
                self._close()
        elif isinstance(action, Challenge):
            self.transport.write(action.data)
            self._sasl = True
        elif isinstance(action, Login):
            self._login(action)
        elif isinstance(action, StartTLS):
            self._startTLS(action)
        elif isinstance(action, Update):
            self._update(action)
        else:  # pragma: no cover - the session returns only the above
            raise TypeError(action)

    def _startTLS(self, action: StartTLS) -> None:
        self.transport.write(action.data)
        # Whatever the client sent after STLS was sent in the clear and may
        # have been injected by someone in the middle: drop it (RFC 2595 §8).
        self._lines.clear()
        self._buffer = b""
        self.transport.startTLS(self.factory.suite.tlsOptions)
        self._secure = True
        self._auth.secure = True
        self._core.tlsAvailable = False
        self._core.plaintextAllowed = self._auth.plaintextAllowed

    # Login

    def _login(self, action: Login) -> None:
        credentials: object
        if action.digest is not None:
            credentials = APOPCredentials(self._challenge, action.user, action.digest)
        else:
            credentials = UsernamePassword(action.user, action.password)
        self._user = action.user.decode("utf-8", "replace")
        self._waiting = True
        d = self._auth.authenticate(credentials, IMailbox)
        d.addCallback(self._openMaildrop)
        d.addCallbacks(self._loggedIn, self._loginFailed)
        d.addErrback(self._unexpected)

    def _openMaildrop(self, result: tuple) -> Deferred | None:
        interface, mailbox, logout = result
        self._logout = logout
        self._mailbox = mailbox
        if self._disconnected:
            self._release()
            return None

        def loaded(sizes: Any) -> Maildrop:
            sizes = list(sizes)
            uids = []
            for index in range(len(sizes)):
                uid = mailbox.getUidl(index)
                uids.append(uid.encode("utf-8") if isinstance(uid, str) else uid)
            return Maildrop(sizes, uids)

        return maybeDeferred(mailbox.listMessages).addCallback(loaded)

    def _loggedIn(self, maildrop: Maildrop | None) -> None:
        self._waiting = False
        if self._disconnected or maildrop is None:
            self._release()
            return
        self.log.info("POP3 login {user} from {peer}: {count} messages",
                      user=self._user, peer=self.peer, count=len(maildrop.sizes))
        self._perform(self._session.loginSucceeded(self._user.encode("utf-8"), maildrop))
        self._processQueue()

    def _loginFailed(self, failure: Failure) -> None:
        self._waiting = False
        self._release()
        if self._disconnected:
            return
        if failure.check(LoginRefused):
            action = self._session.loginRefused(_AUTH_FAILED)
        elif failure.check(LoginFailed):
            if failure.value.disconnect:
                action = self._session.loginRefused(_AUTH_FAILED)
            else:
                action = self._session.loginFailed(_AUTH_FAILED)
        elif failure.check(MailboxInUse):
            self.log.info("POP3 login {user} from {peer}: maildrop in use",
                          user=self._user, peer=self.peer)
            action = self._session.loginFailed(_IN_USE)
        elif failure.check(PlaintextRefused):
            action = self._session.loginFailed(b"-ERR " + _PLAINTEXT_REFUSED + b"\r\n")
        elif failure.check(UnauthorizedLogin):
            action = self._session.loginFailed(_AUTH_FAILED)
        else:
            self.log.failure("POP3 login of {user} failed", failure, user=self._user)
            action = self._session.loginFailed(_TEMPORARY)
        self._perform(action)
        self._processQueue()

    def _unexpected(self, failure: Failure) -> None:
        self.log.failure("POP3 session with {peer} failed", failure, peer=self.peer)
        self._waiting = False
        if not self._disconnected:
            self.transport.write(_TEMPORARY)
            self._close()

    # RETR and TOP

    def _sendMessage(self, action: SendMessage) -> None:
        mailbox = self._mailbox
        peek = action.bodyLines is not None and IPeekMailbox.providedBy(mailbox)
        try:
            result = (mailbox.peekMessage if peek else mailbox.getMessage)(action.index)
        except Exception as e:
            self._messageUnavailable(action, Failure(e))
            return
        if isinstance(result, Deferred):
            self._waiting = True

            def opened(file: Any) -> None:
                self._waiting = False
                if self._disconnected:
                    file.close()
                    return
                self._beginMessage(action, file)
                self._processQueue()

            def failed(failure: Failure) -> None:
                self._waiting = False
                if not self._disconnected:
                    self._messageUnavailable(action, failure)
                    self._processQueue()

            result.addCallbacks(opened, failed).addErrback(self._unexpected)
        else:
            self._beginMessage(action, result)

    def _messageUnavailable(self, action: SendMessage, failure: Failure) -> None:
        self.log.warn("POP3 message {index} of {user} unreadable: {error}",
                      index=action.index + 1, user=self._user, error=failure.getErrorMessage())
        self.transport.write(b"-ERR [SYS/TEMP] Message %d is not available.\r\n" % (action.index + 1))

    def _beginMessage(self, action: SendMessage, file: Any) -> None:
        reader = MessageReader(file, action.bodyLines)
        try:
            first = reader.next()
        except Exception as e:
            reader.close()
            self._messageUnavailable(action, Failure(e))
            return
        self.transport.write(action.status + first)
        if not reader.done:
            self._reader = reader
            self._pump()

    def _pump(self) -> None:
        reader = self._reader
        while reader is not None and not self._paused:
            try:
                chunk = reader.next()
            except Exception:
                # Half a message is out: there is no honest way to go on.
                self.log.failure("POP3 reading a message for {user} failed", user=self._user)
                self._reader = None
                reader.close()
                self._close()
                return
            if reader.done:
                self._reader = None
            self._lastActivity = self.factory.clock.seconds()
            self.transport.write(chunk)
            reader = self._reader
        if self._reader is None:
            self._processQueue()

    # UPDATE

    def _update(self, action: Update) -> None:
        mailbox = self._mailbox
        self._waiting = True

        def apply() -> Any:
            for index in action.deleted:
                mailbox.deleteMessage(index)
            return mailbox.sync()

        def done(result: object) -> bool:
            if action.deleted:
                self.log.info("POP3 {user}: {count} messages deleted",
                              user=self._user, count=len(action.deleted))
            return True

        def failed(failure: Failure) -> bool:
            self.log.failure("POP3 update for {user} failed", failure, user=self._user)
            return False

        def finish(succeeded: bool) -> None:
            self._waiting = False
            self._release()
            if not self._disconnected:
                self._perform(self._session.updated(succeeded))

        maybeDeferred(apply).addCallbacks(done, failed).addCallback(finish).addErrback(self._unexpected)


class POP3Factory(ServerFactory):
    """
    Builds L{POP3ServerProtocol}s for one suite; counts connections (total
    and per client address) against the configured limits.
    """

    protocol = POP3ServerProtocol
    log = Logger()
    APOP_RECHECK = 2.0   # seconds between looks at the users database for APOP

    def __init__(self, suite: Any) -> None:
        self.suite = suite
        self.config = suite.config.pop3
        self.clock = getattr(suite, "clock", None) or suite.reactor
        self.connections = 0
        self.perAddress: Counter[str] = Counter()
        self._apop: tuple[float, bool] | None = None

    def buildProtocol(self, addr: Any) -> POP3ServerProtocol:
        return POP3ServerProtocol(self)

    def admit(self, address: str) -> bool:
        """
        Count a new connection from C{address}, unless a limit is reached.
        """
        if (self.config.max_connections and self.connections >= self.config.max_connections) \
                or (self.config.max_connections_per_ip
                    and self.perAddress[address] >= self.config.max_connections_per_ip):
            self.log.warn("POP3 connection from {address} refused: too many connections",
                          address=address)
            return False
        self.connections += 1
        self.perAddress[address] += 1
        return True

    def release(self, address: str) -> None:
        self.connections -= 1
        self.perAddress[address] -= 1
        if self.perAddress[address] <= 0:
            del self.perAddress[address]

    def apopOffered(self) -> bool:
        """
        Does some user's stored password allow APOP (rechecked every few
        seconds, so a changed users file is noticed)?
        """
        now = self.clock.seconds()
        if self._apop is None or now - self._apop[0] >= self.APOP_RECHECK:
            self._apop = (now, self.suite.portal.anyAllowsAPOP())
        return self._apop[1]


def makeFactory(suite: Any, role: str) -> POP3Factory:
    """
    The POP3 factory for C{role} (C{"pop3"}) of C{suite}; used by
    L{twisted_mail_suite.service}.
    """
    return POP3Factory(suite)
