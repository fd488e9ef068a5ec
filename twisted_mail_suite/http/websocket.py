# -*- test-case-name: tests.http.test_websocket -*-
"""
A line protocol over WebSocket: one line per text frame, each way.

The bridge is generic: L{LineSocketFactory} is given a way to build the
line protocol (for C{/chat}, the chat factory of the same suite, looked up
through L{SuiteParts.factoryFor <twisted_mail_suite.registry.SuiteParts>}),
and each WebSocket connection drives one real instance of it through a
L{FrameTransport}: the protocol writes bytes, every complete line of them
goes out as one text frame; every text frame that comes in is handed to it
as one line.  So the commands, the rooms, the names, the notices, the
admission and idle rules and the flood limits are the line protocol's own,
the same as for its TCP clients: a WebSocket client is one more connection
of that protocol, from the same peer address.  Once the upgrade is done
the HTTP connection it came from is released from the HTTP listener's
admission and drain: the WebSocket counts as a connection of the line
protocol, not of the web.

Back-pressure goes through: the line protocol registers as the producer of
the TCP connection underneath (its slow-reader bound holds), and pausing
its transport (as the chat does during a login) stops reading from the
socket.

L{ChatSocketResource} mounts it in a twisted.web tree: a request that asks
for the WebSocket upgrade gets it (after the C{Origin} check that keeps
other sites' pages from using the visitor's session), any other request is
handed to the resource that renders the page.  The user of a valid web
session is logged in to the line protocol as if it had logged in itself
(L{IVerifiedLogin}).
"""
from __future__ import annotations

import struct
from typing import Any, Callable
from urllib.parse import urlsplit

from autobahn.twisted.resource import WebSocketResource
from autobahn.twisted.websocket import WebSocketServerFactory, WebSocketServerProtocol
from autobahn.websocket.types import ConnectionDeny
from twisted.internet.interfaces import IDelayedCall, INegotiated, IProtocol, IProtocolFactory, IReactorTime, ITransport
from twisted.internet.error import ConnectionDone
from twisted.logger import Logger
from twisted.python.failure import Failure
from twisted.web.resource import IResource, Resource
from zope.interface import alsoProvides, implementer

from ..interfaces import IVerifiedLogin
from ..net.output import IFramedTransport
from ..net.transport import CLOSE_GRACE, isSecure

__all__ = ["CLOSE_UNSUPPORTED", "ChatSocketResource", "FrameTransport", "LineSocket", "LineSocketFactory",
           "sameOrigin", "textFrames"]

# close code for a binary frame: "unsupported data" (RFC 6455 §7.4.1)
CLOSE_UNSUPPORTED = 1003
# close code when the line protocol is not served here: "try again later"
CLOSE_UNAVAILABLE = 1013


def _nothing() -> None:
    pass


@implementer(ITransport, IFramedTransport)
class FrameTransport:
    """
    What the line protocol sees as its transport: each complete line it
    writes is sent as one text frame (without its CR LF); a partial line
    waits for its end.  Closing, aborting, the peer, the producer and the
    read side are the WebSocket connection's.
    """

    def __init__(self, socket: LineSocket) -> None:
        self._socket = socket
        self._partial = b""
        self.disconnecting = False
        if isSecure(socket.transport):
            alsoProvides(self, INegotiated)

    def write(self, data: bytes) -> None:
        if self._partial:
            data = self._partial + data
        end = data.rfind(b"\n")
        if end < 0:
            self._partial = data
            return
        self._partial = data[end + 1:]
        lines = data[:end].split(b"\n")
        self._socket.sendLines([line[:-1] if line.endswith(b"\r") else line for line in lines])

    def writeSequence(self, data: list[bytes]) -> None:
        self.write(b"".join(data))

    @property
    def wire(self) -> Any:
        return self._socket.transport

    def frame(self, data: bytes) -> bytes | None:
        """
        L{IFramedTransport}: the frames of C{data} (whole lines), framed
        once for all the members of a fan-out that hand in the same bytes.
        """
        if self._partial or not self._socket.sending or data[-1:] != b"\n":
            return None
        if data is not _lastFramed[0]:
            lines = data[:-1].split(b"\n")
            _lastFramed[:] = [data, textFrames([line[:-1] if line.endswith(b"\r") else line for line in lines])]
        return _lastFramed[1]  # type: ignore[no-any-return]

    def loseConnection(self) -> None:
        self.disconnecting = True
        self._socket.closeSocket()

    def abortConnection(self) -> None:
        self.disconnecting = True
        self._socket.transport.abortConnection()

    def getPeer(self) -> Any:
        return self._socket.transport.getPeer()

    def getHost(self) -> Any:
        return self._socket.transport.getHost()

    # the producer of the connection underneath, and its read side

    def registerProducer(self, producer: Any, streaming: bool) -> None:
        transport = self._socket.transport
        try:
            transport.registerProducer(producer, streaming)
        except RuntimeError:       # the HTTP channel's own, left from before the upgrade
            transport.unregisterProducer()
            transport.registerProducer(producer, streaming)

    def unregisterProducer(self) -> None:
        self._socket.transport.unregisterProducer()

    def pauseProducing(self) -> None:
        self._socket.transport.pauseProducing()

    def resumeProducing(self) -> None:
        self._socket.transport.resumeProducing()

    def stopProducing(self) -> None:
        self.abortConnection()


