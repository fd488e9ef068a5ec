# -*- test-case-name: tests.http.test_websocket -*-
"""
The chat over WebSocket (L{twisted_mail_suite.http.websocket}): the bridge
on real loopback sockets, with autobahn's client on one side and a TCP
chat client on the other; and the pieces (frames, origin check) alone.
"""
from __future__ import annotations

from typing import Any, Callable

from autobahn.twisted.websocket import WebSocketClientFactory, WebSocketClientProtocol
from twisted.internet import defer, reactor
from twisted.internet.endpoints import TCP4ClientEndpoint, connectProtocol
from twisted.internet.interfaces import INegotiated
from twisted.internet.testing import StringTransport
from twisted.trial.unittest import SynchronousTestCase
from twisted.internet.task import deferLater
from twisted.internet.threads import deferToThread

from tests.integration.test_chat_loopback import ChatLoopbackTestCase, LineClient
from twisted_mail_suite.http.avatars import WebUser
from twisted_mail_suite.http.websocket import FrameTransport, sameOrigin, textFrames


def _get(url: str) -> tuple[int, str]:
    """
    GET C{url} without following a redirect: (status, Location).
    """
    import http.client
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
    try:
        connection.request("GET", parts.path)
        response = connection.getresponse()
        response.read()
        return response.status, response.getheader("Location") or ""
    finally:
        connection.close()


class SocketClient(WebSocketClientProtocol):
    """
    A WebSocket chat client for tests: one line per text frame, with
    L{LineClient}'s C{expect}.
    """

    def __init__(self) -> None:
        super().__init__()
        self.lines = LineClient()
        self.opened: defer.Deferred = defer.Deferred()
        self.closed = self.lines.closed
        self.closeCode: int | None = None

    def onOpen(self) -> None:
        self.opened.callback(self)

    def onMessage(self, payload: bytes, isBinary: bool) -> None:
        self.lines.dataReceived(payload + b"\n")

    def onClose(self, wasClean: bool, code: int | None, reason: str | None) -> None:
        self.closeCode = code
        if not self.opened.called:
            self.opened.errback(ConnectionError(f"refused: {code} {reason}"))
        self.lines.connectionLost(None)

    def send(self, line: str) -> None:
        self.sendMessage(line.encode("utf-8"), isBinary=False)

    def expect(self, wanted: str | Callable[[str], bool]) -> defer.Deferred:
        return self.lines.expect(wanted)


class BridgeTestCase(ChatLoopbackTestCase):
    """
    A suite with its chat and its web listener on loopback: C{/chat} is
    the bridge to that chat.
    """

    overrides = {"http.listen": ["tcp:0:interface=127.0.0.1"]}

    @property
    def webPort(self) -> int:
        return self.port("http")

    @defer.inlineCallbacks
    def socket(self, origin: str | None = None, joined: bool = True, user: str | None = None) -> Any:
        """
        A WebSocket client on C{/chat}, with a web session of C{user} if given.
        """
        headers = {}
        if user is not None:
            session = self.suite.factories["http"].auth.sessions.create(WebUser(user))
            headers["Cookie"] = f"mailsuite_session={session.token}"
        factory = WebSocketClientFactory(f"ws://127.0.0.1:{self.webPort}/chat", origin=origin, headers=headers)
        factory.protocol = SocketClient
        factory.setProtocolOptions(openHandshakeTimeout=0, closeHandshakeTimeout=0, serverConnectionDropTimeout=0)
        client = yield connectProtocol(TCP4ClientEndpoint(reactor, "127.0.0.1", self.webPort),
                                       factory.buildProtocol(None))
        self.addCleanup(self.closeSocket, client)
        yield client.opened
        if joined:
            yield client.expect(lambda line: line.startswith("*** you joined #lobby"))
        return client

    def closeSocket(self, client: SocketClient) -> defer.Deferred:
        if not client.closed.called:
            client.transport.loseConnection()
        return client.closed


