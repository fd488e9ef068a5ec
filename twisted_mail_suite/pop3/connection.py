# -*- test-case-name: tests.pop3.test_connection,tests.pop3.test_protocol -*-
"""
A POP3 connection without its verbs: its life on the connection chassis
(L{twisted_mail_suite.net}), its line framing and command queue, and the
pacing of what it sends.

  - Admission by the factory's L{ConnectionManager} (a refused connection
    is told why and closed, never counted), the idle timeout by the
    factory's shared L{IdleTracker}, and a L{Lifecycle} the graceful
    shutdown drives through L{IManagedConnection}.
  - Commands are handled strictly in order.  While work is in hand (a
    login check, a message being opened or sent, the UPDATE state's
    deletions), later commands wait in a queue (PIPELINING, RFC 2449);
    when the queue is long, the connection stops reading.
  - The connection is its transport's streaming producer for its whole
    life: when the transport's buffer is full it stops streaming a message
    and stops handling commands until the buffer drains, so neither a huge
    message nor a client that never reads makes the server hold more than
    a few chunks.
  - Closing (QUIT, the idle timeout, an error) gives the client
    L{CLOSE_GRACE} seconds to take what is still buffered; a client that
    does not read by then is aborted, so it cannot hold its connection
    slot (nor, through it, anything else) for ever.

L{twisted_mail_suite.pop3.protocol.POP3ServerProtocol} adds the verbs: it
turns each line into a session input (L{POP3Connection.lineReceived}) and
performs what the session answers.
"""
from __future__ import annotations

import typing
from collections import deque
from typing import Any

from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IPushProducer
from twisted.internet.protocol import Protocol
from twisted.logger import Logger
from twisted.python.failure import Failure
from zope.interface import implementer

from ..net.admission import Refusal
from ..net.idle import IdleTracker
from ..net.lifecycle import AdmittedProducer, ConnectionManager, IManagedConnection, Lifecycle, Phase
from .stream import MessageReader

__all__ = [
    "CLOSE_GRACE", "INACTIVE", "MAX_LINE", "MAX_QUEUED_LINES", "POP3Connection", "POP3Shared", "REFUSALS",
    "SHUTTING_DOWN", "TOO_MANY",
]

MAX_LINE = 8192          # RFC 2449 says 255 for commands; SASL responses may be longer
MAX_QUEUED_LINES = 256   # pipelined commands held before we stop reading
CLOSE_GRACE = 30.0       # seconds a closing connection has to take its last bytes, then it is aborted

TOO_MANY = b"-ERR [SYS/TEMP] Too many connections, try again later.\r\n"
SHUTTING_DOWN = b"-ERR [SYS/TEMP] Server shutting down.\r\n"
INACTIVE = b"-ERR Disconnected for inactivity.\r\n"
LINE_TOO_LONG = b"-ERR Line too long.\r\n"

# why a connection was not admitted -> (reply, for the log)
REFUSALS: dict[Refusal, tuple[bytes, str]] = {
    Refusal.BUSY: (TOO_MANY, "too many connections"),
    Refusal.ADDRESS: (TOO_MANY, "too many connections"),
    Refusal.DRAINING: (SHUTTING_DOWN, "shutting down"),
}


class POP3Shared(typing.Protocol):
    """
    What the connections of one factory share: the factory
    (L{twisted_mail_suite.pop3.factory.POP3Factory}) as a connection sees
    it.
    """

    hostname: bytes                # for the greeting and the APOP timestamp
    portal: Any                    # L{twisted_mail_suite.identity.realm.MailSuitePortal}
    tls: Any                       # C{.options}: for STLS; L{None} before start or without STARTTLS
    manager: ConnectionManager     # admission and the graceful drain
    idle: IdleTracker              # the idle timeout and the close grace; expire by calling C{idleExpired()}
    config: Any                    # the C{pop3} section (C{max_bad_commands}, C{apop})
    role: str                      # the listener role, its logins' name in the metrics

    def apopOffered(self) -> bool:
        """
        Does the greeting carry an APOP timestamp?
        """


