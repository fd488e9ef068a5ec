# -*- test-case-name: tests.net.test_output -*-
"""
Tests for L{twisted_mail_suite.net.output.BoundedOutput}.
"""
from __future__ import annotations

import socket
from typing import Any

from twisted.internet import tcp
from twisted.internet.interfaces import IPullProducer, IPushProducer, ISSLTransport
from twisted.internet.protocol import Protocol
from twisted.internet.task import Clock
from twisted.internet.testing import MemoryReactorClock, StringTransport
from twisted.logger import Logger
from twisted.trial.unittest import SynchronousTestCase
from zope.interface import directlyProvides, implementer
from zope.interface.verify import verifyObject

from twisted_mail_suite.net.output import CLOSE_GRACE, BoundedOutput, IFramedTransport


class Writer(BoundedOutput, Protocol):
    """
    A protocol using the bounded output, recording the hooks.
    """

    maxPendingOutput = 100

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self.hooks: list[str] = []
        self.dropped: list[int] = []

    def outputPaused(self) -> None:
        self.hooks.append("paused")

    def outputResumed(self) -> None:
        self.hooks.append("resumed")

    def outputDropped(self, pending: int) -> None:
        self.dropped.append(pending)


class PushTests(SynchronousTestCase):
    """
    On an ordinary transport the protocol is a push producer and bounds
    what it holds for a client that does not read.
    """

    def setUp(self) -> None:
        self.clock = Clock()
        self.transport = StringTransport()
        self.protocol = Writer(self.clock)
        self.protocol.makeConnection(self.transport)
        self.protocol.startOutput()

    def test_interfaces(self) -> None:
        """
        The mixin is a push and a pull producer.
        """
        self.assertTrue(verifyObject(IPushProducer, self.protocol))
        self.assertTrue(verifyObject(IPullProducer, self.protocol))

    def test_registered(self) -> None:
        """
        L{BoundedOutput.startOutput} registers a streaming producer.
        """
        self.assertEqual((self.transport.producer, self.transport.streaming), (self.protocol, True))

    def test_tlsIsPush(self) -> None:
        """
        A TLS transport is never given the fast path.
        """
        transport = StringTransport()
        directlyProvides(transport, ISSLTransport)
        protocol = Writer(self.clock)
        protocol.makeConnection(transport)
        protocol.startOutput()
        self.assertTrue(transport.streaming)

    def test_uncounted(self) -> None:
        """
        While the transport keeps up, everything is written and nothing counted.
        """
        for _ in range(5):
            self.protocol.deliver(b"x" * 60)
        self.assertEqual(len(self.transport.value()), 300)
        self.assertEqual(self.protocol.outputPending, 0)

    def test_boundInclusive(self) -> None:
        """
        Once paused, up to C{maxPendingOutput} bytes are written and counted.
        """
        self.protocol.pauseProducing()
        self.protocol.deliver(b"x" * 60)
        self.protocol.deliver(b"x" * 40)
        self.assertEqual((self.protocol.outputPending, len(self.transport.value())), (100, 100))
        self.assertFalse(self.transport.disconnected)

    def test_dropped(self) -> None:
        """
        One byte past the bound drops the client: aborted, unregistered, the
        hook told, and later output discarded.
        """
        self.protocol.pauseProducing()
        self.protocol.deliver(b"x" * 60)
        self.protocol.deliver(b"x" * 41)
        self.assertTrue(self.transport.disconnected)
        self.assertIsNone(self.transport.producer)
        self.assertEqual(self.protocol.dropped, [101])
        self.assertTrue(self.protocol.outputClosed)
        self.protocol.deliver(b"more")
        self.assertEqual(len(self.transport.value()), 60)

    def test_resumeResets(self) -> None:
        """
        A transport that drained resets the count: a reader that catches up
        is never dropped.
        """
        for _ in range(10):
            self.protocol.pauseProducing()
            self.protocol.deliver(b"x" * 90)
            self.protocol.resumeProducing()
        self.assertEqual((self.protocol.dropped, self.protocol.outputPending), ([], 0))

    def test_hooks(self) -> None:
        """
        The protocol hears when the transport pauses and resumes.
        """
        self.protocol.pauseProducing()
        self.protocol.resumeProducing()
        self.assertEqual(self.protocol.hooks, ["paused", "resumed"])

    def test_defaultDropLogs(self) -> None:
        """
        Without an override, a drop is logged (no error) and the client aborted.
        """
        events: list[dict[str, Any]] = []

        class Plain(BoundedOutput, Protocol):
            maxPendingOutput = 10
            peerHost = "192.0.2.7"

        protocol = Plain()
        protocol.log = Logger(observer=events.append)
        transport = StringTransport()
        protocol.makeConnection(transport)
        protocol.startOutput()
        protocol.pauseProducing()
        protocol.deliver(b"x" * 11)
        self.assertTrue(transport.disconnected)
        self.assertEqual([(e["peer"], e["size"]) for e in events], [("192.0.2.7", 11)])


