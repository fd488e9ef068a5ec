# -*- test-case-name: tests.smtp.test_protocol -*-
"""
The ESMTP server: bytes in, session inputs, I/O (delivery avatar, portal,
store, TLS), replies out.  One factory class, two roles: C{smtp} (MX, AUTH
optional) and C{submission} (AUTH required before MAIL).

Replies always go out in command order: while a step waits for a Deferred
(a password check, a store commit) the lines that follow stay buffered and
are processed when it fires (RFC 2920).
"""
from __future__ import annotations

import base64
from typing import TYPE_CHECKING, Any, Callable

from twisted.cred.credentials import UsernamePassword
from twisted.internet.defer import Deferred
from twisted.internet.interfaces import ISSLTransport, ITLSTransport
from twisted.internet.protocol import Protocol
from twisted.logger import Logger
from twisted.mail.smtp import IMessageDelivery, SMTPBadRcpt, SMTPBadSender
from twisted.python.failure import Failure

from ..delivery import DeliveryTarget
from ..errors import DeliveryFailed, ProtocolError
from ..identity.policy import LoginOutcome, LoginResult
from ..identity.sasl import Challenge, SASLError, SASLExchange
from .address import parseMailArguments, parseRcptArguments
from .auth import loginReply, saslFailure
from .data import DataScanner, MessageWriter, deliveryFailure
from .adapter import smtpDelivery
from .delivery import tlsDescription
from .session import Envelope, NoTransition, SessionCore, SessionMachine

if TYPE_CHECKING:
    from .factory import SMTPFactory

__all__ = ["SMTPServer"]

MAX_COMMAND_LINE = 512       # octets with CRLF (RFC 5321 §4.5.3.1.4)
MAX_AUTH_LINE = 12288        # RFC 4954 §4
PAUSE_BUFFER = 256 * 1024    # stop reading while this much waits behind a Deferred
ABANDON_GRACE = 2.0          # seconds a client has to take its last 421 at shutdown


class Final(bytes):
    """
    A reply after which the server closes the connection.
    """


BAD_SEQUENCE = b"503 5.5.1 Bad sequence of commands"
LOCAL_ERROR = b"451 4.3.0 Temporary local problem, try again later"
OK = b"250 2.0.0 OK"
JUNK_VERBS = frozenset([b"NOOP", b"RSET", b"VRFY", b"HELP"])
HELP_TEXT = b"214 2.0.0 Commands: EHLO HELO MAIL RCPT DATA RSET NOOP QUIT VRFY HELP STARTTLS AUTH"


def errorReply(error: ProtocolError) -> bytes:
    return error.code + b" " + error.publicText


