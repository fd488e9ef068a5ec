# -*- test-case-name: tests.net.test_transport -*-
"""
Tests for L{twisted_mail_suite.net.transport}.
"""
from __future__ import annotations

from typing import Any

from twisted.internet import defer, endpoints, reactor
from twisted.internet.address import IPv4Address, IPv6Address, UNIXAddress
from twisted.internet.interfaces import INegotiated, ISSLTransport
from twisted.internet.protocol import Factory, Protocol
from twisted.internet.testing import StringTransport
from twisted.protocols.policies import WrappingFactory
from twisted.protocols.tls import TLSMemoryBIOProtocol
from twisted.trial.unittest import SkipTest, SynchronousTestCase, TestCase
from zope.interface import directlyProvides

from twisted_mail_suite.net.transport import (
    LOCAL_PEER, directSocket, isSecure, peerHost, quickAck, sendAtOnce, setNoDelay)


class NoDelayTransport(StringTransport):
    """
    A transport with C{setTcpNoDelay}, which may fail with C{error}.
    """

    def __init__(self, error: Exception | None = None) -> None:
        super().__init__()
        self.noDelay: list[bool] = []
        self.error = error

    def setTcpNoDelay(self, enabled: bool) -> None:
        if self.error is not None:
            raise self.error
        self.noDelay.append(enabled)


class PeerHostTests(SynchronousTestCase):
    """
    L{peerHost} is the peer's IP address, or L{LOCAL_PEER}.
    """

    def test_ipv4(self) -> None:
        """
        An IPv4 peer gives its dotted address.
        """
        transport = StringTransport(peerAddress=IPv4Address("TCP", "192.0.2.7", 4000))
        self.assertEqual(peerHost(transport), "192.0.2.7")

    def test_ipv6(self) -> None:
        """
        An IPv6 peer gives its address as written in the address object.
        """
        transport = StringTransport(peerAddress=IPv6Address("TCP", "::1", 4000))
        self.assertEqual(peerHost(transport), "::1")

    def test_unixSocket(self) -> None:
        """
        A peer without a host (a UNIX socket) is L{LOCAL_PEER}.
        """
        transport = StringTransport(peerAddress=UNIXAddress(None))
        self.assertEqual(peerHost(transport), LOCAL_PEER)
        self.assertEqual(LOCAL_PEER, "local")

    def test_emptyHost(self) -> None:
        """
        An empty host counts as no host.
        """
        transport = StringTransport(peerAddress=IPv4Address("TCP", "", 4000))
        self.assertEqual(peerHost(transport), LOCAL_PEER)

    def test_bytesHost(self) -> None:
        """
        A host given as bytes is decoded, so counting keys stay C{str}.
        """
        class Peer:
            host = b"192.0.2.9"

        transport = StringTransport()
        transport.getPeer = lambda: Peer()  # type: ignore[method-assign]
        self.assertEqual(peerHost(transport), "192.0.2.9")


class IsSecureTests(SynchronousTestCase):
    """
    L{isSecure} knows both ways a channel is encrypted.
    """

    def test_plain(self) -> None:
        """
        A plain transport is not secure.
        """
        self.assertFalse(isSecure(StringTransport()))

    def test_afterStartTLS(self) -> None:
        """
        A TCP transport after STARTTLS (it provides L{ISSLTransport}) is secure.
        """
        transport = StringTransport()
        directlyProvides(transport, ISSLTransport)
        self.assertTrue(isSecure(transport))

    def test_negotiated(self) -> None:
        """
        A transport that only says L{INegotiated} is secure.
        """
        transport = StringTransport()
        directlyProvides(transport, INegotiated)
        self.assertTrue(isSecure(transport))

    def test_implicitTLSWrapper(self) -> None:
        """
        The TLS wrapper of an implicit-TLS (C{ssl:}) listener is secure.
        """
        wrapper = TLSMemoryBIOProtocol(None, Protocol())
        self.assertTrue(isSecure(wrapper))


class SetNoDelayTests(SynchronousTestCase):
    """
    L{setNoDelay} turns TCP_NODELAY on where it can, quietly.
    """

    def test_sets(self) -> None:
        """
        A transport with C{setTcpNoDelay} gets it turned on.
        """
        transport = NoDelayTransport()
        setNoDelay(transport)
        self.assertEqual(transport.noDelay, [True])

    def test_throughWrapper(self) -> None:
        """
        A wrapping transport (like the TLS wrapper) passes it to the TCP transport.
        """
        inner = NoDelayTransport()
        wrapping = WrappingFactory(Factory.forProtocol(Protocol))
        wrapper: Any = wrapping.buildProtocol(IPv4Address("TCP", "192.0.2.7", 4000))
        wrapper.makeConnection(inner)
        setNoDelay(wrapper)
        self.assertEqual(inner.noDelay, [True])

    def test_withoutIt(self) -> None:
        """
        A transport without C{setTcpNoDelay} is left alone, without error.
        """
        transport = StringTransport()
        setNoDelay(transport)
        self.assertFalse(hasattr(transport, "setTcpNoDelay"))

    def test_refused(self) -> None:
        """
        A socket that refuses (closed: C{OSError}) or a transport that cannot
        (C{NotImplementedError}) is ignored.
        """
        for error in (OSError(9, "bad descriptor"), NotImplementedError()):
            transport = NoDelayTransport(error)
            self.assertIsNone(setNoDelay(transport))
            self.assertEqual(transport.noDelay, [])

    def test_otherErrorsPropagate(self) -> None:
        """
        A programming error in the transport is not hidden.
        """
        self.assertRaises(TypeError, setNoDelay, NoDelayTransport(TypeError("bug")))