class CloseTests(SynchronousTestCase):
    """
    L{BoundedOutput.closeOutput} closes after the output, within a grace.
    """

    def setUp(self) -> None:
        self.clock = Clock()
        self.transport = StringTransport()
        self.protocol = Writer(self.clock)
        self.protocol.makeConnection(self.transport)
        self.protocol.startOutput()

    def test_closes(self) -> None:
        """
        Closing unregisters the producer (which would keep the transport
        open) and loses the connection, keeping what was written.
        """
        self.protocol.deliver(b"bye\n")
        self.protocol.closeOutput()
        self.assertIsNone(self.transport.producer)
        self.assertTrue(self.transport.disconnecting)
        self.assertEqual(self.transport.value(), b"bye\n")
        self.protocol.deliver(b"late\n")
        self.assertEqual(self.transport.value(), b"bye\n")

    def test_graceThenAbort(self) -> None:
        """
        A peer that has not taken its last lines C{CLOSE_GRACE} seconds
        later is aborted, not before.
        """
        self.protocol.closeOutput()
        self.clock.advance(CLOSE_GRACE - 0.1)
        self.assertFalse(self.transport.disconnected)
        self.clock.advance(0.1)
        self.assertTrue(self.transport.disconnected)

    def test_onceOnly(self) -> None:
        """
        A second close changes nothing: one timer.
        """
        self.protocol.closeOutput()
        self.protocol.closeOutput()
        self.assertEqual(len(self.clock.getDelayedCalls()), 1)

    def test_stopCancelsGrace(self) -> None:
        """
        A connection lost in time leaves no timer behind.
        """
        self.protocol.closeOutput()
        self.protocol.stopOutput()
        self.assertEqual(self.clock.getDelayedCalls(), [])
        self.assertTrue(self.protocol.outputClosed)


class FastPathTests(SynchronousTestCase):
    """
    On a plain TCP transport the protocol is a pull producer and writes
    straight to the socket while the transport is empty.  (A local socket
    pair under a C{tcp.Server} on a C{MemoryReactorClock}: no network, no wait.)
    """

    def setUp(self) -> None:
        self.clock = Clock()
        ours, self.peer = socket.socketpair()
        for s in (ours, self.peer):
            s.setblocking(False)
            self.addCleanup(s.close)
        ours.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
        self.peer.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        self.protocol = Writer(self.clock)
        self.protocol.maxPendingOutput = 10 ** 7
        self.transport = tcp.Server(ours, self.protocol, ("192.0.2.7", 4000), None, 1,  # type: ignore[arg-type]
                                    MemoryReactorClock())
        self.protocol.makeConnection(self.transport)

    def received(self) -> bytes:
        data = b""
        while True:
            try:
                chunk = self.peer.recv(65536)
            except BlockingIOError:
                return data
            if not chunk:
                return data
            data += chunk

    def test_pullProducer(self) -> None:
        """
        A plain C{tcp.Server} gets the protocol as a pull producer.
        """
        self.protocol.startOutput()
        self.assertIs(self.transport.producer, self.protocol)
        self.assertFalse(self.transport.streamingProducer)

    def test_noFastPathWhenAsked(self) -> None:
        """
        C{startOutput(fastPath=False)} registers a push producer even on plain TCP.
        """
        self.protocol.startOutput(fastPath=False)
        self.assertTrue(self.transport.streamingProducer)

    def test_direct(self) -> None:
        """
        With the transport empty, data goes straight to the socket.
        """
        self.protocol.startOutput()
        self.protocol.deliver(b"hello\n")
        self.assertEqual(self.received(), b"hello\n")
        self.assertEqual(self.protocol.outputPending, 0)

    def test_orderKept(self) -> None:
        """
        What the socket does not take goes through the transport, counted,
        and so does everything after it: the peer gets the bytes in order.
        """
        self.protocol.startOutput()
        big = bytes(range(256)) * 2000
        self.protocol.deliver(big)
        self.assertGreater(self.protocol.outputPending, 0)
        self.protocol.deliver(b"tail")
        got = b""
        for _ in range(10000):
            got += self.received()
            if len(got) == len(big) + 4:
                break
            self.transport.doWrite()
        self.assertEqual(got, big + b"tail")
        self.assertEqual(self.protocol.outputPending, 0)      # the transport said it drained

    def test_boundApplies(self) -> None:
        """
        What the socket does not take counts against the bound.
        """
        self.protocol.maxPendingOutput = 100
        self.protocol.startOutput()
        self.protocol.deliver(b"x" * 10 ** 6)
        self.assertEqual(len(self.protocol.dropped), 1)
        self.assertTrue(self.protocol.outputClosed)

    def test_descriptorForgottenOnClose(self) -> None:
        """
        After this side starts closing, nothing goes to the socket directly.
        """
        self.protocol.startOutput()
        self.protocol.closeOutput()
        self.protocol.deliver(b"late\n")
        self.assertEqual(self.received(), b"")


