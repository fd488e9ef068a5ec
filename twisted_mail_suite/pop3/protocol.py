# -*- test-case-name: tests.pop3.test_protocol,tests.pop3.test_login -*-
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

import itertools
import os
import secrets
from collections import deque
from typing import TYPE_CHECKING, Any, Callable

from twisted.cred.credentials import UsernamePassword
from twisted.internet.defer import Deferred, maybeDeferred, succeed
from twisted.internet.interfaces import (
    INegotiated, IPushProducer, ISSLTransport, ITCPTransport, ITLSTransport,
)
from twisted.internet.protocol import Protocol
from twisted.logger import Logger
from twisted.mail.pop3 import APOPCredentials, IMailbox
from twisted.python.failure import Failure
from zope.interface import implementer

from ..errors import ProtocolError
from ..identity.policy import LoginOutcome, LoginResult
from ..interfaces import IMessageContent
from ..store.content import FileContent
from .commands import PLAINTEXT_REFUSED, CommandParser
from .mailbox import IPeekMailbox
from .session import (
    Action, Challenge, Login, Maildrop, POP3Error, Reply, SendMessage, SessionCore,
    SessionMachine, StartTLS, Update,
)
from .stream import MessageReader

if TYPE_CHECKING:
    from .factory import POP3Factory

__all__ = ["POP3ServerProtocol"]

MAX_LINE = 8192          # RFC 2449 says 255 for commands; SASL responses may be longer
MAX_QUEUED_LINES = 256   # pipelined commands held before we stop reading

_AUTH_FAILED = b"-ERR [AUTH] Authentication failed.\r\n"
_IN_USE = b"-ERR [IN-USE] Mailbox is locked by another POP3 session.\r\n"
_TEMPORARY = b"-ERR [SYS/TEMP] Temporary server failure, try again later.\r\n"

