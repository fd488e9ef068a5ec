# -*- test-case-name: tests.net.test_output -*-
"""
Bounded output: what a client that stops reading can make the server hold.

Mix L{BoundedOutput} into a protocol that writes whatever others cause
(chat lines, IMAP IDLE notices) and send through L{BoundedOutput.deliver}.

The protocol registers itself with its transport as a streaming producer.
The transport calls C{pauseProducing} once its own buffer passes its
high-water mark (64 KiB for TCP); from then on the bytes written are
counted, and past C{maxPendingOutput} the client is dropped (the connection
aborted, the rest of its output discarded).  When the transport drains,
C{resumeProducing} resets the count.  One slow reader therefore costs at
most about 64 KiB + C{maxPendingOutput} and never delays anyone else:
writes never block.  A protocol that produces on demand (a message being
streamed) hears of the transport's state through L{BoundedOutput.outputPaused}
and L{BoundedOutput.outputResumed}.

Fan-out fast path (plain TCP only, never TLS): a Twisted TCP transport turns
each write into "register for writability" now and "send, unregister" on the
next reactor turn.  For a plain C{tcp.Server} transport the protocol
registers as a I{pull} producer instead, which the transport calls back
(C{resumeProducing}) every time its buffer is empty.  While the transport's
buffer is known to be empty, data is sent straight on the non-blocking
socket; whatever the kernel does not take goes through C{transport.write} as
usual and is counted as pending until the transport says it has drained.
The order of bytes is preserved (the socket is used only when nothing is
queued before it), errors are left to the transport to find, and the
pending count is exact, so the bound applies unchanged.  The descriptor is
forgotten before the transport can close it (in L{BoundedOutput.stopOutput},
to be called first thing by C{connectionLost}, and whenever this side starts
closing), so it is never used after it could be reused.

The same fast path serves a transport that frames what its protocol writes
and sends the frames on a plain TCP transport underneath (the WebSocket
bridge: L{IFramedTransport}).  The data is framed by the transport's
C{frame} (which frames the same bytes object once, however many members a
fan-out hands it to) and written straight to the socket underneath; what
the socket does not take goes to that TCP transport, already framed.
Whatever else writes to that TCP transport (the WebSocket handshake's
reply, pongs, closes) says so through L{BoundedOutput.wireWritten}, and the
direct writes wait until it has drained.
"""
from __future__ import annotations

import os
from typing import Any, Callable

from twisted.internet import tcp
from twisted.internet.interfaces import IPullProducer, IPushProducer, IReactorTime, ISSLTransport
from twisted.logger import Logger
from zope.interface import Attribute, Interface, implementer

from .transport import CLOSE_GRACE

__all__ = ["CLOSE_GRACE", "BoundedOutput", "IFramedTransport"]

_write = os.write


class IFramedTransport(Interface):
    """
    A transport that frames the lines its protocol writes and sends the
    frames on another transport (the WebSocket bridge's, over TCP).
    """

    wire = Attribute("The transport underneath, which the frames are written to.")

    def frame(data: bytes) -> bytes | None:
        """
        C{data} as it goes on the wire, if it can go now: whole lines, and
        no partial line held before it; else L{None} (then C{write} it).
        The same bytes object handed in again gives the same frames
        without framing them again.
        """


def _plainTCP(transport: Any) -> bool:
    return type(transport) is tcp.Server and not transport.TLS and not ISSLTransport.providedBy(transport)


