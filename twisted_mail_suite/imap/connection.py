# -*- test-case-name: tests.imap.test_connection -*-
"""
An IMAP connection without its commands: its life on the connection
chassis (L{twisted_mail_suite.net}), its command reader, and the running
of one command at a time.

  - Admission by the factory's L{ConnectionManager} (a refused connection
    gets C{* BYE} and is closed, never counted), the idle timeout by the
    factory's shared L{IdleTracker}, a L{Lifecycle} the graceful shutdown
    drives through L{IManagedConnection}.
  - Bytes go into a L{CommandReader}; events are taken from it only while
    no command runs, so a command that changes how the next line is read
    (AUTHENTICATE, IDLE) does so before it is read.  When the client sends
    more than L{MAX_BUFFERED} octets ahead, the connection stops reading.
  - A command runs as a generator (its handler) that yields what to send
    (C{bytes}, at most a chunk at a time), a C{Deferred} to wait for (a
    password check, a folder operation: one that has already fired resumes
    the handler at once, without a reactor turn or deeper recursion, and
    one fired with a value is taken as it is, without a callback: a
    Maildir folder's open of every message FETCH reads is one) or L{RAW_LINE} (the next line, unparsed: a SASL
    response, IDLE's C{DONE}), and returns its tagged status.  The
    connection is its transport's streaming producer: while the transport's
    buffer is full the generator is not resumed, so a FETCH of a large
    mailbox for a client that does not read holds one chunk, not the
    mailbox.

L{twisted_mail_suite.imap.protocol.IMAPServerProtocol} adds the commands.
"""
from __future__ import annotations

import typing
from typing import Any, Generator

from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IPushProducer
from twisted.internet.protocol import Protocol
from twisted.logger import Logger
from twisted.python.failure import Failure
from zope.interface import implementer

from ..net.admission import Refusal
from ..net.idle import IdleTracker
from ..net.lifecycle import AdmittedProducer, ConnectionManager, IManagedConnection, Lifecycle, Phase
from .grammar import SyntaxError_
from .parser import CommandReader, Complete, Continue, RawLine, Refusal as ReadRefusal
from .responses import IMAPError

__all__ = ["IMAPConnection", "IMAPShared", "RAW_LINE", "Handler", "MAX_BUFFERED", "REFUSALS"]

MAX_BUFFERED = 256 * 1024      # octets read ahead of the command being run
CONTINUE = b"+ Ready for literal data\r\n"
SHUTTING_DOWN = b"* BYE [UNAVAILABLE] Server shutting down.\r\n"
INACTIVE = b"* BYE Disconnected for inactivity.\r\n"
SERVER_BUG = b"NO [SERVERBUG] Internal error, try again later."

REFUSALS: dict[Refusal, tuple[bytes, str]] = {
    Refusal.BUSY: (b"* BYE [LIMIT] Too many connections, try again later.\r\n", "too many connections"),
    Refusal.ADDRESS: (b"* BYE [LIMIT] Too many connections from your address.\r\n", "too many from address"),
    Refusal.DRAINING: (SHUTTING_DOWN, "shutting down"),
}


class _RawLine:
    def __repr__(self) -> str:
        return "RAW_LINE"


RAW_LINE: Any = _RawLine()
"""
Yielded by a handler: resume me with the next line, unparsed.
"""

Handler = Generator[Any, Any, bytes]
_WAITING = object()


class IMAPShared(typing.Protocol):
    """
    What the connections of one factory share (the factory as a
    connection sees it).
    """

    hostname: bytes
    portal: Any
    tls: Any
    config: Any
    manager: ConnectionManager
    idle: IdleTracker
    role: str          # the listener role, its logins' name in the metrics


