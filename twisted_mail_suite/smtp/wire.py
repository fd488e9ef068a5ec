# -*- test-case-name: tests.smtp.test_wire,tests.smtp.test_backpressure -*-
"""
SMTP's wire framing, the reading side of one connection: bytes in, command
lines and message texts out, in order.

  - B{Lines}: the input is cut at LF; a line must end in CRLF and hold no
    other CR (else L{WireReceiver.badLine}); a line longer than the limit
    is reported once (L{WireReceiver.longLine}) and skipped up to its LF.
  - B{DATA}: after the protocol's L{SMTPWire.readText}, the input goes to
    the L{DataScanner} until the end of the text, then
    L{WireReceiver.textReceived}; what follows the end is commands again.
  - B{Pipelining} (RFC 2920): while a reply is pending
    (L{SMTPWire.replyPending}, a step waiting for a Deferred) the lines
    that follow stay buffered; the protocol calls L{SMTPWire.replied}, then
    L{SMTPWire.process} once the reply is out, so replies always go out in
    command order.
  - B{Output backpressure}: while the transport holds more output than it
    wants (the protocol, its producer, was paused: L{SMTPWire.holdInput})
    no further line or text is handled and reading pauses, until the
    client takes its replies (L{SMTPWire.releaseInput}).  A client that
    pipelines without reading therefore costs at most the transport's
    high-water mark of replies plus one read of input; the idle timeout
    still runs.
  - B{Reading stalls}: reading pauses while more than L{PAUSE_BUFFER}
    octets wait behind a pending reply, and resumes after it.

Whether a line may be handled is one attribute, L{SMTPWire.waiting}
(a reply is pending or the input is held), checked once per line as
before: backpressure adds no work per line.

After each run of input the wire settles the connection's chassis state
once (not per line): the L{Lifecycle} is C{BUSY} while a text is being
read or a reply is pending (work a shutdown lets finish) and goes back to
C{OPEN} after, or, when draining, asks the protocol to say goodbye
(L{WireReceiver.drained}); the L{IdleTracker} times the connection with
the command timeout, or the DATA timeout inside a text, and not at all
while a reply is pending.

Closing the connection (any goodbye, C{connectionLost}) goes through
L{SMTPWire.stop}, which drops the input: nothing more is read.
"""
from __future__ import annotations

from typing import Any, Protocol

from ..net.idle import IdleTracker
from ..net.lifecycle import Lifecycle, Phase
from .data import DataScanner

__all__ = ["MAX_AUTH_LINE", "MAX_COMMAND_LINE", "PAUSE_BUFFER", "SMTPWire", "WireReceiver"]

MAX_COMMAND_LINE = 512       # octets with CRLF (RFC 5321 §4.5.3.1.4)
MAX_AUTH_LINE = 12288        # RFC 4954 §4
PAUSE_BUFFER = 256 * 1024    # stop reading while this much waits behind a pending reply

_OPEN, _BUSY, _CLOSING, _GONE = Phase.OPEN, Phase.BUSY, Phase.CLOSING, Phase.GONE
_CR = 13


class WireReceiver(Protocol):
    """
    What the wire hands its input to (the protocol); also the connection's
    key in the L{IdleTracker}.  Its C{transport} is paused and resumed.
    """

    transport: Any

    def lineReceived(self, line: bytes) -> None:
        "A command line, without its CRLF."

    def badLine(self) -> None:
        "A line with a bare CR or LF was refused."

    def longLine(self) -> None:
        "A line over the limit was refused; its rest, up to its LF, is skipped."

    def lineLimit(self, partial: bytes) -> int:
        "The longest line (with CRLF) allowed for the line starting with C{partial}."

    def textReceived(self, scanner: DataScanner) -> None:
        "The end of the message text was seen; C{scanner} says what became of the text."

    def drained(self) -> None:
        "Nothing is in hand any more and the connection is draining: say goodbye."

    def discarded(self, count: int) -> None:
        "C{count} octets pipelined after a line whose handler called L{SMTPWire.discard} were dropped."