class ChatOverWebSocketTests(BridgeTestCase):
    """
    A WebSocket client is one more chat client of the same rooms.
    """

    @defer.inlineCallbacks
    def test_lineReachesTCPAndBack(self) -> Any:
        """
        A line sent in a text frame reaches a TCP chat client, and its
        answer comes back as one text frame.
        """
        tcp = yield self.connect()
        web = yield self.socket()
        web.send("hello from the browser")
        yield tcp.expect("[#lobby] guest-2: hello from the browser")
        tcp.send("hello from telnet")
        line = yield web.expect(lambda line: "hello from telnet" in line)
        self.assertEqual(line, "[#lobby] guest-1: hello from telnet")

    @defer.inlineCallbacks
    def test_directLinesKeepTheirPlace(self) -> Any:
        """
        Once the connection underneath has drained, chat lines are framed
        and written straight to its socket; after autobahn itself writes
        (a pong), they wait behind it: the client gets both in order.
        """
        web = yield self.socket()
        events: list[Any] = []
        web.onPong = lambda payload: events.append(("pong", payload))
        web.onMessage = lambda payload, isBinary: events.append(("line", payload))
        member = next(iter(self.suite.factories["chat"].hub.online.values()))
        self.assertEqual(member.outputPending, 0)          # the fast path is open
        socket = member.transport.wire.protocol
        socket.sendPong(b"p")
        member.deliver(b"after the pong\n")
        member.deliver(b"and another\n")
        for _ in range(100):
            if len(events) == 3:
                break
            yield deferLater(reactor, 0.01, lambda: None)
        self.assertEqual(events, [("pong", b"p"), ("line", b"after the pong"), ("line", b"and another")])

    @defer.inlineCallbacks
    def test_commands(self) -> Any:
        """
        The chat's own commands answer over WebSocket (here C{/rooms}).
        """
        web = yield self.socket()
        web.send("/join dev")
        yield web.expect("*** you joined #dev (1 here)")
        web.send("/rooms")
        rooms = yield web.expect(lambda line: line.startswith("*** rooms"))
        self.assertIn("#dev(1)", rooms)

    @defer.inlineCallbacks
    def test_countsAgainstAdmission(self) -> Any:
        """
        A WebSocket chat client holds one of the chat's connections, and
        none of the web's once upgraded.
        """
        yield self.socket()
        self.assertEqual(self.suite.factories["chat"].connections, 1)
        self.assertEqual(self.suite.factories["http"].connections, 0)

    @defer.inlineCallbacks
    def test_closedWhenChatQuits(self) -> Any:
        """
        C{/quit} says bye and closes the WebSocket normally; the chat
        connection is released.
        """
        web = yield self.socket()
        web.send("/quit")
        yield web.expect("*** bye")
        yield web.closed
        self.assertEqual(web.closeCode, 1000)
        self.assertEqual(self.suite.factories["chat"].connections, 0)
        self.assertEqual(self.suite.factories["http"].connections, 0)

    @defer.inlineCallbacks
    def test_clientGoneReleases(self) -> Any:
        """
        A WebSocket client that drops its TCP connection frees its chat
        and HTTP connections, and leaves the room.
        """
        tcp = yield self.connect()
        web = yield self.socket()
        web.transport.abortConnection()
        yield web.closed
        yield tcp.expect(lambda line: line.startswith("*** guest-2 left"))
        self.assertEqual(self.suite.factories["chat"].connections, 1)
        self.assertEqual(self.suite.factories["http"].connections, 0)

    @defer.inlineCallbacks
    def test_pageWithoutUpgrade(self) -> Any:
        """
        C{/chat} without the upgrade is the page (here: a stranger is sent to the login form).
        """
        response = yield deferToThread(_get, f"http://127.0.0.1:{self.webPort}/chat")
        self.assertEqual(response, (303, "/login?next=/chat"))

    @defer.inlineCallbacks
    def test_crossOriginRefused(self) -> Any:
        """
        A page of another site may not open the chat with the visitor's session.
        """
        yield self.assertFailure(self.socket(origin="http://evil.example", joined=False), ConnectionError)
        self.assertEqual(self.suite.factories["chat"].connections, 0)

    @defer.inlineCallbacks
    def test_sameOriginAccepted(self) -> Any:
        """
        The chat page's own origin is accepted.
        """
        yield self.socket(origin=f"http://127.0.0.1:{self.webPort}")


class VerifiedUserTests(BridgeTestCase):
    """
    The user of the web session is logged in to the chat.
    """

    @defer.inlineCallbacks
    def test_loggedInAsSessionUser(self) -> Any:
        """
        The session's user speaks under their own name, as after C{/login}.
        """
        tcp = yield self.connect()
        web = yield self.socket(user="alice")
        yield web.expect("*** logged in as alice")
        web.send("hi")
        yield tcp.expect("[#lobby] alice: hi")

    @defer.inlineCallbacks
    def test_newMailNotice(self) -> Any:
        """
        Mail delivered to the session's user is announced on the WebSocket at once.
        """
        web = yield self.socket(user="alice")
        yield web.expect("*** logged in as alice")
        yield self.suite.sendMail("carol@example.net", "alice@example.test",
                                  b"From: carol@example.net\r\nSubject: Lunch?\r\n\r\nnoon?\r\n")
        line = yield web.expect(lambda line: line.startswith("*** new mail"))
        self.assertEqual(line, "*** new mail from carol@example.net: Lunch?")