@implementer(IPushProducer, IManagedConnection)
class IMAPConnection(AdmittedProducer, Protocol):
    """
    One IMAP connection's life, reading and command running; subclasses
    handle commands in L{commandReceived}.
    """

    log = Logger()
    REFUSALS = REFUSALS
    PROTOCOL = "IMAP"

    __slots__ = ("factory", "transport", "connected", "peer", "_lifecycle", "_ticket", "_reader", "_running",
                 "_tag", "_waiting", "_rawWanted", "_paused", "_readingPaused", "_processing", "_user")

    def __init__(self, factory: IMAPShared) -> None:
        self.factory = factory
        self.transport: Any = None
        self.connected = 0
        self.peer = ""
        self._lifecycle = Lifecycle()
        self._ticket: Any = None
        config = factory.config
        self._reader = CommandReader(config.max_line_length, config.max_literal_size)
        self._running: Handler | None = None
        self._tag = b"*"
        self._waiting = False          # the running command waits for a Deferred
        self._rawWanted = False        # the running command waits for a raw line
        self._paused = False           # the transport's buffer is full
        self._readingPaused = False
        self._processing = False
        self._user = ""

    # Subclass interface

    def commandReceived(self, pieces: tuple[bytes, ...]) -> None:
        """
        Handle one whole command (start it with L{run}, or reply at once).
        """
        raise NotImplementedError()

    def refusalReceived(self, refusal: ReadRefusal) -> None:
        """
        A command was refused by the reader (too long, literal too large).
        """
        raise NotImplementedError()

    def commandFinished(self, tag: bytes, status: bytes) -> None:
        """
        A command ended with C{status} (after its tagged line was sent).
        """

    @property
    def tag(self) -> bytes:
        """
        The tag of the command running now.
        """
        return self._tag

    # Running commands

    def run(self, tag: bytes, handler: Handler) -> None:
        """
        Run C{handler} for the command tagged C{tag} until it returns.
        """
        self._running = handler
        self._tag = tag
        self._lifecycle.busy()
        self._step(None, None)

    def _step(self, value: Any, failure: Failure | None) -> None:
        handler = self._running
        while handler is not None:
            try:
                if failure is not None:
                    item = failure.throwExceptionIntoGenerator(handler)
                else:
                    item = handler.send(value)
            except StopIteration as e:
                self._finish(e.value or b"OK Completed.")
                return
            except IMAPError as e:
                self.log.info("IMAP {command} from {peer}: {status} {reason}", command=self._tag, peer=self.peer,
                              status=e.line(), reason=e.reason)
                self._finish(e.line())
                return
            except SyntaxError_ as e:
                self._finish(b"BAD " + e.text.encode("ascii", "replace"))
                return
            except Exception:
                self.log.failure("IMAP command from {peer} failed", peer=self.peer)
                self._finish(SERVER_BUG)
                return
            value = failure = None
            if isinstance(item, bytes):
                if item:
                    self.transport.write(item)
                if self._paused or self._lifecycle.closing:
                    return                            # resumeProducing goes on
                continue
            if item is RAW_LINE:
                self._rawWanted = True
                self._reader.readRawLine()
                if self._lifecycle.idle():            # waiting on the client is not work in hand
                    self._goodbye(SHUTTING_DOWN)
                    return
                self._processQueue()
                return
            if isinstance(item, Deferred):
                if item.called and not item.paused:
                    result = item.result
                    if not isinstance(result, (Failure, Deferred)):   # fired with a value: go on, no callback
                        value = result
                        continue
                box: list[Any] = []
                item.addBoth(self._settled, box)
                if box:                           # fired already (a Maildir folder's succeed()): go on here
                    if isinstance(box[0], Failure):
                        failure = box[0]
                    else:
                        value = box[0]
                    continue
                box.append(_WAITING)
                self._waiting = True
                self.factory.idle.pause(self)
                return
            raise TypeError(f"a handler yielded {item!r}")

    def _settled(self, result: Any, box: list[Any]) -> None:
        if box:                                   # it fired later: resume the handler now
            self._resumed(result)
        else:
            box.append(result)

    def _resumed(self, result: Any) -> None:
        self._waiting = False
        if self._lifecycle.phase is Phase.GONE:
            self._closeHandler()
            return
        self.factory.idle.touch(self)
        if isinstance(result, Failure):
            self._step(None, result)
        else:
            self._step(result, None)
        self._processQueue()

    def _finish(self, status: bytes) -> None:
        tag, self._tag = self._tag, b"*"
        self._running = None
        self._rawWanted = False
        if self._lifecycle.closing:
            return
        self.transport.write(tag + b" " + status + b"\r\n")
        self.commandFinished(tag, status)
        if self._lifecycle.idle() and not self._lifecycle.closing:
            self._goodbye(SHUTTING_DOWN)
        else:
            self._processQueue()

    def _closeHandler(self) -> None:
        handler, self._running = self._running, None
        if handler is not None:
            try:
                handler.close()
            except Exception:
                self.log.failure("Closing an IMAP command of {peer} failed", peer=self.peer)

    # Input

    def dataReceived(self, data: bytes) -> None:
        if self._lifecycle.closing:
            return
        self.factory.idle.touch(self)
        self._reader.feed(data)
        self._processQueue()

    def _processQueue(self) -> None:
        """
        Take events from the reader while no command runs (or the running
        one waits for a raw line); then pace reading.
        """
        if self._processing:
            return
        self._processing = True
        lifecycle = self._lifecycle
        reader = self._reader
        try:
            while (self._running is None or self._rawWanted) and not self._paused \
                    and (lifecycle.phase is Phase.OPEN or lifecycle.phase is Phase.BUSY
                         or (self._rawWanted and lifecycle.phase is Phase.DRAINING)):
                event = reader.next()
                if event is None:
                    break
                if isinstance(event, Complete):
                    self.commandReceived(event.pieces)
                elif isinstance(event, RawLine):
                    if self._rawWanted:
                        self._rawWanted = False
                        self._lifecycle.busy()
                        self._step(event.line, None)
                elif isinstance(event, Continue):
                    self.transport.write(CONTINUE)
                else:
                    self.refusalReceived(event)
        finally:
            self._processing = False
        if lifecycle.closing:
            return
        buffered = reader.buffered
        if buffered > MAX_BUFFERED and not self._readingPaused:
            self._readingPaused = True
            self.transport.pauseProducing()
        elif buffered <= MAX_BUFFERED // 2 and self._readingPaused:
            self._readingPaused = False
            self.transport.resumeProducing()

    def discardInput(self) -> None:
        """
        Forget what was received and not handled (STARTTLS).
        """
        self._reader.discard()

    # IPushProducer: the transport's buffer is full / drained.

    def pauseProducing(self) -> None:
        self._paused = True

    def resumeProducing(self) -> None:
        self._paused = False
        if self._running is not None and not self._waiting and not self._rawWanted:
            self._step(None, None)
        self.outputResumed()
        self._processQueue()

    def stopProducing(self) -> None:
        self._paused = True

    def outputResumed(self) -> None:
        """
        The transport drained (a subclass may have held notices back).
        """

    # Connection life

    def connectionLost(self, reason: Failure | None = None) -> None:
        self._closeHandler()
        self._lifecycle.lost()
        ticket, self._ticket = self._ticket, None
        if ticket is not None:
            self.factory.idle.forget(self)
            ticket.release()

    def _goodbye(self, line: bytes) -> None:
        """
        Say C{line} (a C{* BYE}) and close, once.
        """
        if not self._lifecycle.close():
            return
        self.factory.idle.forget(self)
        self.transport.write(line)
        self.transport.unregisterProducer()
        self.transport.loseConnection()

    def shutdown(self) -> Deferred[None]:
        """
        The server is stopping (L{IManagedConnection}): finish the command
        in hand, then say BYE and close.  A client in IDLE is told at once.
        """
        gone = self._lifecycle.whenGone()
        if self._lifecycle.drain():
            self._goodbye(SHUTTING_DOWN)
        return gone

    def abandon(self) -> None:
        """
        The shutdown timeout passed with a command still running: drop it.
        """
        self.log.warn("IMAP connection from {peer} aborted at shutdown", peer=self.peer)
        self._closeHandler()
        self._lifecycle.close()
        self.factory.idle.forget(self)
        self.transport.abortConnection()

    def idleExpired(self) -> None:
        """
        Nothing came from the client for the idle timeout.
        """
        self.log.info("IMAP client {peer} idle for {seconds}s, disconnected",
                      peer=self.peer, seconds=int(self.factory.idle.timeout))
        self._closeHandler()
        self._goodbye(INACTIVE)