class SMTPWire:
    """
    The framing of one SMTP connection; see the module docstring.

    @ivar pending: a reply is pending (L{replyPending}, L{replied}).
    @ivar held: the input is held for output backpressure (L{holdInput},
        L{releaseInput}).
    @ivar waiting: C{pending or held}: no further line or text is handled
        until both are cleared (read-only outside the wire).
    @ivar scanner: the L{DataScanner} of the message text being read, or
        L{None} while reading commands.
    """

    __slots__ = ("_receiver", "_lifecycle", "_idle", "_dataTimeout", "_buffer", "_processing", "_paused",
                 "_discardLine", "_discarding", "pending", "held", "waiting", "scanner")

    def __init__(self, receiver: WireReceiver, lifecycle: Lifecycle, idle: IdleTracker,
                 dataTimeout: float) -> None:
        self._receiver = receiver
        self._lifecycle = lifecycle
        self._idle = idle
        self._dataTimeout = dataTimeout
        self._buffer = b""
        self._processing = False
        self._paused = False
        self._discardLine = False
        self._discarding = False
        self.pending = False
        self.held = False
        self.waiting = False
        self.scanner: DataScanner | None = None

    def dataReceived(self, data: bytes) -> None:
        phase = self._lifecycle.phase             # Lifecycle.closing, inlined: once per read
        if phase is _CLOSING or phase is _GONE:
            return
        self._buffer = self._buffer + data if self._buffer else data
        self.process()

    def replyPending(self) -> None:
        """
        The current line's reply is pending (its step returned a
        Deferred): handle nothing further until L{replied}.
        """
        self.pending = self.waiting = True

    def replied(self) -> None:
        """
        The pending reply is known (the protocol writes it, then calls
        L{process}).
        """
        self.pending = False
        self.waiting = self.held

    def holdInput(self) -> None:
        """
        The transport holds as much output as it wants (it paused its
        producer): handle no further line or text, and stop reading once
        this run of input is done, until L{releaseInput}.
        """
        self.held = self.waiting = True

    def releaseInput(self) -> None:
        """
        The transport took the output (it resumed its producer): go on
        with the input held, then read again.
        """
        if not self.held:
            return
        self.held = False
        self.waiting = self.pending
        self.process()

    def readText(self, scanner: DataScanner) -> None:
        """
        The input after the current line is message text, for C{scanner}.
        """
        self.scanner = scanner

    def dropText(self) -> None:
        """
        Forget the message text being read (the connection is closing).
        """
        self.scanner = None

    def discard(self) -> None:
        """
        Called by a line's handler: drop the input after that line (what a
        client pipelined after STARTTLS).  Once the handler returns, the
        receiver hears how much it was (L{WireReceiver.discarded}), if any.
        """
        self._buffer = b""
        self._discarding = True

    def stop(self) -> None:
        """
        The connection is closing: drop the input, read nothing more.
        """
        self._buffer = b""
        self.scanner = None

    def process(self) -> None:
        """
        Handle what the buffer holds, as far as the session lets: up to a
        pending reply, and while draining only the text in hand.  Then
        settle the chassis state.
        """
        if self._processing:
            return
        self._processing = True
        try:
            lifecycle = self._lifecycle
            while self._buffer and not self.waiting:
                if self.scanner is not None:
                    self._text()
                    continue
                phase = lifecycle.phase
                if phase is not _OPEN and phase is not _BUSY:   # not serving: no new command
                    break
                if not self._lines():
                    break
        finally:
            self._processing = False
        self._settle()

    def _lines(self) -> bool:
        """
        Handle the complete command lines in the buffer, slicing it once.

        @return: whether to go on (the buffer may hold message text now).
        """
        buf = self._buffer
        receiver = self._receiver
        pos = 0
        while True:
            end = buf.find(b"\n", pos)
            if end < 0:
                break
            start, pos = pos, end + 1
            if self._discardLine:
                self._discardLine = False
            elif end > start and buf[end - 1] == _CR and buf.find(b"\r", start, end - 1) < 0:
                receiver.lineReceived(buf[start:end - 1])
            else:
                receiver.badLine()
            if self._buffer is not buf:          # STARTTLS or a goodbye dropped the input
                if self._discarding:
                    self._discarding = False
                    if pos < len(buf):
                        receiver.discarded(len(buf) - pos)
                return True
            if self.waiting or self.scanner is not None:
                self._buffer = buf[pos:]
                return True
        self._buffer = buf[pos:] if pos else buf
        if self._discardLine:
            self._buffer = b""
        elif len(self._buffer) > MAX_COMMAND_LINE and len(self._buffer) > receiver.lineLimit(self._buffer):
            self._buffer = b""
            self._discardLine = True
            receiver.longLine()
        return False

    def _text(self) -> None:
        scanner = self.scanner
        assert scanner is not None
        rest = scanner.feed(self._buffer)
        if rest is None:
            self._buffer = b""
            return
        self._buffer = rest
        self.scanner = None
        self._receiver.textReceived(scanner)

    def _settle(self) -> None:
        """
        Once per run of input: flow control, the lifecycle's C{BUSY}, the
        idle timeout.
        """
        lifecycle = self._lifecycle
        phase = lifecycle.phase
        if phase is _CLOSING or phase is _GONE:
            return
        if self.waiting:
            if self.pending:
                if phase is _OPEN:
                    lifecycle.busy()
                self._idle.pause(self._receiver)
                if not self._paused and (self.held or len(self._buffer) > PAUSE_BUFFER):
                    self._paused = True
                    self._receiver.transport.pauseProducing()
                return
            if not self._paused:                  # held: the client is not taking its replies
                self._paused = True
                self._receiver.transport.pauseProducing()
        elif self._paused:
            self._paused = False
            self._receiver.transport.resumeProducing()
        if self.scanner is not None:
            if phase is _OPEN:
                lifecycle.busy()
            self._idle.touch(self._receiver, self._dataTimeout)
        elif phase is not _OPEN and lifecycle.idle():
            self._receiver.drained()
        else:
            self._idle.touch(self._receiver)