class FrameTransportTests(SynchronousTestCase):
    """
    L{FrameTransport} turns the lines a protocol writes into frames.
    """

    def setUp(self) -> None:
        self.sent: list[bytes] = []
        self.closed: list[bool] = []
        outer = self

        class Socket:
            transport = StringTransport()

            def sendLines(self, lines: list[bytes]) -> None:
                outer.sent.extend(lines)

            def closeSocket(self) -> None:
                outer.closed.append(True)

            sending = True

        self.transport = FrameTransport(Socket())  # type: ignore[arg-type]

    def test_oneFramePerLine(self) -> None:
        """
        Each complete line is one frame, without its line end.
        """
        self.transport.write(b"one\r\ntwo\nthree\n")
        self.assertEqual(self.sent, [b"one", b"two", b"three"])

    def test_partialLineWaits(self) -> None:
        """
        A line written in pieces goes out once complete.
        """
        self.transport.write(b"hel")
        self.assertEqual(self.sent, [])
        self.transport.writeSequence([b"lo\nwor", b"ld"])
        self.assertEqual(self.sent, [b"hello"])

    def test_framedOnce(self) -> None:
        """
        C{frame} gives the frames of whole lines, the same object for the
        same bytes (a fan-out frames a line once for all its members).
        """
        line = b"one\r\ntwo\n"
        frames = self.transport.frame(line)
        self.assertEqual(frames, textFrames([b"one", b"two"]))
        self.assertIs(self.transport.frame(line), frames)
        self.assertIsNot(self.transport.frame(bytes(bytearray(line))), frames)    # equal bytes, another object

    def test_notFramedAlone(self) -> None:
        """
        A partial line, or whole lines behind a held partial one, are not
        framed alone: they are written.
        """
        self.assertIsNone(self.transport.frame(b"hal"))
        self.transport.write(b"hal")
        self.assertIsNone(self.transport.frame(b"f\n"))

    def test_wire(self) -> None:
        """
        The wire is the WebSocket connection's transport.
        """
        self.assertIsInstance(self.transport.wire, StringTransport)

    def test_loseConnectionClosesSocket(self) -> None:
        """
        Closing the transport closes the WebSocket.
        """
        self.transport.loseConnection()
        self.assertEqual(self.closed, [True])

    def test_plainIsNotSecure(self) -> None:
        """
        Over plain TCP, the line protocol is not told it is encrypted.
        """
        self.assertFalse(INegotiated.providedBy(self.transport))


class TextFramesTests(SynchronousTestCase):
    """
    L{textFrames}: the server's text frames (RFC 6455 §5.2; autobahn's
    client reads them in the tests above).
    """

    def test_lengths(self) -> None:
        """
        Short, 16-bit and 64-bit lengths are framed as RFC 6455 says: FIN
        and opcode 1, no mask.
        """
        heads = {0: b"\x81\x00", 125: b"\x81\x7d", 126: b"\x81\x7e\x00\x7e", 65535: b"\x81\x7e\xff\xff",
                 65536: b"\x81\x7f\x00\x00\x00\x00\x00\x01\x00\x00"}
        for size, head in heads.items():
            self.assertEqual(textFrames([b"x" * size]), head + b"x" * size, size)

    def test_several(self) -> None:
        """
        Several lines are several frames, in order, in one piece.
        """
        self.assertEqual(textFrames([b"one", "d\u00e9j\u00e0".encode()]),
                         b"\x81\x03one\x81\x06d\xc3\xa9j\xc3\xa0")


class SameOriginTests(SynchronousTestCase):
    """
    L{sameOrigin}: the browser's C{Origin} against the C{Host} header.
    """

    def test_noOrigin(self) -> None:
        """
        A client that is not a browser sends no C{Origin}: allowed.
        """
        self.assertTrue(sameOrigin(None, "127.0.0.1:8080", False))

    def test_samePort(self) -> None:
        """
        The same scheme, host and port are the same origin.
        """
        self.assertTrue(sameOrigin("http://127.0.0.1:8080", "127.0.0.1:8080", False))
        self.assertTrue(sameOrigin("https://mail.example", "mail.example", True))
        self.assertTrue(sameOrigin("http://[::1]:8080", "[::1]:8080", False))

    def test_different(self) -> None:
        """
        Another host, port or scheme is another origin; so is nonsense.
        """
        self.assertFalse(sameOrigin("http://evil.example:8080", "127.0.0.1:8080", False))
        self.assertFalse(sameOrigin("http://127.0.0.1:8081", "127.0.0.1:8080", False))
        self.assertFalse(sameOrigin("http://mail.example", "mail.example", True))
        self.assertFalse(sameOrigin("null", "127.0.0.1:8080", False))
        self.assertFalse(sameOrigin("http://127.0.0.1:x", "127.0.0.1:8080", False))
