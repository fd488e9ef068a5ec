# -*- test-case-name: tests.smtp.test_protocol -*-
"""
The ESMTP server's verbs: a command line -> session inputs, I/O (delivery
avatar, portal, TLS) -> replies.  One class, two roles: C{smtp} (MX, AUTH
optional) and C{submission} (AUTH required before MAIL).

The verb table (L{SMTPServer.HANDLERS}) maps each verb to its handler; an
input the session refuses in its state is answered C{503 5.5.1} in one
place (L{SMTPConnection._handle}).  The framing (lines, DATA, pipelining)
is L{twisted_mail_suite.smtp.wire}; the connection's life on the chassis
is L{twisted_mail_suite.smtp.connection}.
"""
from __future__ import annotations

import base64
from typing import Any, Callable

from twisted.cred.credentials import UsernamePassword
from twisted.internet.defer import Deferred
from twisted.internet.interfaces import ITLSTransport
from twisted.mail.smtp import IMessageDelivery
from twisted.python.failure import Failure

from ..errors import ProtocolError
from ..identity.policy import LoginOutcome, LoginResult
from ..identity.sasl import Challenge, SASLError, SASLExchange
from .address import neuterHelo, parseMailArguments, parseRcptArguments
from .auth import loginReply, saslFailure
from ..net.transport import peerHost
from .connection import LONG_LINE, Final, SMTPConnection, errorReply
from .data import DataScanner, MessageWriter
from .delivery import tlsDescription
from .rejections import countRejection
from .session import Envelope
from .wire import MAX_COMMAND_LINE
from .xclient import XCLIENT_EXTENSION, loginAvatar, parseXclient

__all__ = ["SMTPServer"]

OK = b"250 2.0.0 OK"
SENDER_OK = b"250 2.1.0 Sender OK"
RECIPIENT_OK = b"250 2.1.5 Recipient OK"
GO_AHEAD = b"354 End data with <CR><LF>.<CR><LF>"
TOO_MANY_RECIPIENTS = b"452 4.5.3 Too many recipients"
JUNK_VERBS = frozenset([b"NOOP", b"RSET", b"VRFY", b"HELP"])
HELP_TEXT = b"214 2.0.0 Commands: EHLO HELO MAIL RCPT DATA RSET NOOP QUIT VRFY HELP STARTTLS AUTH"