@implementer(IPushProducer, IManagedConnection)
class POP3Connection(AdmittedProducer, Protocol):
    """
    One POP3 connection's life, framing and pacing; subclasses handle
    each line in L{lineReceived}.

    @ivar peer: the client's address (L{peerHost <twisted_mail_suite.net.transport.peerHost>}).
    """

    log = Logger()
    REFUSALS = REFUSALS
    PROTOCOL = "POP3"

    # Slots and no instance dict: an idle connection costs as little as it can.
    __slots__ = (
        "factory", "transport", "connected", "peer", "_lifecycle", "_ticket", "_buffer",
        "_lines", "_processing", "_waiting", "_reader", "_paused", "_readingPaused", "_user",
    )

    def __init__(self, factory: POP3Shared) -> None:
        self.factory = factory
        self.transport: Any = None
        self.connected = 0
        self.peer = ""
        self._lifecycle = Lifecycle()
        self._ticket: Any = None              # None: refused (or not yet admitted)
        self._buffer = b""
        self._lines: deque[bytes] | None = None   # commands waiting; made when needed
        self._processing = False
        self._waiting = False                 # a login, maildrop load, message open or update is under way
        self._reader: MessageReader | None = None   # the message being sent
        self._paused = False                  # the transport asked us to stop writing
        self._readingPaused = False
        self._user = ""                       # the login name given, for the log

    # Subclass interface

    def lineReceived(self, line: bytes) -> None:
        """
        Handle one command line (without its line end), when the previous
        one is done.
        """
        raise NotImplementedError()

    def _startWork(self) -> None:
        """
        Work the shutdown lets finish has started: later commands wait.
        """
        self._waiting = True
        self._lifecycle.busy()

    def _endWork(self) -> None:
        """
        The work in hand is done (the caller goes on with L{_processQueue}).
        """
        self._waiting = False
        self._lifecycle.idle()

    def _stream(self, first: bytes, reader: MessageReader) -> None:
        """
        Write C{first} (the status line and the first piece), then the
        rest of C{reader} as fast as the transport takes it.
        """
        self.transport.write(first)
        if not reader.done:
            self._reader = reader
            self._lifecycle.busy()
            self._pump()

    # Connection life

    def connectionLost(self, reason: Failure | None = None) -> None:
        self._lines = None
        reader, self._reader = self._reader, None
        if reader is not None:
            reader.close()
        self._lifecycle.lost()                  # fires whenGone (the shutdown's Deferreds)
        ticket, self._ticket = self._ticket, None
        if ticket is not None:
            self.factory.idle.forget(self)
            ticket.release()

    def shutdown(self) -> Deferred[None]:
        """
        The server is stopping (L{IManagedConnection}): finish the message
        being sent, or the login or UPDATE under way, then say so and
        close.  Deletions marked in a session that did not QUIT are not
        applied.

        @return: a Deferred firing once the connection is gone.
        """
        gone = self._lifecycle.whenGone()
        self._lifecycle.drain()
        self._processQueue()                    # says goodbye once nothing is in hand
        return gone

    def abandon(self) -> None:
        """
        The shutdown timeout passed with this connection still busy
        (L{IManagedConnection}): abort it now; nothing marked for deletion
        is deleted.
        """
        self.log.warn("POP3 connection from {peer} aborted at shutdown", peer=self.peer)
        self._lifecycle.close()
        self.factory.idle.forget(self)
        self.transport.abortConnection()

    def idleExpired(self) -> None:
        """
        Nothing came from the client for the idle timeout (called by the
        factory's L{IdleTracker}): say why, unless in the middle of a
        message, and close.  A connection already closing has not taken
        its last bytes within L{CLOSE_GRACE}: abort it.
        """
        if self._lifecycle.phase is Phase.CLOSING:
            self.log.info("POP3 client {peer} did not read its last reply, aborted", peer=self.peer)
            self.transport.abortConnection()
            return
        self.log.info("POP3 client {peer} idle for {seconds}s, disconnected",
                      peer=self.peer, seconds=int(self.factory.idle.timeout))
        if self._reader is None:
            self.transport.write(INACTIVE)
        self._close()

    def _close(self) -> None:
        """
        Close once what was written is sent (the first call only), or abort
        after L{CLOSE_GRACE} seconds if the client does not take it.
        """
        if not self._lifecycle.close():
            return
        self._lines = None
        reader, self._reader = self._reader, None
        if reader is not None:
            reader.close()
        self.factory.idle.closeWithin(self, self.transport, CLOSE_GRACE)     # then idleExpired aborts

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
        reader, self._reader = self._reader, None
        if reader is not None:
            reader.close()

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
                self._lifecycle.idle()
            self.factory.idle.touch(self)
            self.transport.write(chunk)
            reader = self._reader
        if self._reader is None:
            self._processQueue()

    # Input

    def dataReceived(self, data: bytes) -> None:
        phase = self._lifecycle.phase
        if phase is Phase.CLOSING or phase is Phase.GONE:
            return
        self.factory.idle.touch(self)
        if self._buffer:
            data = self._buffer + data
        lines = data.split(b"\n")
        self._buffer = lines.pop()
        if lines:
            queue = self._lines
            if queue is None:
                queue = self._lines = deque()
            for line in lines:
                if len(line) > MAX_LINE:
                    self._lineTooLong()
                    return
                queue.append(line[:-1] if line.endswith(b"\r") else line)
        if len(self._buffer) > MAX_LINE:
            self._lineTooLong()
            return
        self._processQueue()

    def _lineTooLong(self) -> None:
        self._buffer = b""
        self._lines = None
        self.log.info("POP3 client {peer} sent an over-long line", peer=self.peer)
        if self._reader is None:
            self.transport.write(LINE_TOO_LONG)
        self._close()

    def _discardInput(self) -> None:
        """
        Forget what the client sent and was not handled yet (STLS).
        """
        if self._lines:
            self._lines.clear()
        self._buffer = b""

    def _busy(self) -> bool:
        return self._waiting or self._reader is not None or self._paused or self._lifecycle.closing

    def _processQueue(self) -> None:
        """
        Handle the waiting lines until one starts work; then say goodbye if
        a shutdown waits for nothing more, and pace reading by the queue.
        """
        if self._processing:
            return
        self._processing = True
        lifecycle = self._lifecycle
        try:
            # not busy (nothing in hand, the transport not full) and serving
            while not (self._waiting or self._reader is not None or self._paused) \
                    and (lifecycle.phase is Phase.OPEN or lifecycle.phase is Phase.BUSY):
                lines = self._lines
                if not lines:
                    break
                self.lineReceived(lines.popleft())
        finally:
            self._processing = False
        phase = lifecycle.phase
        if phase is Phase.GONE:
            return
        if phase is Phase.DRAINING and not self._busy():
            self.transport.write(SHUTTING_DOWN)
            self._close()
            return
        lines = self._lines
        queued = len(lines) if lines is not None else 0
        if queued >= MAX_QUEUED_LINES and not self._readingPaused:
            self._readingPaused = True
            self.transport.pauseProducing()
        elif queued < MAX_QUEUED_LINES // 2 and self._readingPaused:
            self._readingPaused = False
            self.transport.resumeProducing()
        if lines is not None and not queued:
            self._lines = None                  # an idle connection holds no queue