class LineSocket(WebSocketServerProtocol):
    """
    One WebSocket connection driving one line protocol.

    @ivar verifiedUser: the user of the web session that opened it, if
        any: the line protocol is logged in as them (L{IVerifiedLogin}).
    @ivar line: the line protocol, once the WebSocket is open.
    """

    log = Logger()
    factory: LineSocketFactory
    verifiedUser: str | None = None
    verifiedLogout: Callable[[], object] = staticmethod(_nothing)
    line: IProtocol | None = None
    upgradedFrom: IProtocol | None = None
    _open = False
    _abort: IDelayedCall | None = None

    def onConnect(self, request: Any) -> None:
        if not sameOrigin(request.headers.get("origin"), request.headers.get("host", ""),
                          isSecure(self.transport)):
            raise ConnectionDeny(ConnectionDeny.FORBIDDEN, "cross-origin WebSocket refused")

    def onOpen(self) -> None:
        self._releaseChannel()
        lineFactory = self.factory.lineFactory()
        if lineFactory is None:
            self._close(CLOSE_UNAVAILABLE, "not served here")
            return
        self._open = True
        line = lineFactory.buildProtocol(self.transport.getPeer())
        if line is None:
            self.closeSocket()
            return
        self.line = line
        line.makeConnection(FrameTransport(self))
        if self.verifiedUser is not None and IVerifiedLogin.providedBy(line) and self._open:
            line.loginVerified(self.verifiedUser, self.verifiedLogout)

    def onMessage(self, payload: bytes, isBinary: bool) -> None:
        if isBinary:
            self._close(CLOSE_UNSUPPORTED, "text frames only, one line each")
            return
        if self.line is not None:
            self.line.dataReceived(payload + b"\n")

    def onClose(self, wasClean: bool, code: int | None, reason: str | None) -> None:
        self._open = False
        line, self.line = self.line, None
        if line is not None:
            line.connectionLost(Failure(ConnectionDone()))

    def connectionLost(self, reason: Failure = Failure(ConnectionDone())) -> None:
        """
        The connection is gone: the line protocol hears of it (L{onClose}),
        and the HTTP connection it came from if the upgrade never finished.
        """
        abort, self._abort = self._abort, None
        if abort is not None and abort.active():
            abort.cancel()
        try:
            super().connectionLost(reason)
        finally:
            self._releaseChannel(reason)

    def _releaseChannel(self, reason: Failure | None = None) -> None:
        """
        The HTTP connection this one was upgraded from is done: it leaves
        the HTTP listener's admission and drain (the line protocol's own
        take over), as if it were closed.  Its transport is this
        connection's now, so it touches nothing.
        """
        channel, self.upgradedFrom = self.upgradedFrom, None
        if channel is not None:
            channel.connectionLost(reason or Failure(ConnectionDone("upgraded to a WebSocket")))

    def sendData(self, data: bytes, sync: bool = False, chopsize: int | None = None) -> None:
        """
        Autobahn's own writes (pongs, closes): the line protocol's direct
        sends (L{IFramedTransport}) wait until the wire drains.
        """
        wireWritten = getattr(self.line, "wireWritten", None)
        if wireWritten is not None:
            wireWritten()
        super().sendData(data, sync, chopsize)

    # what the FrameTransport asks

    @property
    def sending(self) -> bool:
        return self._open

    def sendLines(self, lines: list[bytes]) -> None:
        """
        Lines out, one text frame each, in one write (dropped once closing).
        """
        if self._open:
            self.transport.write(textFrames(lines))

    def closeSocket(self) -> None:
        """
        The line protocol closes: a normal WebSocket close, after what it sent.
        """
        if self._open:
            self._close(1000)
        else:
            self.transport.loseConnection()

    def _close(self, code: int, reason: str | None = None) -> None:
        """
        Start the closing handshake; abort if the peer has not answered
        it within C{closeGrace} seconds (on the suite's clock: autobahn's
        own timers are off, they run on the global reactor).
        """
        self._open = False
        self.sendClose(code, reason)
        if self._abort is None and self.transport is not None:
            self._abort = self.factory.clock.callLater(self.factory.closeGrace, self.transport.abortConnection)


