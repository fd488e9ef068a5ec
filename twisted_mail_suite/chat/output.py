# -*- test-case-name: tests.chat.test_protocol -*-
"""
The write side of a chat connection: every line to the client goes through
L{OutputMixin.deliver}, which bounds what a client that stops reading can
make the server hold.

The protocol registers itself with its transport as a streaming producer.
The transport calls C{pauseProducing} once its own buffer passes its
high-water mark (64 KiB for TCP); from then on the bytes written are
counted, and past C{chat.max_pending_output} the client is dropped
(the connection aborted, the rest of its output discarded).  When the
transport drains, C{resumeProducing} resets the count.  One slow reader
therefore costs at most about 64 KiB + C{max_pending_output} and never
delays anyone else: writes never block.

Fan-out fast path (plain TCP only, never TLS): a broadcast to N members is N
writes, and a Twisted TCP transport turns each into "register for
writability" now and "send, unregister" on the next reactor turn: two
C{epoll_ctl} calls and a pass through the reactor per member per line.  For
a plain C{tcp.Server} transport the protocol registers as a I{pull}
producer instead, which the transport calls back (C{resumeProducing}) every
time its buffer is empty.  While the transport's buffer is known to be
empty, a line is sent straight on the non-blocking socket; whatever the
kernel does not take goes through C{transport.write} as usual and is
counted as pending until the transport says it has drained.  The order of
bytes is preserved (the socket is used only when nothing is queued before
it), errors are left to the transport to find, and the pending count is
exact, so the slow-reader bound applies unchanged.  The socket is written
with C{os.write} on its descriptor (a quarter cheaper than C{socket.send});
the descriptor is forgotten before the transport can close it (in
L{stopOutput}, called first thing by C{connectionLost}, and whenever this
side starts closing), so it is never used after it could be reused.
"""
from __future__ import annotations

import os
from typing import Any

from twisted.internet import tcp
from twisted.internet.interfaces import ISSLTransport
from twisted.logger import Logger


CLOSE_GRACE = 10.0
_write = os.write


class OutputMixin:
    """
    Mixed into the chat protocol, which has C{transport}, C{factory}
    (with C{maxPending} and C{hub}), C{name} and C{peerHost}.
    """

    log = Logger()
    transport: Any
    factory: Any
    outputClosed = False
    _paused = False
    _pending = 0
    _fd: int | None = None
    _closeTimer: Any = None

    def startOutput(self) -> None:
        transport = self.transport
        if (type(transport) is tcp.Server and not transport.TLS
                and not ISSLTransport.providedBy(transport)):
            self._fd = transport.fileno()
            transport.registerProducer(self, False)    # IPullProducer: "I am empty"
        else:
            transport.registerProducer(self, True)     # IPushProducer: pause/resume

    def deliver(self, data: bytes) -> None:
        """
        Send complete lines to the client, unless it is gone or too far behind.
        """
        fd = self._fd                  # None once output is closed
        if fd is not None and not self._pending:
            try:
                sent = _write(fd, data)
            except OSError:            # EAGAIN, or an error the transport will report
                sent = 0
            if sent == len(data):
                return
            data = data[sent:]
        self._queue(data)

    def _queue(self, data: bytes) -> None:
        """
        Hand C{data} to the transport, counting it if the client is behind.
        """
        if self.outputClosed:
            return
        if self._fd is not None or self._paused:
            pending = self._pending + len(data)
            if pending > self.factory.maxPending:
                self._dropSlowReader()
                return
            self._pending = pending
        self.transport.write(data)

    # IPushProducer / IPullProducer, called by the transport
    def pauseProducing(self) -> None:
        """
        (Push mode) The transport holds more than its high-water mark.
        """
        self._paused = True
        self._pending = 0

    def resumeProducing(self) -> None:
        """
        Push mode: the transport drained.  Pull mode: its buffer is empty.
        """
        self._paused = False
        self._pending = 0

    def stopProducing(self) -> None:
        pass

    def closeOutput(self) -> None:
        """
        Close once what was written is sent.  (A registered producer would
        keep a draining transport open, so it is unregistered first.)
        """
        if self.outputClosed:
            return
        self.outputClosed = True
        self._fd = None
        self.transport.unregisterProducer()
        self.transport.loseConnection()
        # A peer that never reads would keep a closing connection open for
        # ever; give it CLOSE_GRACE seconds to take its last lines.
        self._closeTimer = self.factory.clock.callLater(CLOSE_GRACE, self.transport.abortConnection)

    def stopOutput(self) -> None:
        """
        The connection is gone.
        """
        self.outputClosed = True
        self._fd = None
        if self._closeTimer is not None:
            if self._closeTimer.active():
                self._closeTimer.cancel()
            self._closeTimer = None

    def _dropSlowReader(self) -> None:
        self.log.info("Chat client {peer} ({name}) stopped reading; dropped after {size} bytes pending",
                      peer=getattr(self, "peerHost", ""), name=getattr(self, "name", None),
                      size=self._pending)
        self._fd = None
        self.outputClosed = True      # from now on deliver() drops everything
        self.transport.unregisterProducer()
        self.transport.abortConnection()   # connectionLost takes it out of the chat