class TakesSome:
    """
    A socket whose C{send} takes C{take} octets, or raises C{error}.
    """

    def __init__(self, take: int = 0, error: Exception | None = None) -> None:
        self.take, self.error = take, error
        self.sent: list[bytes] = []

    def send(self, data: bytes) -> int:
        if self.error is not None:
            raise self.error
        self.sent.append(data[:self.take])
        return min(self.take, len(data))


class SendAtOnceTests(SynchronousTestCase):
    """
    L{sendAtOnce} writes to the socket, and what it does not take to the
    transport, after which writes must go through the transport.
    """

    def test_all(self) -> None:
        transport, sock = StringTransport(), TakesSome(take=100)
        self.assertTrue(sendAtOnce(sock, transport, b"250 OK\r\n"))  # type: ignore[arg-type]
        self.assertEqual(sock.sent, [b"250 OK\r\n"])
        self.assertEqual(transport.value(), b"")

    def test_part(self) -> None:
        transport, sock = StringTransport(), TakesSome(take=3)
        self.assertFalse(sendAtOnce(sock, transport, b"250 OK\r\n"))  # type: ignore[arg-type]
        self.assertEqual(sock.sent, [b"250"])
        self.assertEqual(transport.value(), b" OK\r\n")

    def test_wouldBlock(self) -> None:
        transport, sock = StringTransport(), TakesSome(error=BlockingIOError(11, "would block"))
        self.assertFalse(sendAtOnce(sock, transport, b"250 OK\r\n"))  # type: ignore[arg-type]
        self.assertEqual(transport.value(), b"250 OK\r\n")


class DirectSocketTests(TestCase):
    """
    Only a plain TCP server transport is written to directly.
    """

    def test_others(self) -> None:
        """
        A test transport and a TLS transport have no direct socket.
        """
        self.assertIsNone(directSocket(StringTransport()))
        tls = StringTransport()
        directlyProvides(tls, ISSLTransport)
        self.assertIsNone(directSocket(tls))

    @defer.inlineCallbacks
    def test_tcp(self):  # type: ignore[no-untyped-def]
        """
        A TCP server transport's socket takes bytes at once, and the client
        reads them before anything the transport writes after them.
        """
        found: list[Any] = []

        class Server(Protocol):
            def connectionMade(self) -> None:
                sock = directSocket(self.transport)
                found.append(sock)
                if sock is not None and sendAtOnce(sock, self.transport, b"first "):
                    self.transport.write(b"second")
                self.transport.loseConnection()

        received: defer.Deferred = defer.Deferred()

        class Client(Protocol):
            data = b""

            def dataReceived(self, data: bytes) -> None:
                self.data += data

            def connectionLost(self, reason: Any = None) -> None:
                received.callback(self.data)

        port = reactor.listenTCP(0, Factory.forProtocol(Server), interface="127.0.0.1")
        self.addCleanup(port.stopListening)
        yield endpoints.TCP4ClientEndpoint(reactor, "127.0.0.1", port.getHost().port).connect(
            Factory.forProtocol(Client))
        data = yield received
        self.assertIsNotNone(found[0])
        self.assertEqual(data, b"first second")


class QuickAckTests(SynchronousTestCase):
    def test_tcpSocket(self) -> None:
        """
        On a TCP socket, the delayed ACK is off after L{quickAck} (where
        the system has TCP_QUICKACK).
        """
        import socket

        if not hasattr(socket, "TCP_QUICKACK"):
            raise SkipTest("no TCP_QUICKACK here")
        listener = socket.create_server(("127.0.0.1", 0))
        self.addCleanup(listener.close)
        client = socket.create_connection(listener.getsockname())
        self.addCleanup(client.close)
        server, _ = listener.accept()
        self.addCleanup(server.close)
        transport = StringTransport()
        transport.getHandle = lambda: server  # type: ignore[attr-defined]
        quickAck(transport)
        self.assertEqual(server.getsockopt(socket.IPPROTO_TCP, socket.TCP_QUICKACK), 1)

    def test_noSocket(self) -> None:
        """
        A transport without a socket (a test transport, a UNIX socket's
        refusal): nothing, no error.
        """
        quickAck(StringTransport())
        transport = StringTransport()
        transport.getHandle = lambda: object()  # type: ignore[attr-defined]
        quickAck(transport)
