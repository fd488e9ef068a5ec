# -*- test-case-name: tests.relay.test_client -*-
"""
The SMTP client's I/O: L{SMTPClient}, one connection, which sends
commands (several at once when the server offers PIPELINING), matches
replies to them in order, streams the message text under flow control and
enforces the RFC 5321 §4.5.3.2 timeouts; L{handshake} (greeting, EHLO or
HELO, STARTTLS, AUTH PLAIN/LOGIN) and L{sendMessage} (one transaction,
with RSET before a reused connection's next message) drive it.  The
decisions are L{twisted_mail_suite.relay.session}'s.

Why not Twisted's C{ESMTPSenderFactory}: measured in
C{tests/relay/test_client.py} (C{TwistedClientTests}), it sends MAIL, RCPT
and DATA one round trip each even when the server offers PIPELINING,
never declares C{SIZE=}, C{BODY=8BITMIME} or C{SMTPUTF8}, has one timeout
for every phase, and delivers one message per connection.
"""
from __future__ import annotations

import base64
from collections import deque
from dataclasses import dataclass
from typing import Any, Callable, Generator, Iterator

from twisted.internet.defer import Deferred, inlineCallbacks
from twisted.internet.interfaces import IPushProducer
from twisted.internet.protocol import Protocol
from twisted.python.failure import Failure
from zope.interface import implementer

from .entry import FAILED
from .session import BadReply, Capabilities, Reply, ReplyParser, Transaction, authPlain, dotStuffed, \
    mailCommand, rcptCommand

__all__ = ["Timeouts", "SMTPClient", "ClientError", "handshake", "sendMessage"]


@dataclass(frozen=True)
class Timeouts:
    """
    Seconds to wait for each reply (RFC 5321 §4.5.3.2) and to connect.
    """

    connect: float = 30.0
    greeting: float = 300.0
    command: float = 300.0         # EHLO, STARTTLS, AUTH, MAIL, RCPT, RSET
    dataStart: float = 120.0       # the 354 after DATA
    dataBlock: float = 180.0       # between two writes of the text
    dataEnd: float = 600.0         # the reply after the final dot
    quit: float = 10.0