@implementer(IFramedTransport)
class Framing(StringTransport):
    """
    An L{IFramedTransport} over a TCP transport (C{wire}): frames are the
    lines in brackets; C{framed} counts the times it framed.
    """

    def __init__(self, wire: Any) -> None:
        super().__init__()
        self.wire = wire
        self.framed = 0
        self.last: tuple[bytes, bytes] | None = None

    def frame(self, data: bytes) -> bytes | None:
        if not data.endswith(b"\n"):
            return None
        if self.last is None or self.last[0] is not data:
            self.framed += 1
            self.last = (data, b"".join(b"[" + line + b"]" for line in data[:-1].split(b"\n")))
        return self.last[1]

    def write(self, data: bytes) -> None:
        """
        Whole lines go to the wire, framed; a partial line is held.
        """
        framed = self.frame(data)
        if framed is None:
            super().write(data)
        else:
            self.wire.write(framed)

    def registerProducer(self, producer: Any, streaming: bool) -> None:
        self.wire.registerProducer(producer, streaming)

    def unregisterProducer(self) -> None:
        self.wire.unregisterProducer()

    def loseConnection(self) -> None:
        self.wire.loseConnection()

    def abortConnection(self) -> None:
        self.wire.abortConnection()


class FramedFastPathTests(FastPathTests):
    """
    A transport that frames lines for a plain TCP transport underneath
    (L{IFramedTransport}, the WebSocket bridge's) gets the same fast path:
    frames straight to the socket underneath once that has drained.
    """

    def setUp(self) -> None:
        super().setUp()
        self.wire = self.transport
        self.framing = Framing(self.wire)
        self.protocol.transport = self.framing

    def flush(self) -> bytes:
        """
        Let the wire send what it holds; what the peer got.
        """
        got = b""
        for _ in range(10000):
            self.wire.doWrite()
            got += self.received()
            if not self.protocol.outputPending:
                return got
        self.fail("the wire did not drain")

    def drained(self) -> None:
        """
        The wire sent what it held (the handshake's reply): it says so.
        """
        self.wire.write(b"reply")
        self.assertEqual(self.flush(), b"reply")
        self.assertEqual(self.protocol.outputPending, 0)

    def test_pullProducer(self) -> None:
        """
        The protocol is the pull producer of the wire underneath.
        """
        self.protocol.startOutput()
        self.assertIs(self.wire.producer, self.protocol)
        self.assertFalse(self.wire.streamingProducer)

    def test_noFastPathWhenAsked(self) -> None:
        """
        C{startOutput(fastPath=False)} registers a push producer.
        """
        self.protocol.startOutput(fastPath=False)
        self.assertTrue(self.wire.streamingProducer)

    def test_waitsForTheWire(self) -> None:
        """
        Until the wire has said it drained, lines go through the framing
        transport (behind whatever the wire may still hold).
        """
        self.protocol.startOutput()
        self.protocol.deliver(b"early\n")
        self.assertEqual(self.received(), b"")
        self.assertEqual(self.flush(), b"[early]")

    def test_direct(self) -> None:
        """
        Once the wire has drained, lines are framed and go straight to the socket.
        """
        self.protocol.startOutput()
        self.drained()
        self.protocol.deliver(b"hello\n")
        self.assertEqual(self.received(), b"[hello]")
        self.assertEqual(self.framing.value(), b"")
        self.assertEqual(self.protocol.outputPending, 0)

    def test_framedOnce(self) -> None:
        """
        The same bytes handed to many members are framed once (the framing
        transport's own cache, which the fan-out's shared bytes hit).
        """
        self.protocol.startOutput()
        self.drained()
        line = b"one\ntwo\n"
        self.protocol.deliver(line)
        self.protocol.deliver(line)
        self.assertEqual(self.received(), b"[one][two]" * 2)
        self.assertEqual(self.framing.framed, 1)

    def test_partialLine(self) -> None:
        """
        What the framing transport cannot frame alone (a partial line) is
        written to it.
        """
        self.protocol.startOutput()
        self.drained()
        self.protocol.deliver(b"hal")
        self.assertEqual(self.framing.value(), b"hal")
        self.assertEqual(self.received(), b"")
        self.assertGreater(self.protocol.outputPending, 0)     # counted until the wire drains

    def test_orderKept(self) -> None:
        """
        What the socket does not take goes to the wire, already framed, and
        is counted; what follows waits behind it.
        """
        self.protocol.startOutput()
        self.drained()
        big = b"x" * 500000 + b"\n"
        self.protocol.deliver(big)
        self.assertGreater(self.protocol.outputPending, 0)
        self.protocol.deliver(b"tail\n")
        got = self.received() + self.flush()
        self.assertEqual(got, b"[" + big[:-1] + b"][tail]")
        self.assertEqual(self.protocol.outputPending, 0)

    def test_wireWritten(self) -> None:
        """
        After something else wrote to the wire, lines go through the
        framing transport again until the wire has drained.
        """
        self.protocol.startOutput()
        self.drained()
        self.wire.write(b"pong")
        self.protocol.wireWritten()
        self.protocol.deliver(b"after\n")
        self.assertEqual(self.received(), b"")
        self.assertEqual(self.flush(), b"pong[after]")
        self.protocol.deliver(b"direct\n")
        self.assertEqual(self.received(), b"[direct]")
