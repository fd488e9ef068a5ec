# -*- test-case-name: tests.smtp.test_connection,tests.smtp.test_backpressure -*-
"""
One SMTP connection on the chassis (L{twisted_mail_suite.net}), under the
verbs: admission and the refusal replies, the connection's L{Lifecycle}
(shutdown, abandon, idle timeout, goodbye), the delivery avatar of the
session, and the one place that turns a step's outcome into a reply, in
command order, counting junk.

Output backpressure: the connection is its transport's push producer.
While the transport is paused (the client is not taking its replies) the
wire handles no further command and stops reading (see
L{twisted_mail_suite.smtp.wire}); after the last reply (C{Final}: QUIT's
221, every 421, a login that closes) the transport is closed and, if the
client still has not taken its output C{closeGrace} seconds later,
aborted, so a client that never reads cannot pin a connection slot.  The
grace is timed by the factory's L{IdleTracker} (a lane of its own, and
no delayed call per connection).

L{SMTPConnection} is the base of L{twisted_mail_suite.smtp.protocol.SMTPServer},
which adds the verb table; it reads its input through an
L{twisted_mail_suite.smtp.wire.SMTPWire}.  What it needs from its factory
is L{SMTPContext}, so this module does not know the factory.
"""
from __future__ import annotations

from typing import Any, Callable, Protocol as TypingProtocol

from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IPushProducer
from twisted.internet.protocol import Protocol
from twisted.logger import Logger
from twisted.mail.smtp import IMessageDelivery, SMTPBadRcpt, SMTPBadSender
from twisted.python.failure import Failure
from zope.interface import implementer

from ..config import SMTPConfig
from ..delivery import DeliveryTarget
from ..errors import DeliveryFailed, ProtocolError
from ..interfaces import IMetrics
from ..net.admission import Refusal, Ticket
from ..net.idle import IdleTracker
from ..net.lifecycle import ConnectionManager, IManagedConnection, Lifecycle
from ..net.transport import CLOSE_GRACE, directSocket, isSecure, peerHost, sendAtOnce, setNoDelay
from .adapter import smtpDelivery
from .data import MessageWriter, deliveryFailure
from .delivery import ISMTPDelivery
from .rejections import countRejection
from .session import NoTransition, Session, SessionCore
from .wire import MAX_AUTH_LINE, MAX_COMMAND_LINE, SMTPWire

__all__ = ["BAD_SEQUENCE", "Final", "LOCAL_ERROR", "REFUSALS", "SMTPConnection", "SMTPContext", "errorReply"]

BAD_SEQUENCE = b"503 5.5.1 Bad sequence of commands"
LOCAL_ERROR = b"451 4.3.0 Temporary local problem, try again later"
LONG_LINE = b"500 5.5.2 Line too long"
BAD_LINE = b"500 5.5.2 Bare CR or LF in command line refused"
HOLD_REPLIES = 512           # octets of replies held to go out in one send

# refusal -> (reply before the host name, reply after it, why (for the log))
REFUSALS: dict[Refusal, tuple[bytes, bytes, str]] = {
    Refusal.DRAINING: (b"421 4.3.2 ", b" Service shutting down", "shutting down"),
    Refusal.BUSY: (b"421 4.7.0 ", b" Too many connections, try again later", "too many connections"),
    Refusal.ADDRESS: (b"421 4.7.0 ", b" Too many connections, try again later",
                      "too many connections from this address"),
}


class Final(bytes):
    """
    A reply after which the server closes the connection.
    """


def errorReply(error: ProtocolError) -> bytes:
    return error.code + b" " + error.publicText


class SMTPContext(TypingProtocol):
    """
    What an SMTP connection needs from its factory
    (L{twisted_mail_suite.smtp.factory.SMTPFactory}).

    @ivar config: the listener's section (C{smtp} or C{submission}).
    @ivar hostname: the server's name in replies.
    @ivar portal: the suite's portal (C{session}, C{loginAnonymous}).
    @ivar target: where messages go (handed to the delivery avatar).
    @ivar tls: the server's TLS (C{.options}: the STARTTLS context
        factory, L{None} while there is none), or L{None}: no STARTTLS.
    @ivar authRequired: MAIL needs AUTH first (submission).
    @ivar manager: admission and drain.
    @ivar idle: the idle timeouts (the command timeout by default) and the
        close grace.
    @ivar proxy: the C{proxy} section (who may send XCLIENT), or L{None}.
    @ivar role: C{smtp} or C{submission}, for the metrics.
    @ivar metrics: counts messages accepted and rejected (L{IMetrics}).
    """

    config: SMTPConfig
    hostname: bytes
    portal: Any
    target: DeliveryTarget
    tls: Any
    authRequired: bool
    manager: ConnectionManager
    idle: IdleTracker
    proxy: Any
    role: str
    metrics: IMetrics