class ClientError(Exception):
    """
    The connection cannot be used (refused greeting, no TLS where TLS is
    required, AUTH refused, a timeout, garbage, a lost connection): every
    recipient of the transaction in hand is deferred, or failed if
    C{permanent}.
    """

    def __init__(self, reason: str, permanent: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.permanent = permanent


@implementer(IPushProducer)
class SMTPClient(Protocol):
    """
    One connection to one server.

    @ivar greeting: fires with the greeting L{Reply}.
    @ivar capabilities: from the last EHLO.
    @ivar usable: no error and no unanswered command: may take another message.
    @ivar needsReset: the last transaction did not end cleanly: RSET first.
    @ivar remoteHost: C{name[address]}, for the log and the DSN.
    """

    def __init__(self, clock: Any, timeouts: Timeouts, remoteHost: str = "") -> None:
        self.clock = clock
        self.timeouts = timeouts
        self.remoteHost = remoteHost
        self.capabilities = Capabilities()
        self.secure = False
        self.usable = True
        self.needsReset = False
        self.messages = 0
        self._parser = ReplyParser()
        self._waiting: deque[tuple[Deferred, float]] = deque()
        self._timer: Any = None
        self._error: ClientError | None = None
        self._lost: list[Deferred] = []
        self._text: Iterator[bytes] | None = None
        self._paused = False
        self._textDone: Deferred | None = None
        self._gone = False
        self.greeting: Deferred = Deferred()
        self._waiting.append((self.greeting, timeouts.greeting))    # its timer starts at connectionMade

    def connectionMade(self) -> None:
        if self._waiting:
            self._arm(self._waiting[0][1])

    # Replies

    def _expect(self, timeout: float) -> Deferred:
        d: Deferred = Deferred()
        if self._error is not None:
            d.errback(self._error)
            return d
        self._waiting.append((d, timeout))
        if len(self._waiting) == 1:
            self._arm(timeout)
        return d

    def _arm(self, timeout: float) -> None:
        if self._timer is not None and self._timer.active():
            self._timer.reset(timeout)
        else:
            self._timer = self.clock.callLater(timeout, self._timedOut)

    def _disarm(self) -> None:
        if self._timer is not None and self._timer.active():
            self._timer.cancel()
        self._timer = None

    def dataReceived(self, data: bytes) -> None:
        if self._error is not None:
            return
        try:
            replies = self._parser.feed(data)
        except BadReply as e:
            self._fail(ClientError(f"protocol error: {e}"))
            return
        for reply in replies:
            if not self._waiting:
                self._fail(ClientError(f"protocol error: unexpected reply {reply.text[:80]}"))
                return
            d, _ = self._waiting.popleft()
            if self._waiting:
                self._arm(self._waiting[0][1])
            elif self._textDone is None:
                self._disarm()
            d.callback(reply)

    def _timedOut(self) -> None:
        self._timer = None
        self._fail(ClientError("conversation timed out"))

    def _fail(self, error: ClientError) -> None:
        """
        The connection is done for: every waiting command fails with C{error}.
        """
        if self._error is None:
            self._error = error
        self.usable = False
        self._disarm()
        waiting, self._waiting = self._waiting, deque()
        if self.transport is not None and not self._gone:
            self.transport.abortConnection()
        if self._textDone is not None:
            done, self._textDone = self._textDone, None
            done.errback(self._error)
        for d, _ in waiting:
            d.errback(self._error)

    def connectionLost(self, reason: Failure = None) -> None:  # type: ignore[assignment]
        message = reason.getErrorMessage() if reason is not None else "connection lost"
        self._gone = True
        self._fail(ClientError(f"lost connection: {message}"))
        lost, self._lost = self._lost, []
        for d in lost:
            d.callback(None)

    def whenLost(self) -> Deferred:
        d: Deferred = Deferred()
        if self._gone:
            d.callback(None)
        else:
            self._lost.append(d)
        return d

    # Commands

    def command(self, line: bytes, timeout: float | None = None) -> Deferred:
        """
        Send one command line; the Deferred fires with its L{Reply}.
        """
        return self.pipeline([(line, timeout)])[0]

    def pipeline(self, commands: list[tuple[bytes, float | None]]) -> list[Deferred]:
        """
        Send several command lines in one write; one Deferred per reply.
        """
        if self._error is None:
            self.transport.write(b"".join(line + b"\r\n" for line, _ in commands))
        return [self._expect(self.timeouts.command if timeout is None else timeout) for _, timeout in commands]

    def startTLS(self, options: Any) -> None:
        self.transport.startTLS(options)
        self.secure = True

    # The text, under flow control (IPushProducer)

    def sendText(self, chunks: Iterator[bytes]) -> Deferred:
        """
        Write the (already dot-stuffed) text; the Deferred fires with the
        reply to its end.
        """
        self._text = chunks
        self._textDone = Deferred()
        done = self._textDone
        self.transport.registerProducer(self, True)
        self._arm(self.timeouts.dataBlock)
        self.resumeProducing()
        return done

    def pauseProducing(self) -> None:
        self._paused = True

    def resumeProducing(self) -> None:
        self._paused = False
        while not self._paused and self._text is not None and self._error is None:
            try:
                chunk = next(self._text)
            except StopIteration:
                self._text = None
                self.transport.unregisterProducer()
                done, self._textDone = self._textDone, None
                self._expect(self.timeouts.dataEnd).chainDeferred(done)  # type: ignore[union-attr]
                return
            except Exception as e:
                self._text = None
                self._fail(ClientError(f"cannot read the queued message: {e}"))
                return
            self.transport.write(chunk)
            self._arm(self.timeouts.dataBlock)

    def stopProducing(self) -> None:
        self._text = None

    def quit(self) -> Deferred:
        """
        Say QUIT and close (whatever the answer); fires when closed.
        """
        gone = self.whenLost()
        if self._error is None:
            self.usable = False
            self.command(b"QUIT", self.timeouts.quit).addBoth(lambda _: self.transport.loseConnection())
        return gone


def _check(reply: Reply, expected: Callable[[Reply], bool], what: str) -> Reply:
    if not expected(reply):
        raise ClientError(f"{what}: {reply.text}", permanent=False)
    return reply


@inlineCallbacks
def handshake(client: SMTPClient, heloName: bytes, tlsOptions: Any = None, requireTLS: bool = False,
              credentials: tuple[str, str] | None = None) -> Generator[Deferred, Any, Capabilities]:
    """
    Greeting, EHLO (HELO if EHLO is refused), STARTTLS when offered and
    C{tlsOptions} is given (required if C{requireTLS}), AUTH if
    C{credentials} (PLAIN, else LOGIN).

    @raise ClientError: the connection is not usable.
    """
    greeting = yield client.greeting
    _check(greeting, lambda r: r.code == 220, "greeting")
    yield _hello(client, heloName)
    if tlsOptions is not None and not client.secure:
        if client.capabilities.has(b"STARTTLS"):
            reply = yield client.command(b"STARTTLS")
            if reply.code == 220:
                client.startTLS(tlsOptions)
                yield _hello(client, heloName)
            elif requireTLS:
                raise ClientError(f"STARTTLS: {reply.text}")
        elif requireTLS:
            raise ClientError("TLS is required but the server does not offer STARTTLS")
    if credentials is not None:
        yield _authenticate(client, credentials)
    return client.capabilities


@inlineCallbacks
def _hello(client: SMTPClient, heloName: bytes) -> Generator[Deferred, Any, None]:
    reply = yield client.command(b"EHLO " + heloName)
    if reply.code == 250:
        client.capabilities = Capabilities.fromReply(reply)
        return
    reply = yield client.command(b"HELO " + heloName)
    _check(reply, lambda r: r.code == 250, "HELO")
    client.capabilities = Capabilities()


@inlineCallbacks
def _authenticate(client: SMTPClient, credentials: tuple[str, str]) -> Generator[Deferred, Any, None]:
    username, password = credentials
    mechanisms = client.capabilities.authMechanisms
    if b"PLAIN" in mechanisms:
        reply = yield client.command(authPlain(username, password))
    elif b"LOGIN" in mechanisms:
        reply = yield client.command(b"AUTH LOGIN")
        _check(reply, lambda r: r.code == 334, "AUTH LOGIN")
        reply = yield client.command(base64.b64encode(username.encode("utf-8")))
        _check(reply, lambda r: r.code == 334, "AUTH LOGIN")
        reply = yield client.command(base64.b64encode(password.encode("utf-8")))
    else:
        raise ClientError("the server offers neither AUTH PLAIN nor AUTH LOGIN")
    _check(reply, lambda r: r.code == 235, "AUTH")


@inlineCallbacks
def sendMessage(client: SMTPClient, transaction: Transaction, size: int, text: Callable[[], Iterator[bytes]],
                eightBit: bool = False, utf8: bool = False) -> Generator[Deferred, Any, Transaction]:
    """
    One transaction on a ready connection.  Refusals settle the
    recipients in C{transaction}; a broken connection raises
    L{ClientError} (the caller defers whoever is not settled).
    """
    capabilities = client.capabilities
    limit = capabilities.sizeLimit
    host = client.remoteHost
    if limit and size > limit:
        transaction.refuseAll(FAILED, f"552 5.3.4 message size {size} exceeds the limit {limit} of {host}")
    elif utf8 and not capabilities.has(b"SMTPUTF8"):
        transaction.refuseAll(FAILED, f"553 5.6.7 {host} does not support SMTPUTF8, which the message needs")
    elif eightBit and not capabilities.has(b"8BITMIME"):
        transaction.refuseAll(FAILED, f"554 5.6.3 {host} does not support 8BITMIME, which the message needs")
    recipients = transaction.recipients
    while recipients and not transaction.settled:
        yield _round(client, transaction, recipients, size, text, eightBit, utf8)
        recipients = transaction.nextRound()
    return transaction


@inlineCallbacks
def _round(client: SMTPClient, transaction: Transaction, recipients: list[str], size: int,
           text: Callable[[], Iterator[bytes]], eightBit: bool, utf8: bool) -> Generator[Deferred, Any, None]:
    """
    One MAIL/RCPT/DATA exchange for C{recipients} of C{transaction}.
    """
    capabilities = client.capabilities
    if client.needsReset:
        yield client.command(b"RSET").addCallback(_check, lambda r: r.code == 250, "RSET")
        client.needsReset = False
    client.needsReset = True
    client.messages += 1
    mail = mailCommand(transaction.sender, size, capabilities, eightBit, utf8)
    if capabilities.has(b"PIPELINING"):
        replies = client.pipeline([(mail, None)] + [(rcptCommand(r), None) for r in recipients]
                                  + [(b"DATA", client.timeouts.dataStart)])
        goOn = transaction.mailReply((yield replies[0]))
        for address, reply in zip(recipients, replies[1:-1]):
            transaction.rcptReply(address, (yield reply))
        dataReply = yield replies[-1]
        if not goOn:
            transaction.accepted.clear()
    else:
        mailReply = yield client.command(mail)
        if not transaction.mailReply(mailReply):
            return
        for address in recipients:
            transaction.rcptReply(address, (yield client.command(rcptCommand(address))))
        if not transaction.accepted:
            return
        dataReply = yield client.command(b"DATA", client.timeouts.dataStart)
    if transaction.dataReply(dataReply):
        transaction.endReply((yield client.sendText(dotStuffed(text()))))
        client.needsReset = False
    elif dataReply.code == 354:
        yield client.sendText(iter([b".\r\n"]))     # nobody accepted: end the empty text at once
