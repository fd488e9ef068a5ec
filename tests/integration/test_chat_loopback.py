# -*- test-case-name: tests.integration.test_chat_loopback -*-
"""
The chat over real loopback sockets (port 0): several clients, the seed's
commands, rooms, and the cross-protocol cases (offline message read over
POP3, new-mail notice after an SMTP delivery) where those servers exist.
"""
from __future__ import annotations

import importlib
import poplib
import smtplib
import socket
from typing import Any, Callable

from twisted.internet import defer, reactor
from twisted.internet.endpoints import TCP4ClientEndpoint, connectProtocol
from twisted.internet.protocol import Protocol
from twisted.internet.threads import deferToThread
from twisted.trial.unittest import SkipTest, TestCase

from tests.fakes import makeConfig
from twisted_mail_suite.identity.passwd import InMemoryUsers
from twisted_mail_suite.bus import EventBus
from twisted_mail_suite.store.maildir import MaildirStore, runSynchronously
from twisted_mail_suite.service import MailSuiteService

USERS = {"alice": "secret", "bob": "hunter2"}


class LineClient(Protocol):
    """
    A chat client for tests: collects lines; L{expect} waits for one.
    """

    def __init__(self) -> None:
        self.buffer = b""
        self.received: list[str] = []
        self.waiting: list[tuple[Callable[[str], bool], defer.Deferred]] = []
        self.closed: defer.Deferred = defer.Deferred()

    def dataReceived(self, data: bytes) -> None:
        *complete, self.buffer = (self.buffer + data).split(b"\n")
        for raw in complete:
            line = raw.decode("utf-8")
            self.received.append(line)
            for entry in list(self.waiting):
                if entry[0](line):
                    self.waiting.remove(entry)
                    entry[1].callback(line)

    def connectionLost(self, reason: Any) -> None:
        self.closed.callback(None)

    def send(self, line: str | bytes) -> None:
        self.transport.write((line.encode("utf-8") if isinstance(line, str) else line) + b"\n")

    def expect(self, wanted: str | Callable[[str], bool]) -> defer.Deferred:
        """
        Fire with the first line (already received or still to come) that
        equals C{wanted} or satisfies it; consumes lines up to it.
        """
        match = wanted if callable(wanted) else (lambda line: line == wanted)
        for index, line in enumerate(self.received):
            if match(line):
                del self.received[:index + 1]
                return defer.succeed(line)
        d: defer.Deferred = defer.Deferred()

        def consumed(line: str) -> str:
            index = self.received.index(line)
            del self.received[:index + 1]
            return line

        self.waiting.append((match, d))
        return d.addCallback(consumed)


class ChatLoopbackTestCase(TestCase):
    timeout = 15
    otherProtocols = False
    chatListen = "tcp:0:interface=127.0.0.1"
    overrides: dict[str, Any] = {}

    def setUp(self) -> Any:
        overrides: dict[str, Any] = {"chat.lines_per_second": 0, "chat.listen": [self.chatListen]}
        if not self.otherProtocols:
            overrides.update({"smtp.listen": [], "submission.listen": [], "pop3.listen": []})
        overrides.update(self.overrides)
        config = makeConfig(self.mktemp(), **overrides)
        bus = EventBus()
        import os

        os.makedirs(config.mailDir, exist_ok=True)
        store = MaildirStore(config.mailDir, runBlocking=runSynchronously)
        self.suite = MailSuiteService(config, reactor, users=InMemoryUsers(USERS), store=store,
                                      bus=bus, runInThread=runSynchronously)
        self.suite.startService()
        self.addCleanup(self.suite.stopService)
        return self.suite.whenListening()

    def port(self, role: str = "chat") -> int:
        ports = self.suite.portsFor(role)
        if not ports:
            raise SkipTest(f"no {role} server in this build")
        return ports[0]

    def endpoint(self) -> Any:
        return TCP4ClientEndpoint(reactor, "127.0.0.1", self.port())

    @defer.inlineCallbacks
    def connect(self) -> Any:
        client = yield connectProtocol(self.endpoint(), LineClient())
        self.addCleanup(self.disconnect, client)
        yield client.expect(lambda line: line.startswith("*** you joined #lobby"))
        return client

    def disconnect(self, client: LineClient) -> defer.Deferred:
        if client.closed.called:
            return defer.succeed(None)
        client.transport.loseConnection()
        return client.closed

    @defer.inlineCallbacks
    def clients(self, count: int) -> Any:
        result = []
        for _ in range(count):
            result.append((yield self.connect()))
        return result