@implementer(IPushProducer, IPullProducer)
class BoundedOutput:
    """
    Mixed into a protocol (before C{Protocol}).  The protocol supplies
    C{transport}, C{maxPendingOutput} (bytes held for a client that does
    not read before it is dropped) and C{clock} (for the close grace), as
    attributes or properties.  Every default lives on the class, so an
    idle connection carries only what differs.
    """

    log = Logger()
    transport: Any
    clock: IReactorTime
    maxPendingOutput: int = 256 * 1024
    closeGrace: float = CLOSE_GRACE
    outputClosed = False
    _paused = False
    _pending = 0
    _fd: int | None = None
    _frame: Callable[[bytes], bytes | None] | None = None   # an IFramedTransport's
    _closeTimer: Any = None

    def startOutput(self, fastPath: bool = True) -> None:
        """
        Register with the transport (in C{connectionMade}).  C{fastPath}
        false: always a push producer, even on plain TCP (for a protocol
        that needs C{pauseProducing} to pace what it produces).
        """
        transport = self.transport
        framed = IFramedTransport.providedBy(transport)
        if fastPath and _plainTCP(transport.wire if framed else transport):
            transport.registerProducer(self, False)    # IPullProducer: "I am empty"
            if framed:
                self._frame = transport.frame
                self._fd = transport.wire.fileno()
                self._pending = 1      # the wire may still hold the handshake's reply: until it drains
            else:
                self._fd = transport.fileno()
        else:
            transport.registerProducer(self, True)     # IPushProducer: pause/resume

    def deliver(self, data: bytes) -> None:
        """
        Send C{data} to the client, unless it is gone or too far behind.
        """
        fd = self._fd                  # None once output is closed
        if fd is not None and not self._pending:
            frame = self._frame
            if frame is None:
                out: bytes | None = data
            else:
                out = frame(data)
                if out is None:        # a partial line: the framing transport holds it
                    self._queue(data)
                    return
            try:
                sent = _write(fd, out)
            except OSError:            # EAGAIN, or an error the transport will report
                sent = 0
            if sent == len(out):
                return
            if frame is not None:      # the rest is framed already: it goes to the wire
                self._queue(out[sent:], self.transport.wire)
                return
            data = data[sent:]
        self._queue(data)

    def _queue(self, data: bytes, transport: Any = None) -> None:
        """
        Hand C{data} to the transport (or to C{transport}, the wire under a
        framing transport), counting it if the client is behind.
        """
        if self.outputClosed:
            return
        if self._fd is not None or self._paused:
            pending = self._pending + len(data)
            if pending > self.maxPendingOutput:
                self._dropSlowReader(pending)
                return
            self._pending = pending
        (transport or self.transport).write(data)

    def wireWritten(self) -> None:
        """
        Something else wrote to the wire under a framing transport (an
        L{IFramedTransport}): send nothing straight to the socket until the
        wire says it has drained (L{resumeProducing}).
        """
        if self._fd is not None and not self._pending:
            self._pending = 1

    @property
    def outputPending(self) -> int:
        """
        Bytes written since the transport last said it drained (counted
        only while it is known to be behind).
        """
        return self._pending

    # IPushProducer / IPullProducer, called by the transport

    def pauseProducing(self) -> None:
        """
        (Push mode) The transport holds more than its high-water mark.
        """
        self._paused = True
        self._pending = 0
        self.outputPaused()

    def resumeProducing(self) -> None:
        """
        Push mode: the transport drained.  Pull mode: its buffer is empty.
        """
        self._paused = False
        self._pending = 0
        self.outputResumed()

    def stopProducing(self) -> None:
        pass

    # Hooks

    def outputPaused(self) -> None:
        """
        The transport is behind: a protocol producing on demand stops.
        """

    def outputResumed(self) -> None:
        """
        The transport caught up: a protocol producing on demand goes on.
        """

    def outputDropped(self, pending: int) -> None:
        """
        The client was dropped for not reading (its connection is being
        aborted); C{pending} bytes were held for it.
        """
        self.log.info("Client {peer} stopped reading; dropped after {size} bytes pending",
                      peer=getattr(self, "peerHost", ""), size=pending)

    # Closing

    def closeOutput(self) -> None:
        """
        Close once what was written is sent.  (A registered producer would
        keep a draining transport open, so it is unregistered first.)  A
        peer that never reads would keep the connection open for ever: it
        is aborted if still there C{closeGrace} seconds later.
        """
        if self.outputClosed:
            return
        self.outputClosed = True
        self._fd = None
        self.transport.unregisterProducer()
        self.transport.loseConnection()
        self._closeTimer = self.clock.callLater(self.closeGrace, self.transport.abortConnection)

    def stopOutput(self) -> None:
        """
        The connection is gone (call first thing in C{connectionLost}).
        """
        self.outputClosed = True
        self._fd = None
        timer, self._closeTimer = self._closeTimer, None
        if timer is not None and timer.active():
            timer.cancel()

    def _dropSlowReader(self, pending: int) -> None:
        self._fd = None
        self.outputClosed = True      # from now on deliver() drops everything
        self.transport.unregisterProducer()
        self.transport.abortConnection()   # connectionLost cleans up
        self.outputDropped(pending)