@implementer(IManagedConnection, IPushProducer)
class SMTPConnection(Protocol):
    """
    One SMTP connection without its verbs; see the module docstring.
    Subclasses provide C{lineReceived} and C{textReceived} (see
    L{twisted_mail_suite.smtp.wire.WireReceiver}).

    @ivar peerHost: the client's address.
    @ivar secure: the channel is encrypted (implicit TLS or STARTTLS).
    @cvar closeGrace: seconds a closing client has to take its last
        replies before its connection is aborted.
    """

    log = Logger()
    closeGrace = CLOSE_GRACE

    __slots__ = ("factory", "peerHost", "secure", "_lifecycle", "_ticket", "_wire", "_core", "_session",
                 "_writer", "_avatar", "_logout", "_authSession", "_socket", "_pending")

    def __init__(self, factory: SMTPContext) -> None:
        self.factory = factory
        self.peerHost = ""
        self.secure = False
        self._lifecycle = Lifecycle()
        self._ticket: Ticket | None = None
        self._wire = SMTPWire(self, self._lifecycle, factory.idle, factory.config.data_timeout)
        self._core = SessionCore()
        self._session = Session(self._core)
        self._writer: MessageWriter | None = None
        self._avatar: ISMTPDelivery | None = None
        self._logout: Callable[[], object] | None = None
        self._authSession: Any = None
        self._socket: Any = None                    # replies are sent on it at once (see _write)
        self._pending: bytes | None = None          # replies held to go out together (see _batch)

    # Connection life.

    @property
    def presenceUser(self) -> str | None:
        """
        The authenticated user, or L{None} (for "who is online",
        L{twisted_mail_suite.net.presence}).
        """
        return self._core.user

    def connectionMade(self) -> None:
        context, transport = self.factory, self.transport
        setNoDelay(transport)
        self.peerHost = peerHost(transport)
        self.secure = isSecure(transport)
        admitted = context.manager.admit(self.peerHost, self)
        if isinstance(admitted, Refusal):           # not counted: nothing to release
            before, after, why = REFUSALS[admitted]
            self.log.warn("Refused {peer}: {why}", peer=self.peerHost, why=why)
            self._lifecycle.close()
            transport.write(before + context.hostname + after + b"\r\n")
            transport.loseConnection()
            return
        self._ticket = admitted
        self._socket = directSocket(transport)
        transport.registerProducer(self, True)
        self._authSession = context.portal.session(self.peerHost, self.secure, context.role)
        self._useAnonymousAvatar()
        context.idle.touch(self)
        self._write(b"220 " + context.hostname + b" ESMTP twisted-mail-suite ready\r\n")

    def dataReceived(self, data: bytes) -> None:
        if self._pending is not None:               # a caller up the stack holds the replies
            self._wire.dataReceived(data)
            return
        self._pending = b""                         # _batch and _flush, inlined: once per read
        try:
            self._wire.dataReceived(data)
        finally:
            held, self._pending = self._pending, None
            if held:
                self._send(held)

    def connectionLost(self, reason: Failure = None) -> None:  # type: ignore[assignment]
        self._lifecycle.lost()                      # first: a step answered from here on writes nothing
        self._socket = None
        self._wire.stop()
        self._dropMessage()
        self._setAvatar(None, None)
        ticket = self._ticket
        if ticket is not None and not ticket.released:
            self.factory.idle.forget(self)
            if self._core.accepted:
                # One line per session, not per message: logging is costly on the hot path.
                self.log.info("{peer}: {count} messages accepted", peer=self.peerHost, count=self._core.accepted)
            ticket.release()                        # last: a drain waiting for it may go on at once

    def shutdown(self) -> Deferred:
        """
        Graceful shutdown (L{IManagedConnection}): a message being received
        or committed (or any pending step) is finished and answered, then
        (or at once, if idle) the client gets 421 4.3.2 and the connection
        closes; commands pipelined after it are not started.

        @return: a Deferred firing when the connection is gone.
        """
        gone = self._lifecycle.whenGone()
        if self._lifecycle.drain():
            self.drained()
        return gone

    def drained(self) -> None:
        """
        Shutting down with nothing in hand: say goodbye.
        """
        self._reply(Final(b"421 4.3.2 " + self.factory.hostname + b" Service shutting down, closing connection"))

    def abandon(self) -> None:
        """
        The shutdown timeout passed with this session still busy: a message
        still being received is dropped (nothing of it is kept), the client
        gets 421 4.3.2 and the connection closes (the manager cuts off what
        is left of it after a grace).  A pending step (a commit under way)
        is still answered when it returns.
        """
        if self._lifecycle.closing or self._wire.pending:
            return
        self._dropMessage()
        self._reply(Final(b"421 4.3.2 " + self.factory.hostname + b" Service shutting down, transaction abandoned"))

    def idleExpired(self) -> None:
        """
        The client was silent for the command (or DATA) timeout; or, once
        the connection is closing, it did not take its last replies within
        the close grace.
        """
        if self._lifecycle.closing:             # the close grace (see _goodbye): the client is not reading
            self.transport.abortConnection()
            return
        self.log.info("Timeout for {peer}", peer=self.peerHost)
        self._reply(Final(b"421 4.4.2 " + self.factory.hostname + b" Timeout, closing connection"))

    def _dropMessage(self) -> None:
        writer, self._writer = self._writer, None
        if writer is not None:
            writer.abort()
        self._wire.dropText()

    # The delivery avatar.

    def _useAnonymousAvatar(self) -> None:
        self._setAvatar(None, None)
        if self.factory.authRequired:
            return
        self.factory.portal.loginAnonymous(IMessageDelivery).addCallbacks(
            lambda result: self._setAvatar(result[1], result[2]),
            lambda failure: self.log.failure("No anonymous delivery avatar", failure))

    def _setAvatar(self, avatar: Any, logout: Callable[[], object] | None) -> None:
        """Every command goes through C{avatar} seen as an C{ISMTPDelivery}."""
        if self._logout is not None:
            self._logout()
        self._avatar = None if avatar is None else smtpDelivery(avatar, self)
        self._logout = logout

    # From the wire (see WireReceiver).

    def badLine(self) -> None:
        if self._core.sasl is not None:
            self._session.response()               # the exchange is dropped
        self._commandReply(BAD_LINE, True)

    def longLine(self) -> None:
        self._commandReply(LONG_LINE, True)

    def lineLimit(self, partial: bytes) -> int:
        if self._core.sasl is not None or partial[:5].upper() == b"AUTH ":
            return MAX_AUTH_LINE
        return MAX_COMMAND_LINE

    # Replies.

    def _handle(self, step: Callable[[Any, Any], Any], argument: Any, junk: bool) -> None:
        """
        The one place that turns a step's outcome into a reply: C{step(self,
        argument)} returns the reply (bytes), L{None} (it replied itself)
        or a Deferred (the wire reads no further until it fired and its
        reply is out), or raises.
        """
        try:
            result = step(self, argument)
        except NoTransition:
            result = BAD_SEQUENCE
        except Exception as e:
            result = self._replyFor(Failure(e))
        if result is None:
            return
        # Bytes first: Deferred is an ABC (Awaitable), so isinstance on it
        # runs a Python-level __instancecheck__; most steps answer at once.
        if not isinstance(result, bytes) and isinstance(result, Deferred):
            self._wire.replyPending()
            result.addCallbacks(self._asyncReply, self._asyncFailure, callbackArgs=(junk,), errbackArgs=(junk,))
        else:
            self._commandReply(result, junk)

    def _asyncFailure(self, failure: Failure, junk: bool) -> None:
        self._asyncReply(self._replyFor(failure), junk)

    def _replyFor(self, failure: Failure) -> bytes:
        error = failure.value
        countRejection(self.factory.metrics, error)
        if isinstance(error, NoTransition):
            return BAD_SEQUENCE
        if isinstance(error, DeliveryFailed):
            error = deliveryFailure(error)
        if isinstance(error, ProtocolError):
            if error.reason:
                self.log.info("{peer}: {code} {reason}", peer=self.peerHost,
                              code=error.code.decode("ascii", "replace"), reason=error.reason)
            return errorReply(error)
        if isinstance(error, SMTPBadRcpt):
            return b"550 5.1.1 Mailbox unavailable"
        if isinstance(error, SMTPBadSender):
            return b"550 5.1.7 Sender rejected"
        self.log.failure("Unexpected error for {peer}", failure, peer=self.peerHost)
        return LOCAL_ERROR

    def _asyncReply(self, reply: bytes | None, junk: bool) -> None:
        wire = self._wire
        wire.replied()
        if self._lifecycle.closing:
            return
        batch = self._batch()
        try:
            if reply is not None:
                self._commandReply(reply, junk)
            wire.process()                          # the commands pipelined behind it
        finally:
            self._flush(batch)

    def _commandReply(self, reply: bytes, junk: bool) -> None:
        if junk or reply[:1] == b"5":
            reply = self._junk(reply)
        self._reply(reply)

    def _junk(self, reply: bytes) -> bytes:
        """
        Count C{reply} toward the junk limit (its command was junk or
        failed): past the limit, the 421 that closes the connection
        replaces it.
        """
        core = self._core
        core.junk += 1
        limit = self.factory.config.junk_command_limit
        if limit and core.junk > limit and not isinstance(reply, Final):
            self.log.info("Too many junk commands from {peer}", peer=self.peerHost)
            return Final(b"421 4.7.0 " + self.factory.hostname + b" Too many errors, closing connection")
        return reply

    def _reply(self, reply: bytes) -> None:
        if isinstance(reply, Final):
            self._goodbye(reply)
            return
        pending = self._pending
        if pending is not None and len(pending) + len(reply) <= HOLD_REPLIES - 2:
            self._pending = pending + reply + b"\r\n"     # _write's usual case, inlined
        else:
            self._write(reply + b"\r\n")

    def _goodbye(self, reply: Final) -> None:
        """
        The last reply, and the close (the first time).  It goes through
        the transport, not straight to the socket: the transport sends it
        in the one write that precedes the close (sent at once, the close
        would still cost that write, an empty one).
        """
        self._socket = None
        self._write(reply + b"\r\n")
        if self._lifecycle.close():
            self._flush(True)
            self._wire.stop()
            self.factory.idle.closeWithin(self, self.transport, self.closeGrace)     # then idleExpired aborts it

    def _write(self, data: bytes) -> None:
        """
        Every byte the server sends goes through here: held while a run of
        input is handled (L{_batch}: pipelined commands' replies go out in
        one send, as a transport would send them), up to L{HOLD_REPLIES}
        octets (more goes out at once, so that output backpressure still
        stops a flood of pipelined commands), else sent.
        """
        pending = self._pending
        if pending is None:
            self._send(data)
        elif len(pending) + len(data) > HOLD_REPLIES:
            self._pending = b""                     # enough to send: the transport may push back now
            self._send(pending + data)
        else:
            self._pending = pending + data

    def _send(self, data: bytes) -> None:
        """
        On a plain TCP connection straight to the socket (L{sendAtOnce}),
        until the socket once does not take it all; else through the
        transport.
        """
        sock = self._socket
        if sock is None:
            self.transport.write(data)
        elif not sendAtOnce(sock, self.transport, data):
            self._socket = None

    def _batch(self) -> bool:
        """
        Start holding replies, unless a caller up the stack does already.

        @return: whether this caller is to L{_flush} them.
        """
        if self._pending is not None:
            return False
        self._pending = b""
        return True

    def _flush(self, batch: bool) -> None:
        """
        Send the replies held, if this caller started holding them.
        """
        if batch:
            data, self._pending = self._pending, None
            if data:
                self._send(data)

    def stopDirectWrites(self) -> None:
        """
        From now on write through the transport only (before it starts
        TLS); what is held goes out first.
        """
        self._flush(True)
        self._socket = None

    # IPushProducer, called by the transport.

    def pauseProducing(self) -> None:
        """
        The transport holds as much output as it wants: handle no further
        command until the client takes it.
        """
        self._wire.holdInput()

    def resumeProducing(self) -> None:
        """
        The client took its replies: go on with the commands held.
        """
        self._wire.releaseInput()

    def stopProducing(self) -> None:
        """
        The connection is going (C{connectionLost} follows).
        """