class ChatOverLoopbackTests(ChatLoopbackTestCase):
    """
    Several real clients in one server.
    """

    @defer.inlineCallbacks
    def test_broadcastNoEcho(self) -> Any:
        """
        A line reaches every other client and not its sender.
        """
        ann, ben, cat = yield self.clients(3)
        ann.send("hello everyone")
        yield ben.expect("[#lobby] guest-1: hello everyone")
        yield cat.expect("[#lobby] guest-1: hello everyone")
        ann.send("who")
        yield ann.expect(lambda line: line.startswith("*** who"))
        self.assertFalse([line for line in ann.received if "hello everyone" in line])

    @defer.inlineCallbacks
    def test_whoRenamePrivate(self) -> Any:
        """
        The seed's C{who}, C{rename|NAME} (refused when taken) and C{to|NAME|TEXT}.
        """
        ann, ben = yield self.clients(2)
        ann.send("rename|Ann")
        yield ann.expect("*** you are now Ann")
        ben.send("rename|ann")
        yield ben.expect("!!! name is taken: ann")
        ben.send("who")
        yield ben.expect("*** who #lobby (2): Ann guest-2")
        ben.send("to|Ann|just you")
        yield ann.expect("[private] guest-2: just you")

    @defer.inlineCallbacks
    def test_rooms(self) -> Any:
        """
        Clients in another room do not hear the lobby.
        """
        ann, ben, cat = yield self.clients(3)
        cat.send("/join dev")
        yield cat.expect("*** you joined #dev (1 here)")
        ann.send("lobby only")
        yield ben.expect("[#lobby] guest-1: lobby only")
        cat.send("/rooms")
        yield cat.expect("*** rooms (2): #dev(1) #lobby(2)")
        self.assertFalse([line for line in cat.received if "lobby only" in line])

    @defer.inlineCallbacks
    def test_loginAndNoDelay(self) -> Any:
        """
        A loopback client logs in with the mail password; the accepted
        socket has TCP_NODELAY.
        """
        ann = yield self.connect()
        ann.send("/login alice secret")
        yield ann.expect("*** logged in as alice")
        server = self.suite.factories["chat"].hub.findUser("alice")
        handle = server.transport.getHandle()
        self.assertTrue(handle.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
        self.assertEqual(server._fd, handle.fileno())      # the plain-TCP fast path

    @defer.inlineCallbacks
    def test_hugeLine(self) -> Any:
        """
        A megabyte without a newline is refused once; the connection and
        the next line still work.
        """
        ann, ben = yield self.clients(2)
        ann.transport.write(b"A" * (1024 * 1024))
        ann.send("\nafter")
        yield ann.expect("!!! line too long (more than 4096 bytes), ignored")
        yield ben.expect("[#lobby] guest-1: after")

    @defer.inlineCallbacks
    def test_quit(self) -> Any:
        """
        C{/quit} closes the connection; the others see the departure.
        """
        ann, ben = yield self.clients(2)
        ann.send("/quit")
        yield ann.closed
        yield ben.expect("*** guest-1 left #lobby")


class ChatOverTLSTests(ChatLoopbackTestCase):
    """
    An C{ssl:} chat listener.
    """

    chatListen = "ssl:0:interface=127.0.0.1"

    def endpoint(self) -> Any:
        from twisted.internet.endpoints import SSL4ClientEndpoint
        from twisted.internet.ssl import CertificateOptions

        return SSL4ClientEndpoint(reactor, "127.0.0.1", self.port(), CertificateOptions())

    @defer.inlineCallbacks
    def test_chatAndLogin(self) -> Any:
        """
        Chat and C{/login} work over TLS, and the plain-socket fast path is
        never used under TLS.
        """
        ann, ben = yield self.clients(2)
        ann.send("/login alice secret")
        yield ann.expect("*** logged in as alice")
        ann.send("over TLS")
        yield ben.expect("[#lobby] alice: over TLS")
        server = self.suite.factories["chat"].hub.findUser("alice")
        self.assertIsNone(server._fd)


class CrossProtocolTests(ChatLoopbackTestCase):
    """
    The chat and the mail servers of one suite.
    """

    otherProtocols = True

    def setUp(self) -> Any:
        for module in ("twisted_mail_suite.smtp.protocol", "twisted_mail_suite.pop3.protocol"):
            try:
                importlib.import_module(module)
            except Exception as e:
                raise SkipTest(f"{module} unavailable: {e!r}")
        return super().setUp()

    @defer.inlineCallbacks
    def test_offlineMessageReadOverPOP3(self) -> Any:
        """
        C{to|bob|...} from a logged-in user while bob is offline lands in
        his mailbox, readable over POP3.
        """
        ann = yield self.connect()
        ann.send("/login alice secret")
        yield ann.expect("*** logged in as alice")
        ann.send("to|bob|see you at noon")
        yield ann.expect("*** bob is offline; your message was mailed to them")
        port = self.port("pop3")

        def fetch() -> bytes:
            client = poplib.POP3("127.0.0.1", port, timeout=10)
            try:
                client.user("bob")
                client.pass_("hunter2")
                _, lines, _ = client.retr(1)
                return b"\n".join(lines)
            finally:
                client.quit()

        message = yield deferToThread(fetch)
        self.assertIn(b"see you at noon", message)
        self.assertIn(b"chat@mx.example.test", message)

    @defer.inlineCallbacks
    def test_newMailNoticeAfterSMTP(self) -> Any:
        """
        A logged-in user is told when SMTP delivers mail to them.
        """
        alice = yield self.connect()
        alice.send("/login alice secret")
        yield alice.expect("*** logged in as alice")
        port = self.port("smtp")

        def send() -> None:
            with smtplib.SMTP("127.0.0.1", port, timeout=10) as client:
                client.sendmail("carol@example.net", ["alice@example.test"],
                                b"From: carol@example.net\r\nSubject: Lunch?\r\n\r\nnoon\r\n")

        yield deferToThread(send)
        line = yield alice.expect(lambda line: line.startswith("*** new mail from"))
        self.assertEqual(line, "*** new mail from carol@example.net: Lunch?")