# outcome of a failed login -> (reply, close the connection after it)
LOGIN_REPLIES: dict[LoginOutcome, tuple[bytes, bool]] = {
    LoginOutcome.FAILED: (_AUTH_FAILED, False),
    LoginOutcome.FAILED_DISCONNECT: (_AUTH_FAILED, True),
    LoginOutcome.REFUSED: (_AUTH_FAILED, True),
    LoginOutcome.PLAINTEXT_REFUSED: (b"-ERR " + PLAINTEXT_REFUSED + b"\r\n", False),
    LoginOutcome.IN_USE: (_IN_USE, False),
    LoginOutcome.TEMPORARY: (_TEMPORARY, False),
}
_challengeCounter = itertools.count(1)


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
        self._idleCall: Any = None
        self._lastActivity = 0.0
        self._parser: CommandParser | None = None
        self._shuttingDown = False
        self._lostWaiters: list[Deferred] = []

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
        self.factory.protocols.add(self)
        if ITCPTransport.providedBy(transport):
            transport.setTcpNoDelay(True)
        suite = self.factory.suite
        secure = INegotiated.providedBy(transport) or ISSLTransport.providedBy(transport)
        self._auth = suite.portal.session(self.peer, secure)
        self._core = SessionCore(
            plaintextAllowed=self._auth.plaintextAllowed,
            tlsAvailable=(not secure and ITLSTransport.providedBy(transport)
                          and suite.tlsOptions is not None))
        self._session = SessionMachine(self._core)
        transport.registerProducer(self, True)
        self._registered = True
        hostname = self.factory.hostname
        greeting = b"+OK " + hostname + b" POP3 ready."
        challenge = None
        if self.factory.apopOffered():
            challenge = b"<%d.%d.%s@%s>" % (os.getpid(), next(_challengeCounter),
                                            secrets.token_hex(6).encode("ascii"), hostname)
            greeting += b" " + challenge
        self._parser = CommandParser(self._session, self._core, challenge)
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
            self.factory.protocols.discard(self)
        waiters, self._lostWaiters = self._lostWaiters, []
        for waiter in waiters:
            waiter.callback(None)

    def shutdown(self) -> Deferred:
        """
        The server is stopping: finish the message being sent, or the login
        or UPDATE under way, then say so and close.  Deletions marked in a
        session that did not QUIT are not applied.

        @return: a Deferred firing once the connection is closed.
        """
        d: Deferred = Deferred()
        if self._disconnected:
            d.callback(None)
            return d
        self._lostWaiters.append(d)
        self._shuttingDown = True
        self._processQueue()
        return d

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
            while self._lines and not self._busy() and not self._shuttingDown:
                self._handleLine(self._lines.popleft())
        finally:
            self._processing = False
        if self._disconnected:
            return
        if self._shuttingDown and not self._busy():
            self.transport.write(b"-ERR [SYS/TEMP] Server shutting down.\r\n")
            self._close()
            return
        queued = len(self._lines)
        if queued >= MAX_QUEUED_LINES and not self._readingPaused:
            self._readingPaused = True
            self.transport.pauseProducing()
        elif queued < MAX_QUEUED_LINES // 2 and self._readingPaused:
            self._readingPaused = False
            self.transport.resumeProducing()

    def _handleLine(self, line: bytes) -> None:
        assert self._parser is not None
        try:
            if self._sasl:
                self._sasl = False
                action = self._parser.saslResponse(line)
            else:
                action = self._parser.parse(line)
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
        self._auth.secure = True
        self._core.tlsAvailable = False
        self._core.plaintextAllowed = self._auth.plaintextAllowed

    # Login

    def _login(self, action: Login) -> None:
        credentials: object
        if action.digest is not None:
            assert self._parser is not None
            credentials = APOPCredentials(self._parser.challenge, action.user, action.digest)
        else:
            credentials = UsernamePassword(action.user, action.password)
        self._user = action.user.decode("utf-8", "replace")
        self._waiting = True
        d = self._auth.login(credentials, IMailbox)
        d.addCallback(self._loginDone)
        d.addErrback(self._unexpected)

    def _loginDone(self, result: LoginResult) -> Deferred | None:
        if result.outcome is not LoginOutcome.SUCCEEDED:
            self._loginFailed(result.outcome)
            return None
        return self._openMaildrop(result.avatar, result.logout).addCallbacks(
            self._loggedIn, self._maildropFailed)

    def _openMaildrop(self, mailbox: Any, logout: Callable[[], None]) -> Deferred:
        self._logout = logout
        self._mailbox = mailbox
        if self._closing:
            self._release()
            return succeed(None)

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
        if self._closing or maildrop is None:   # gone, or timed out meanwhile
            self._release()
            return
        self.log.info("POP3 login {user} from {peer}: {count} messages",
                      user=self._user, peer=self.peer, count=len(maildrop.sizes))
        self._perform(self._session.loginSucceeded(self._user.encode("utf-8"), maildrop))
        self._processQueue()

    def _maildropFailed(self, failure: Failure) -> None:
        self.log.failure("POP3 login of {user} failed", failure, user=self._user)
        self._loginFailed(LoginOutcome.TEMPORARY)

    def _loginFailed(self, outcome: LoginOutcome) -> None:
        self._waiting = False
        self._release()
        if self._closing:
            return
        if outcome is LoginOutcome.IN_USE:
            self.log.info("POP3 login {user} from {peer}: maildrop in use",
                          user=self._user, peer=self.peer)
        reply, close = LOGIN_REPLIES[outcome]
        self._perform((self._session.loginRefused if close else self._session.loginFailed)(reply))
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
                if self._closing:
                    file.close()
                    return
                self._beginMessage(action, file)
                self._processQueue()

            def failed(failure: Failure) -> None:
                self._waiting = False
                if not self._closing:
                    self._messageUnavailable(action, failure)
                    self._processQueue()

            result.addCallbacks(opened, failed).addErrback(self._unexpected)
        else:
            self._beginMessage(action, result)

    def _messageUnavailable(self, action: SendMessage, failure: Failure) -> None:
        self.log.warn("POP3 message {index} of {user} unreadable: {error}",
                      index=action.index + 1, user=self._user, error=failure.getErrorMessage())
        self.transport.write(b"-ERR [SYS/TEMP] Message %d is not available.\r\n" % (action.index + 1))

    def _beginMessage(self, action: SendMessage, message: Any) -> None:
        # Our mailbox hands out the store's IMessageContent (wire form); an
        # embedder's Twisted IMailbox a file in stored form.
        content = message if IMessageContent.providedBy(message) else FileContent(message)
        reader = MessageReader(content, action.bodyLines)
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