class LineSocketFactory(WebSocketServerFactory):
    """
    WebSocket connections bridged to the protocols of C{lineFactory}.

    @param lineFactory: called for each connection: the line protocol's
        factory (an C{IProtocolFactory}), or L{None} when it is not served.
    @param clock: for the close grace (the suite's clock).
    @param reactor: the suite's reactor.
    @param maxMessage: the largest text frame taken (bytes); a longer one
        fails the WebSocket connection.  The line protocol's own length
        limit applies below it, as for its TCP clients.

    Autobahn's own timers (opening and closing handshakes, pings) are
    off: they would run on the global reactor, not the suite's.  The
    HTTP connection's request deadline covers the opening handshake (the
    answer is immediate), the line protocol's idle timeout covers a
    silent client, and a closing handshake left unanswered is aborted
    after C{closeGrace} seconds of C{clock}.
    """

    protocol = LineSocket
    closeGrace = CLOSE_GRACE

    def __init__(self, lineFactory: Callable[[], IProtocolFactory | None], clock: IReactorTime,
                 reactor: Any = None, maxMessage: int = 64 * 1024) -> None:
        super().__init__(reactor=reactor if reactor is not None else clock)
        self.lineFactory = lineFactory
        self.clock = clock
        self.setProtocolOptions(maxFramePayloadSize=maxMessage, maxMessagePayloadSize=maxMessage,
                                openHandshakeTimeout=0, closeHandshakeTimeout=0, autoPingInterval=0)

    def forRequest(self, channel: IProtocol | None, user: str | None,
                   logout: Callable[[], object] = _nothing) -> _ForRequest:
        """
        This factory, for the one connection upgraded from C{channel} (the
        HTTP connection: told when the WebSocket is gone) by C{user}'s web
        session.
        """
        return _ForRequest(self, channel, user, logout)


class _ForRequest:
    """
    The factory as one upgrade request sees it: its protocol knows the
    HTTP connection and the user.
    """

    def __init__(self, factory: LineSocketFactory, channel: IProtocol | None, user: str | None,
                 logout: Callable[[], object]) -> None:
        self._factory = factory
        self._channel = channel
        self._user = user
        self._logout = logout

    def buildProtocol(self, addr: Any) -> LineSocket:
        protocol = self._factory.buildProtocol(addr)
        protocol.upgradedFrom = self._channel
        protocol.verifiedUser = self._user
        protocol.verifiedLogout = self._logout
        return protocol


def textFrames(lines: list[bytes]) -> bytes:
    """
    Each of C{lines} (UTF-8) as one unmasked final text frame of a server
    (RFC 6455 §5.2), written straight to the transport: a chat fan-out
    sends many small frames, and autobahn's C{sendMessage} costs several
    times the line itself.  Safe because this server sends only whole text
    frames (no fragments, no compression is negotiated) and autobahn's
    own frames (pong, close) are whole frames too.
    """
    out = []
    for line in lines:
        size = len(line)
        if size < 126:
            out.append(_SHORT.pack(0x81, size))
        elif size < 65536:
            out.append(_MEDIUM.pack(0x81, 126, size))
        else:
            out.append(_LONG.pack(0x81, 127, size))
        out.append(line)
    return b"".join(out)


_SHORT, _MEDIUM, _LONG = struct.Struct("!BB"), struct.Struct("!BBH"), struct.Struct("!BBQ")
_lastFramed: list[Any] = [None, b""]      # the last lines framed by FrameTransport.frame, and their frames


def sameOrigin(origin: str | None, host: str, secure: bool) -> bool:
    """
    May a page from C{origin} open a WebSocket on C{host} (the C{Host}
    header)?  Without an C{Origin} (not a browser), yes; a browser's must
    name this very host and port, with the scheme of this connection.
    """
    if origin is None:
        return True
    scheme = "https" if secure else "http"
    default = 443 if secure else 80
    try:
        page = urlsplit(origin)
        here = urlsplit("//" + host)
        return (page.scheme == scheme and bool(page.hostname) and page.hostname == here.hostname
                and (page.port or default) == (here.port or default))
    except ValueError:          # a port that is not a number
        return False


@implementer(IResource)
class ChatSocketResource(Resource):
    """
    C{/chat}: the WebSocket upgrade to the chat, or the page.

    @param sockets: the bridge's factory.
    @param page: renders a request that is not an upgrade (the chat page).
    @param sessionUser: request -> the user of its valid web session, or
        L{None} (a guest, as on TCP: the chat's own rules apply).
    """

    isLeaf = True

    def __init__(self, sockets: LineSocketFactory, page: IResource,
                 sessionUser: Callable[[Any], str | None]) -> None:
        super().__init__()
        self._sockets = sockets
        self._page = page
        self._sessionUser = sessionUser

    def render(self, request: Any) -> Any:
        upgrade = (request.getHeader(b"upgrade") or b"").lower()
        if upgrade != b"websocket":
            return self._page.render(request)
        sockets = self._sockets.forRequest(request.channel, self._sessionUser(request))
        return WebSocketResource(sockets).render(request)