class SMTPServer(SMTPConnection):
    """
    One SMTP connection with its verbs.  See the module docstring.
    """

    __slots__ = ()

    def lineReceived(self, line: bytes) -> None:
        """
        A command line from the wire: the response to a SASL challenge
        while one is out, else a verb and its argument for the table.
        """
        if self._core.sasl is not None:
            self._handle(SMTPServer._saslResponse, line, False)
            return
        verb, _, argument = line.partition(b" ")
        verb = verb.upper()
        if len(line) > MAX_COMMAND_LINE - 2 and verb != b"AUTH":
            self._commandReply(LONG_LINE, True)
            return
        handler = self.HANDLERS.get(verb)
        if handler is None:
            self._commandReply(b"500 5.5.1 Command unrecognized", True)
            return
        self._handle(handler, argument.strip(b" "), verb in JUNK_VERBS)

    # The session.

    def _hello(self, argument: bytes, extended: bool) -> bool:
        """
        EHLO or HELO with C{argument}: the session (re)starts with the
        name made safe (L{neuterHelo}).

        @return: whether the session was greeted already (a repeated
            greeting counts as junk; the one after STARTTLS does not).
        """
        name = argument.split(b" ", 1)[0]
        if not name:
            raise ProtocolError(b"501 5.5.4", b"Syntax: EHLO hostname" if extended else b"Syntax: HELO hostname")
        repeated = self._core.heloName is not None
        self._session.hello(neuterHelo(name), extended)
        return repeated

    def _ehlo(self, argument: bytes) -> bytes:
        repeated = self._hello(argument, True)
        name = self._core.heloName
        assert name is not None
        size = self.factory.config.max_message_size
        lines = [self.factory.hostname + b" greets " + name[:64], b"PIPELINING",
                 b"SIZE %d" % size if size else b"SIZE", b"8BITMIME", b"ENHANCEDSTATUSCODES", b"SMTPUTF8"]
        if not self.secure and self._tlsOptions() is not None and ITLSTransport.providedBy(self.transport):
            lines.append(b"STARTTLS")
        if self._authSession.plaintextAllowed:
            lines.append(b"AUTH PLAIN LOGIN")
        if self._proxyTrusted():
            lines.append(XCLIENT_EXTENSION)
        reply = b"\r\n".join([b"250-" + line for line in lines[:-1]] + [b"250 " + lines[-1]])
        return self._junk(reply) if repeated else reply

    def _helo(self, argument: bytes) -> bytes:
        reply = b"250 " + self.factory.hostname
        return self._junk(reply) if self._hello(argument, False) else reply

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
        return Final(b"221 2.0.0 " + self.factory.hostname + b" closing connection")

    # The mail transaction.

    def _mail(self, argument: bytes) -> Any:
        self._session.mailFrom()
        config = self.factory.config
        if self.factory.authRequired and self._core.user is None:
            raise ProtocolError(b"530 5.7.0", b"Authentication required", "MAIL before AUTH on submission")
        sender, utf8, body, declared = parseMailArguments(argument, self._core.extended, config.max_message_size)
        envelope = Envelope(sender=sender, declaredSize=declared, body=body, utf8=utf8)
        if self._avatar is None:
            raise ProtocolError(b"451 4.3.0", b"Temporary local problem, try again later", "no avatar")
        result = self._avatar.checkSender(self._heloPair(), sender)
        if not isinstance(result, bytes) and isinstance(result, Deferred):    # bytes first: see _handle
            return result.addCallback(self._senderAccepted, envelope)
        return self._senderAccepted(result, envelope)

    def _senderAccepted(self, ignored: object, envelope: Envelope) -> bytes:
        self._session.senderAccepted(envelope)
        return SENDER_OK

    def _rcpt(self, argument: bytes) -> Any:
        self._session.rcptTo()
        envelope = self._core.envelope
        assert envelope is not None and self._avatar is not None
        config = self.factory.config
        limit = config.max_recipients
        if limit and len(envelope.recipients) >= limit:
            # Postfix's smtpd_recipient_overshoot_limit: past it, each one counts as junk.
            self.factory.metrics.messageRejected("too_many_recipients")
            envelope.overshoot += 1
            if envelope.overshoot > config.recipient_overshoot_limit:
                return self._junk(TOO_MANY_RECIPIENTS)
            return TOO_MANY_RECIPIENTS
        address = parseRcptArguments(argument, envelope.utf8)
        result = self._avatar.checkRecipient(self._heloPair(), envelope.sender, address)
        if Deferred in type(result).__mro__:        # isinstance without ABCMeta's Python-level check
            return result.addCallback(self._recipientAccepted, address)
        self._session.recipientAccepted(address, result)
        return RECIPIENT_OK

    def _recipientAccepted(self, recipient: object, address: bytes) -> bytes:
        self._session.recipientAccepted(address, recipient)
        return RECIPIENT_OK

    def _data(self, argument: bytes) -> bytes:
        if argument:
            raise ProtocolError(b"501 5.5.4", b"Syntax: DATA takes no argument")
        envelope = self._session.data()
        config = self.factory.config
        writer = self._writer = MessageWriter(self._traceFields(envelope), self._beginDelivery(envelope))
        self._wire.readText(DataScanner(writer.write, config.max_message_size, config.bare_newline == "normalize"))
        return GO_AHEAD

    def _traceFields(self, envelope: Envelope) -> bytes:
        assert self._avatar is not None
        withProtocol = ("UTF8SMTP" if envelope.utf8 else "ESMTP") if self._core.extended else "SMTP"
        received = self._avatar.receivedField(self._heloPair(), envelope.sender, envelope.recipients,
                                              tlsDescription(self.transport) if self.secure else None,
                                              withProtocol)
        return b"Return-Path: <" + envelope.sender + b">\r\n" + received + b"\r\n"

    def _heloPair(self) -> tuple[bytes, bytes]:
        return (self._core.heloName or b"", self.peerHost.encode())

    def _beginDelivery(self, envelope: Envelope) -> Callable[[str], Any]:
        """C{begin(subject)} for the L{MessageWriter}: one message to every accepted recipient."""
        avatar, target = self._avatar, self.factory.target
        assert avatar is not None
        return lambda subject: avatar.beginMessage(target, envelope.sender, envelope.accepted, subject)

    def textReceived(self, scanner: DataScanner) -> None:
        """
        The end of the message text (from the wire): commit it, or answer
        why it is not kept.
        """
        writer, self._writer = self._writer, None
        assert writer is not None
        self._session.messageDone()
        if scanner.rejection is not None:
            writer.abort()
            countRejection(self.factory.metrics, scanner.rejection)
            self._commandReply(errorReply(scanner.rejection), False)
            return
        try:
            committed = writer.commit()
        except Exception as e:
            self._commandReply(self._replyFor(Failure(e)), False)
            return
        self._wire.replyPending()
        committed.addCallbacks(self._committed, self._asyncFailure, errbackArgs=(False,))

    def _committed(self, uids: list[str]) -> None:
        """
        The message is kept: C{250} with its first UID, answered straight
        from the store's Deferred (one callback per message, not a chain).
        """
        try:
            core = self._core
            core.junk = 0
            core.accepted += 1
            self.factory.metrics.messageAccepted()
            uid = uids[0] if uids else ""
            reply = b"250 2.0.0 OK queued as " + uid.encode("ascii", "replace")
        except Exception:
            reply = self._replyFor(Failure())
        self._asyncReply(reply, False)

    # TLS and AUTH.

    def _tlsOptions(self) -> Any:
        """
        The STARTTLS context factory, or L{None} if STARTTLS is off (or
        not ready yet: the suite loads it at start).
        """
        tls = self.factory.tls
        return None if tls is None else tls.options

    def _starttls(self, argument: bytes) -> None:
        if argument:
            raise ProtocolError(b"501 5.5.4", b"Syntax: STARTTLS takes no argument")
        if self.secure:
            raise ProtocolError(b"503 5.5.1", b"TLS already active")
        options = self._tlsOptions()
        if options is None or not ITLSTransport.providedBy(self.transport):
            raise ProtocolError(b"454 4.7.0", b"TLS not available", "STARTTLS off or transport cannot start TLS")
        self._session.startTLS()
        self._reply(b"220 2.0.0 Ready to start TLS")
        self._wire.discard()
        self.stopDirectWrites()
        self.transport.startTLS(options)
        self.secure = True
        self._authSession = self.factory.portal.session(self.peerHost, True, self.factory.role)
        self._useAnonymousAvatar()

    def discarded(self, count: int) -> None:
        """
        The wire dropped what the client pipelined after STARTTLS.
        """
        self.log.warn("Discarded {count} octets pipelined after STARTTLS from {peer}", count=count, peer=self.peerHost)

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
        exchange = self._session.response()
        assert isinstance(exchange, SASLExchange)
        try:
            step = exchange.respond(line.strip())
        except SASLError as e:
            raise saslFailure(e) from None
        return self._saslStep(exchange, step)

    def _saslStep(self, exchange: SASLExchange, step: Any) -> Any:
        if isinstance(step, Challenge):
            self._session.challenge(exchange)
            return b"334 " + base64.b64encode(step.data)
        credentials = UsernamePassword(step.username, step.password)
        d = self._authSession.login(credentials, IMessageDelivery)
        return d.addCallback(self._loginDone, step.username)

    def _loginDone(self, result: LoginResult, username: bytes) -> bytes | None:
        if result.outcome is LoginOutcome.SUCCEEDED:
            assert result.logout is not None
            if self._lifecycle.closing:
                result.logout()
                return None
            self._setAvatar(result.avatar, result.logout)
            user = getattr(result.avatar, "user", None) or username.decode("utf-8", "replace")
            self._session.authenticated(user)
            self.log.info("{peer} authenticated as {user}", peer=self.peerHost, user=user)
        reply, close = loginReply(result.outcome, self.factory.hostname)
        return Final(reply) if close else reply

    # XCLIENT (smtp/xclient.py): a trusted proxy names its real client.

    def _proxyTrusted(self) -> bool:
        proxy = self.factory.proxy
        return proxy is not None and bool(proxy.trusted) and proxy.isTrusted(peerHost(self.transport))

    def _xclient(self, argument: bytes) -> Any:
        if not self._proxyTrusted():
            raise ProtocolError(b"550 5.7.0", b"XCLIENT not authorized", "XCLIENT from an untrusted peer")
        facts = parseXclient(argument)
        login = facts.login
        self._session.restart(None)                 # NoTransition inside a transaction: 503
        proxy, self.peerHost = self.peerHost, facts.addr or self.peerHost
        self._authSession = self.factory.portal.session(self.peerHost, self.secure)
        self.log.info("XCLIENT from {proxy}: client {addr} ({name}), login {login}", proxy=proxy,
                      addr=self.peerHost, name=facts.name, login=login)
        greeting = b"220 " + self.factory.hostname + b" ESMTP twisted-mail-suite ready"
        if login is None:
            self._useAnonymousAvatar()
            return greeting

        def loggedIn(result: tuple[str, Any, Any]) -> bytes:
            user, avatar, logout = result
            self._setAvatar(avatar, logout)
            self._session.restart(user)
            return greeting

        self._setAvatar(None, None)
        return loginAvatar(self.factory.portal, login).addCallback(loggedIn)

    # The verb table: verb -> handler(self, argument).

    HANDLERS: dict[bytes, Callable[[SMTPServer, bytes], Any]] = {
        b"EHLO": _ehlo, b"HELO": _helo, b"MAIL": _mail, b"RCPT": _rcpt, b"DATA": _data, b"RSET": _rset,
        b"NOOP": _noop, b"QUIT": _quit, b"VRFY": _vrfy, b"HELP": _help, b"STARTTLS": _starttls, b"AUTH": _auth,
        b"XCLIENT": _xclient,
    }