class SMTPServer(Protocol):
    """
    One SMTP connection.  See the module docstring.
    """

    log = Logger()

    def __init__(self, factory: SMTPFactory) -> None:
        self.factory = factory
        self.suite = factory.suite
        self.config = factory.config
        self._clock = getattr(factory.suite, "clock", None) or factory.suite.reactor
        self._hostname = factory.suite.config.hostname.encode("idna")
        self._core = SessionCore()
        self._session = SessionMachine(self._core)
        self._buffer = b""
        self._processing = False
        self._waiting: Deferred | None = None
        self._closing = False
        self._paused = False
        self._discardLine = False
        self._scanner: DataScanner | None = None
        self._writer: MessageWriter | None = None
        self._sasl: SASLExchange | None = None
        self._avatar: Any = None
        self._logout: Callable[[], object] | None = None
        self._junk = 0
        self._timer: Any = None
        self._lastActivity = 0.0
        self._admitted = False
        self._accepted = 0
        self._shuttingDown = False
        self._whenLost: list[Deferred] = []
        self._cutOff: Any = None
        self.peerHost = ""
        self.secure = False
        self._handlers: dict[bytes, Callable[[bytes], Any]] = {
            b"EHLO": self._ehlo, b"HELO": self._helo, b"MAIL": self._mail, b"RCPT": self._rcpt,
            b"DATA": self._data, b"RSET": self._rset, b"NOOP": self._noop, b"QUIT": self._quit,
            b"VRFY": self._vrfy, b"HELP": self._help, b"STARTTLS": self._starttls, b"AUTH": self._auth,
        }

    # Connection life.

    def connectionMade(self) -> None:
        setNoDelay = getattr(self.transport, "setTcpNoDelay", None)
        if setNoDelay is not None:
            try:
                setNoDelay(True)
            except OSError:
                pass
        self.peerHost = str(getattr(self.transport.getPeer(), "host", ""))
        self.secure = ISSLTransport.providedBy(self.transport)
        self._admitted = True
        refusal = self.factory.admit(self.peerHost, self)
        if refusal is not None:
            self.log.warn("Refused {peer}: {why}", peer=self.peerHost, why=refusal)
            self._closing = True
            if self.factory.draining:
                self.transport.write(b"421 4.3.2 " + self._hostname + b" Service shutting down\r\n")
            else:
                self.transport.write(b"421 4.7.0 " + self._hostname + b" Too many connections, try again later\r\n")
            self.transport.loseConnection()
            return
        self._authSession = self.suite.portal.session(self.peerHost, self.secure)
        self._useAnonymousAvatar()
        self._lastActivity = self._clock.seconds()
        self._timer = self._clock.callLater(self.config.command_timeout, self._checkTimeout)
        self.transport.write(b"220 " + self._hostname + b" ESMTP twisted-mail-suite ready\r\n")

    def connectionLost(self, reason: Failure = None) -> None:  # type: ignore[assignment]
        self._closing = True
        if self._admitted:
            self._admitted = False
            self.factory.release(self.peerHost, self)
            if self._accepted:
                # One line per session, not per message: logging is costly on the hot path.
                self.log.info("{peer}: {count} messages accepted", peer=self.peerHost, count=self._accepted)
        if self._timer is not None and self._timer.active():
            self._timer.cancel()
        self._timer = None
        if self._writer is not None:
            self._writer.abort()
            self._writer = None
        self._scanner = None
        self._setAvatar(None, None)
        if self._cutOff is not None and self._cutOff.active():
            self._cutOff.cancel()
        self._cutOff = None
        whenLost, self._whenLost = self._whenLost, []
        for d in whenLost:
            d.callback(None)

    def shutdown(self) -> Deferred:
        """
        Graceful shutdown: a message being received or committed is
        finished and answered, then (or at once, if idle) the client gets
        421 4.3.2 and the connection closes.

        @return: a Deferred firing when the connection is gone.
        """
        d: Deferred = Deferred()
        if not self._admitted:
            d.callback(None)
            return d
        self._whenLost.append(d)
        self._shuttingDown = True
        self._process()
        return d

    def abandon(self) -> None:
        """
        The shutdown timeout passed with this session still busy: a message
        still being received is dropped (nothing of it is kept), the client
        gets 421 4.3.2 and the connection closes; whatever is left of it
        ABANDON_GRACE seconds later (a client that does not read, a commit
        that does not return) is cut off.
        """
        if not self._admitted:
            return
        if self._cutOff is None:
            self._cutOff = self._clock.callLater(ABANDON_GRACE, self.transport.abortConnection)
        if self._closing or self._waiting is not None:
            return
        if self._writer is not None:
            self._writer.abort()
            self._writer = None
        self._scanner = None
        self._reply(Final(b"421 4.3.2 " + self._hostname + b" Service shutting down, transaction abandoned"))

    def _useAnonymousAvatar(self) -> None:
        self._setAvatar(None, None)
        if self.factory.authRequired:
            return
        self.suite.portal.loginAnonymous(IMessageDelivery).addCallbacks(
            lambda result: self._setAvatar(result[1], result[2]),
            lambda failure: self.log.failure("No anonymous delivery avatar", failure))

    def _setAvatar(self, avatar: Any, logout: Callable[[], object] | None) -> None:
        """Every command goes through C{avatar} seen as an C{ISMTPDelivery}."""
        if self._logout is not None:
            self._logout()
        self._avatar = None if avatar is None else smtpDelivery(avatar, self)
        self._logout = logout

    def _checkTimeout(self) -> None:
        self._timer = None
        if self._closing:
            return
        timeout = self.config.data_timeout if self._scanner is not None else self.config.command_timeout
        idle = self._clock.seconds() - self._lastActivity
        if self._waiting is None and idle >= timeout:
            self.log.info("Timeout for {peer}", peer=self.peerHost)
            self._reply(Final(b"421 4.4.2 " + self._hostname + b" Timeout, closing connection"))
            return
        self._timer = self._clock.callLater(timeout if self._waiting is not None else timeout - idle,
                                            self._checkTimeout)

    # Bytes in.

    def dataReceived(self, data: bytes) -> None:
        if self._closing:
            return
        self._lastActivity = self._clock.seconds()
        self._buffer = self._buffer + data if self._buffer else data
        self._process()

    def _process(self) -> None:
        if self._processing:
            return
        self._processing = True
        try:
            while self._buffer and self._waiting is None and not self._closing:
                if self._shuttingDown and self._scanner is None:
                    break
                if self._scanner is not None:
                    self._textReceived()
                    continue
                if not self._lines():
                    break
        finally:
            self._processing = False
        if self._shuttingDown and self._scanner is None and self._waiting is None and not self._closing:
            self._reply(Final(b"421 4.3.2 " + self._hostname + b" Service shutting down, closing connection"))
        self._flowControl()

    def _lines(self) -> bool:
        """
        Handle the complete command lines in the buffer, slicing it once.

        @return: whether to go on (the buffer may hold message text now).
        """
        buf = self._buffer
        pos = 0
        while True:
            end = buf.find(b"\n", pos)
            if end < 0:
                break
            line, pos = buf[pos:end + 1], end + 1
            if self._discardLine:
                self._discardLine = False
            else:
                self._lineReceived(line)
            if self._buffer is not buf:          # STARTTLS or a close dropped the input
                return True
            if self._waiting is not None or self._closing or self._scanner is not None:
                self._buffer = buf[pos:]
                return True
        self._buffer = buf[pos:] if pos else buf
        if self._discardLine:
            self._buffer = b""
        else:
            self._checkPartialLine()
        return False

    def _checkPartialLine(self) -> None:
        limit = MAX_COMMAND_LINE
        if self._sasl is not None or self._buffer[:5].upper() == b"AUTH ":
            limit = MAX_AUTH_LINE
        if len(self._buffer) > limit:
            self._buffer = b""
            self._discardLine = True
            self._commandReply(b"500 5.5.2 Line too long", junk=True)

    def _flowControl(self) -> None:
        pause = self._waiting is not None and len(self._buffer) > PAUSE_BUFFER
        if pause != self._paused and not self._closing:
            self._paused = pause
            (self.transport.pauseProducing if pause else self.transport.resumeProducing)()

    def _lineReceived(self, line: bytes) -> None:
        if line[-2:-1] != b"\r" or line.find(b"\r", 0, len(line) - 2) >= 0:
            self._sasl = None
            self._commandReply(b"500 5.5.2 Bare CR or LF in command line refused", junk=True)
            return
        line = line[:-2]
        if self._sasl is not None:
            self._handle(self._saslResponse, line, junk=False)
            return
        verb, _, argument = line.partition(b" ")
        verb = verb.upper()
        if len(line) > MAX_COMMAND_LINE - 2 and verb != b"AUTH":
            self._commandReply(b"500 5.5.2 Line too long", junk=True)
            return
        handler = self._handlers.get(verb)
        if handler is None:
            self._commandReply(b"500 5.5.1 Command unrecognized", junk=True)
            return
        self._handle(handler, argument.strip(b" "), junk=verb in JUNK_VERBS)

    def _handle(self, handler: Callable[[bytes], Any], argument: bytes, junk: bool) -> None:
        """
        The one place that turns a handler's outcome into a reply.
        """
        try:
            result = handler(argument)
        except NoTransition:
            result = BAD_SEQUENCE
        except Exception as e:
            result = self._replyFor(Failure(e))
        if isinstance(result, Deferred):
            self._waiting = result
            result.addErrback(self._replyFor).addCallback(self._asyncReply, junk)
        elif result is not None:
            self._commandReply(result, junk)

    def _replyFor(self, failure: Failure) -> bytes:
        error = failure.value
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
        self._waiting = None
        if self._closing:
            return
        if reply is not None:
            self._commandReply(reply, junk)
        self._process()

    def _commandReply(self, reply: bytes, junk: bool) -> None:
        limit = self.config.junk_command_limit
        if junk or reply[:1] == b"5":
            self._junk += 1
            if limit and self._junk > limit and not isinstance(reply, Final):
                self.log.info("Too many junk commands from {peer}", peer=self.peerHost)
                reply = Final(b"421 4.7.0 " + self._hostname + b" Too many errors, closing connection")
        self._reply(reply)

    def _reply(self, reply: bytes) -> None:
        self.transport.write(reply + b"\r\n")
        if isinstance(reply, Final):
            self._closing = True
            self._buffer = b""
            self.transport.loseConnection()

    # Commands.

    def _ehlo(self, argument: bytes) -> bytes:
        name = argument.split(b" ", 1)[0]
        if not name:
            raise ProtocolError(b"501 5.5.4", b"Syntax: EHLO hostname")
        self._session.hello(name, True)
        size = self.config.max_message_size
        lines = [self._hostname + b" greets " + name[:64], b"PIPELINING",
                 b"SIZE %d" % size if size else b"SIZE", b"8BITMIME", b"ENHANCEDSTATUSCODES", b"SMTPUTF8"]
        if not self.secure and self.suite.tlsOptions is not None and ITLSTransport.providedBy(self.transport):
            lines.append(b"STARTTLS")
        if self._authSession.plaintextAllowed:
            lines.append(b"AUTH PLAIN LOGIN")
        return b"\r\n".join([b"250-" + line for line in lines[:-1]] + [b"250 " + lines[-1]])

    def _helo(self, argument: bytes) -> bytes:
        name = argument.split(b" ", 1)[0]
        if not name:
            raise ProtocolError(b"501 5.5.4", b"Syntax: HELO hostname")
        self._session.hello(name, False)
        return b"250 " + self._hostname

    def _mail(self, argument: bytes) -> Any:
        self._session.mailFrom()
        if self.factory.authRequired and self._core.user is None:
            raise ProtocolError(b"530 5.7.0", b"Authentication required", "MAIL before AUTH on submission")
        sender, utf8, body, declared = parseMailArguments(
            argument, self._core.extended, self.config.max_message_size)
        envelope = Envelope(sender=sender, declaredSize=declared, body=body, utf8=utf8)
        if self._avatar is None:
            raise ProtocolError(b"451 4.3.0", b"Temporary local problem, try again later", "no avatar")
        result = self._avatar.checkSender(self._heloPair(), sender)

        def accepted(ignored: object) -> bytes:
            self._session.senderAccepted(envelope)
            return b"250 2.1.0 Sender OK"

        if isinstance(result, Deferred):
            return result.addCallback(accepted)
        return accepted(result)

    def _rcpt(self, argument: bytes) -> Any:
        self._session.rcptTo()
        envelope = self._core.envelope
        assert envelope is not None
        limit = self.config.max_recipients
        if limit and len(envelope.recipients) >= limit:
            raise ProtocolError(b"452 4.5.3", b"Too many recipients")
        address = parseRcptArguments(argument, envelope.utf8)
        result = self._avatar.checkRecipient(self._heloPair(), envelope.sender, address)

        def accepted(recipient: object) -> bytes:
            self._session.recipientAccepted(address, recipient)
            return b"250 2.1.5 Recipient OK"

        if isinstance(result, Deferred):
            return result.addCallback(accepted)
        return accepted(result)

    def _data(self, argument: bytes) -> bytes:
        if argument:
            raise ProtocolError(b"501 5.5.4", b"Syntax: DATA takes no argument")
        envelope = self._session.data()
        self._writer = MessageWriter(self._traceFields(envelope), self._beginDelivery(envelope))
        self._scanner = DataScanner(self._writer.write, self.config.max_message_size,
                                    self.config.bare_newline == "normalize")
        return b"354 End data with <CR><LF>.<CR><LF>"

    def _traceFields(self, envelope: Envelope) -> bytes:
        withProtocol = ("UTF8SMTP" if envelope.utf8 else "ESMTP") if self._core.extended else "SMTP"
        received = self._avatar.receivedField(self._heloPair(), envelope.sender, envelope.recipients,
                                              tlsDescription(self.transport) if self.secure else None,
                                              withProtocol)
        return b"Return-Path: <" + envelope.sender + b">\r\n" + received + b"\r\n"

    def _heloPair(self) -> tuple[bytes, bytes]:
        return (self._core.heloName or b"", self.peerHost.encode())

    def _beginDelivery(self, envelope: Envelope) -> Callable[[str], Any]:
        """C{begin(subject)} for the L{MessageWriter}: one message to every accepted recipient."""
        avatar = self._avatar
        return lambda subject: avatar.beginMessage(DeliveryTarget(self.suite.store), envelope.sender,
                                                   envelope.accepted, subject)

    def _textReceived(self) -> None:
        assert self._scanner is not None
        rest = self._scanner.feed(self._buffer)
        if rest is None:
            self._buffer = b""
            return
        self._buffer = rest
        scanner, writer = self._scanner, self._writer
        self._scanner = self._writer = None
        assert writer is not None
        self._session.messageDone()
        if scanner.rejection is not None:
            writer.abort()
            self._handle(lambda _: errorReply(scanner.rejection), b"", junk=False)  # type: ignore[arg-type]
            return
        size = scanner.size
        self._handle(lambda _: writer.commit().addCallback(self._committed, size), b"", junk=False)

    def _committed(self, uids: list[str], size: int) -> bytes:
        self._junk = 0
        self._accepted += 1
        uid = uids[0] if uids else ""
        return b"250 2.0.0 OK queued as " + uid.encode("ascii", "replace")

    def _rset(self, argument: bytes) -> bytes:
        if argument:
            raise ProtocolError(b"501 5.5.4", b"Syntax: RSET takes no argument")
        self._session.reset()
        return OK

    def _noop(self, argument: bytes) -> bytes:
        return OK

    def _vrfy(self, argument: bytes) -> bytes:
        if not argument:
            raise ProtocolError(b"501 5.5.4", b"Syntax: VRFY address")
        return b"252 2.5.0 Cannot VRFY user, but will accept message and attempt delivery"

    def _help(self, argument: bytes) -> bytes:
        return HELP_TEXT

    def _quit(self, argument: bytes) -> bytes:
        self._session.quit()
        return Final(b"221 2.0.0 " + self._hostname + b" closing connection")

    def _starttls(self, argument: bytes) -> None:
        if argument:
            raise ProtocolError(b"501 5.5.4", b"Syntax: STARTTLS takes no argument")
        if self.secure:
            raise ProtocolError(b"503 5.5.1", b"TLS already active")
        if self.suite.tlsOptions is None or not ITLSTransport.providedBy(self.transport):
            raise ProtocolError(b"454 4.7.0", b"TLS not available", "STARTTLS off or transport cannot start TLS")
        self._session.startTLS()
        self._reply(b"220 2.0.0 Ready to start TLS")
        if self._buffer:
            self.log.warn("Discarded {count} octets pipelined after STARTTLS from {peer}",
                          count=len(self._buffer), peer=self.peerHost)
            self._buffer = b""
        self.transport.startTLS(self.suite.tlsOptions)
        self.secure = True
        self._authSession = self.suite.portal.session(self.peerHost, True)
        self._useAnonymousAvatar()

    def _auth(self, argument: bytes) -> Any:
        self._session.auth()
        if self._core.user is not None:
            raise ProtocolError(b"503 5.5.1", b"Already authenticated")
        if not self._authSession.plaintextAllowed:
            raise ProtocolError(b"538 5.7.11", b"Encryption required for requested authentication mechanism")
        mechanism, _, initial = argument.partition(b" ")
        try:
            exchange = SASLExchange(mechanism, lenientMarkers=True)
            step = exchange.begin(initial.strip() or None)
        except SASLError as e:
            raise saslFailure(e) from None
        return self._saslStep(exchange, step)

    def _saslResponse(self, line: bytes) -> Any:
        exchange, self._sasl = self._sasl, None
        assert exchange is not None
        try:
            step = exchange.respond(line.strip())
        except SASLError as e:
            raise saslFailure(e) from None
        return self._saslStep(exchange, step)

    def _saslStep(self, exchange: SASLExchange, step: Any) -> Any:
        if isinstance(step, Challenge):
            self._sasl = exchange
            return b"334 " + base64.b64encode(step.data)
        credentials = UsernamePassword(step.username, step.password)
        d = self._authSession.login(credentials, IMessageDelivery)
        return d.addCallback(self._loginDone, step.username)

    def _loginDone(self, result: LoginResult, username: bytes) -> bytes | None:
        if result.outcome is LoginOutcome.SUCCEEDED:
            assert result.logout is not None
            if self._closing:
                result.logout()
                return None
            self._setAvatar(result.avatar, result.logout)
            user = getattr(result.avatar, "user", None) or username.decode("utf-8", "replace")
            self._session.authenticated(user)
            self.log.info("{peer} authenticated as {user}", peer=self.peerHost, user=user)
        reply, close = loginReply(result.outcome, self._hostname)
        return Final(reply) if close else reply
