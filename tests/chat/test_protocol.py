# -*- test-case-name: tests.chat.test_protocol -*-
"""
Tests for L{twisted_mail_suite.chat.protocol}: bytes in, bytes out, on
C{StringTransport}s and the fake suite's clock.
"""
from __future__ import annotations

import email

from twisted.internet.interfaces import IPullProducer, IPushProducer
from twisted.internet.testing import StringTransport
from twisted.trial.unittest import SynchronousTestCase
from zope.interface.verify import verifyObject

from twisted_mail_suite.net import output
from twisted_mail_suite.chat.factory import makeFactory
from twisted_mail_suite.chat.room import IParticipant
from twisted_mail_suite.events import NewMailEvent

from ..fakes import maildirOf
from .support import Client, StallingTransport, chatSuite

GREETING = "*** welcome to the chat on mx.example.test; /help lists the commands"


class ChatTestCase(SynchronousTestCase):
    chatConfig: dict = {}

    def setUp(self) -> None:
        self.suite, self.factory = chatSuite(self, **self.chatConfig)
        self.clock = self.suite.reactor

    def connect(self, host: str = "127.0.0.1", quiet: bool = True) -> Client:
        client = Client(self.factory, host)
        if quiet:
            client.lines()
        return client

    def clients(self, count: int) -> list[Client]:
        clients = [self.connect() for _ in range(count)]
        for client in clients:
            client.lines()
        return clients


class ConnectionTests(ChatTestCase):
    """
    Greeting, guest names, the factory contract.
    """

    def test_makeFactory(self) -> None:
        """
        The suite built its chat factory with L{makeFactory}.
        """
        self.assertEqual(type(makeFactory(self.suite.parts, "chat")), type(self.factory))

    def test_interfaces(self) -> None:
        """
        A chat connection is a participant and a producer for its transport.
        """
        client = self.connect()
        self.assertTrue(verifyObject(IParticipant, client.protocol))
        self.assertTrue(verifyObject(IPushProducer, client.protocol))
        self.assertTrue(verifyObject(IPullProducer, client.protocol))
        self.assertIs(client.transport.producer, client.protocol)

    def test_greetingThenGuestName(self) -> None:
        """
        A client is greeted, then told its guest name.
        """
        client = self.connect(quiet=False)
        self.assertEqual(client.lines(), [GREETING, "*** you are guest-1",
                                          "*** you joined #lobby (1 here)"])

    def test_tcpNoDelay(self) -> None:
        """
        Accepted connections get TCP_NODELAY.
        """
        class TCPTransport(StallingTransport):
            noDelay = False

            def setTcpNoDelay(self, enabled: bool) -> None:
                self.noDelay = enabled

        transport = TCPTransport()
        Client(self.factory, transport=transport)
        self.assertTrue(transport.noDelay)

    def test_quit(self) -> None:
        """
        C{/quit} says goodbye, closes, and the room hears of the departure.
        """
        ann, ben = self.clients(2)
        ann.send("/quit")
        self.assertEqual(ann.lines(), ["*** bye"])
        self.assertTrue(ann.closing)
        self.assertEqual(ben.lines(), ["*** guest-1 left #lobby"])
        ann.disconnect()
        self.assertEqual(self.factory.connections, 1)

    def test_disconnectLeaves(self) -> None:
        """
        A lost connection leaves the room and frees its name.
        """
        ann, ben = self.clients(2)
        ann.disconnect()
        self.assertEqual(ben.lines(), ["*** guest-1 left #lobby"])
        self.assertIsNone(self.factory.hub.find("guest-1"))

    def test_shutdown(self) -> None:
        """
        Stopping the factory tells everyone and closes their connections.
        """
        ann = self.connect()
        self.factory.stopFactory()
        self.assertEqual(ann.lines(), ["*** the chat server is shutting down"])
        self.assertTrue(ann.closing)

    def test_shutdownIncludesUnnamed(self) -> None:
        """
        Connections not yet logged in (C{require_login}) are closed too.
        """
        self.suite, self.factory = chatSuite(self, require_login=True)
        ann = self.connect()
        self.factory.stopFactory()
        self.assertTrue(ann.closing)

    def test_drain(self) -> None:
        """
        C{drain} closes everyone and fires once the last connection is gone.
        """
        ann, ben = self.clients(2)
        d = self.factory.drain(10)
        self.assertTrue(ann.closing and ben.closing)
        ann.disconnect()
        self.assertNoResult(d)
        ben.disconnect()
        self.successResultOf(d)
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def test_drainTimeout(self) -> None:
        """
        Connections still there after the timeout are aborted.
        """
        ann = self.connect()
        d = self.factory.drain(5)
        self.clock.advance(5)
        self.successResultOf(d)
        self.assertTrue(ann.transport.aborted)

    def test_drainNobody(self) -> None:
        """
        With no connection, C{drain} is done at once.
        """
        self.successResultOf(self.factory.drain(5))

    def test_internalErrorAnswered(self) -> None:
        """
        An unexpected failure in a command is logged and answered with an
        error line; the connection stays up.
        """
        ann = self.connect()

        def broken(*args: object) -> None:
            raise RuntimeError("boom")

        self.patch(self.factory.hub, "relay", broken)
        self.patch(self.factory.hub, "who", broken)
        ann.send("hi")
        ann.send("who")
        self.assertEqual(ann.lines(), ["!!! internal error, sorry"] * 2)
        self.assertEqual(len(self.flushLoggedErrors(RuntimeError)), 2)
        self.assertFalse(ann.closing)


class ConnectionLimitTests(ChatTestCase):
    """
    C{chat.max_connections} and C{chat.max_connections_per_ip}.
    """

    chatConfig = {"max_connections": 3, "max_connections_per_ip": 2}

    def test_perAddress(self) -> None:
        """
        Past the per-address limit a client is told and closed.
        """
        self.connect("192.0.2.1"), self.connect("192.0.2.1")
        third = Client(self.factory, "192.0.2.1")
        self.assertEqual(third.lines(), ["!!! too many connections from your address"])
        self.assertTrue(third.closing)
        third.disconnect()
        self.assertEqual(self.factory.connections, 2)

    def test_total(self) -> None:
        """
        Past the total limit a client is told and closed.
        """
        for host in ("192.0.2.1", "192.0.2.2", "192.0.2.3"):
            self.connect(host)
        fourth = Client(self.factory, "192.0.2.4")
        self.assertEqual(fourth.lines(), ["!!! too many connections, try again later"])


class ChatCommandTests(ChatTestCase):
    """
    Talking, the seed's commands and the slash commands, end to end.
    """

    def test_broadcastNoEcho(self) -> None:
        """
        A plain line reaches the others with the sender's name, not the sender.
        """
        ann, ben, cat = self.clients(3)
        ann.send("hello 你好")
        self.assertEqual(ann.lines(), [])
        self.assertEqual(ben.lines(), ["[#lobby] guest-1: hello 你好"])
        self.assertEqual(cat.lines(), ["[#lobby] guest-1: hello 你好"])

    def test_linesTogetherRelayedTogether(self) -> None:
        """
        Chat lines that arrive in one chunk reach each member in one write,
        in order, before anything the next command causes.
        """
        ann, ben = self.clients(2)
        writes: list[bytes] = []
        self.patch(ben.protocol, "deliver", writes.append)
        ann.protocol.dataReceived(b"one\n/me two\nthree\nto|guest-2|four\nfive\n")
        self.assertEqual(writes, [b"[#lobby] guest-1: one\n[#lobby] * guest-1 two\n"
                                  b"[#lobby] guest-1: three\n",
                                  b"[private] guest-1: four\n",
                                  b"[#lobby] guest-1: five\n"])

    def test_saidBeforeQuit(self) -> None:
        """
        Lines said in the same chunk as C{/quit} still reach the room first.
        """
        ann, ben = self.clients(2)
        ann.protocol.dataReceived(b"bye all\n/quit\n")
        self.assertEqual(ben.lines(), ["[#lobby] guest-1: bye all", "*** guest-1 left #lobby"])

    def test_crlf(self) -> None:
        """
        CRLF line ends work like LF.
        """
        ann, ben = self.clients(2)
        ann.protocol.dataReceived(b"one\r\ntw")
        ann.protocol.dataReceived(b"o\r\n")
        self.assertEqual(ben.lines(), ["[#lobby] guest-1: one", "[#lobby] guest-1: two"])

    def test_seedCommands(self) -> None:
        """
        C{who}, C{rename|NAME} and C{to|NAME|TEXT} work as in the seed.
        """
        ann, ben = self.clients(2)
        ann.send("rename|Ann")
        self.assertEqual(ann.lines(), ["*** you are now Ann"])
        self.assertEqual(ben.lines(), ["*** guest-1 is now Ann"])
        ben.send("who")
        self.assertEqual(ben.lines(), ["*** who #lobby (2): Ann guest-2"])
        ben.send("to|ann|hi there")
        self.assertEqual(ann.lines(), ["[private] guest-2: hi there"])

    def test_renameRefused(self) -> None:
        """
        A rename to a taken or a registered name is refused to the renamer alone.
        """
        ann, ben = self.clients(2)
        ann.send("/nick GUEST-2", "/nick bob")
        self.assertEqual(ann.lines(), ["!!! name is taken: GUEST-2",
                                       "!!! name is reserved for a registered user: bob"])
        self.assertEqual(ben.lines(), [])

    def test_rooms(self) -> None:
        """
        C{/join}, C{/rooms} and C{/part} move between rooms.
        """
        ann, ben = self.clients(2)
        ann.send("/join dev", "/rooms")
        self.assertEqual(ann.lines(), ["*** you left #lobby", "*** you joined #dev (1 here)",
                                       "*** rooms (2): #dev(1) #lobby(1)"])
        ben.lines()
        ann.send("/me is alone", "/part")
        self.assertEqual(ben.lines(), ["*** guest-1 joined #lobby"])

    def test_help(self) -> None:
        """
        C{/help} answers with system lines naming the commands.
        """
        ann = self.connect()
        ann.send("/help")
        out = ann.lines()
        self.assertTrue(all(line.startswith("*** ") for line in out))
        for word in ("who", "rename|NAME", "to|NAME|TEXT", "/login", "/join", "/quit"):
            self.assertIn(word, "\n".join(out))

    def test_unknownCommand(self) -> None:
        """
        An unknown slash command is answered with an error to the sender alone.
        """
        ann, ben = self.clients(2)
        ann.send("/dance")
        self.assertEqual(ann.lines(), ["!!! unknown command /dance; /help lists the commands"])
        self.assertEqual(ben.lines(), [])


class OfflineMessageTests(ChatTestCase):
    """
    C{to|NAME|TEXT} to a registered user who is offline becomes mail.
    """

    def test_mailed(self) -> None:
        """
        The text of a logged-in user is mailed from C{chat@<hostname>} and
        the sender told.
        """
        ann = self.connect()
        ann.send("/login alice secret")
        ann.lines()
        ann.send("to|bob|call me, please")
        self.assertEqual(ann.lines(), ["*** bob is offline; your message was mailed to them"])
        [stored] = self.successResultOf(self.suite.store.listMessages("bob"))
        with maildirOf(self.suite).openStored("bob", stored.uid) as f:
            message = email.message_from_binary_file(f)
        self.assertIn("chat@mx.example.test", message["From"])
        self.assertIn("alice", message["Subject"])
        self.assertIn("call me, please", message.get_payload())

    def test_unknownName(self) -> None:
        """
        A private message to nobody known is an error line.
        """
        ann = self.connect()
        ann.send("/msg zed hello")
        self.assertEqual(ann.lines(), ["!!! no such user: zed"])

    def test_onlineUserNotMailed(self) -> None:
        """
        A registered user who is online gets the line, not a mail.
        """
        alice, ann = self.clients(2)
        alice.send("/login alice secret")
        alice.lines()
        ann.send("to|alice|hi")
        self.assertEqual(alice.lines(), ["[private] guest-2: hi"])
        self.assertEqual(self.successResultOf(self.suite.store.listMessages("alice")), [])


class LoginTests(ChatTestCase):
    """
    C{/login} through the shared portal.
    """

    def test_login(self) -> None:
        """
        The mail password logs in; the name becomes the user name.
        """
        ann, ben = self.clients(2)
        ann.send("/login alice secret")
        self.assertEqual(ann.lines(), ["*** logged in as alice", "*** you are now alice"])
        self.assertEqual(ben.lines(), ["*** guest-1 is now alice"])
        ann.send("/login alice secret")
        self.assertEqual(ann.lines(), ["!!! already logged in as alice"])

    def test_wrongPassword(self) -> None:
        """
        A wrong password is answered after the policy's delay.
        """
        ann = self.connect()
        ann.send("/login alice nope")
        self.assertEqual(ann.lines(), [])
        self.clock.advance(1.0)
        self.assertEqual(ann.lines(), ["!!! login failed"])
        self.assertFalse(ann.closing)

    def test_tooManyFailuresDisconnect(self) -> None:
        """
        The third failure on a connection disconnects it.
        """
        ann = self.connect()
        for _ in range(3):
            ann.send("/login alice nope")
            self.clock.advance(10)
        self.assertEqual(ann.lines(), ["!!! login failed", "!!! login failed",
                                       "!!! login failed; disconnecting"])
        self.assertTrue(ann.closing)

    def test_linesAfterLoginWait(self) -> None:
        """
        Lines sent behind a pending C{/login} are handled after its result,
        in order: a second C{/login} and a chat line are not taken early.
        """
        ann, ben = self.clients(2)
        ann.send("/login alice nope", "/login alice secret", "hello")
        self.assertEqual(ann.lines(), [])
        self.assertTrue(ann.protocol.transport.producerState == "paused")
        self.clock.advance(1.0)
        self.assertEqual(ann.lines(), ["!!! login failed", "*** logged in as alice", "*** you are now alice"])
        self.assertEqual(ben.lines(), ["*** guest-1 is now alice", "[#lobby] alice: hello"])
        self.assertEqual(ann.protocol.transport.producerState, "producing")

    def test_plaintextRefusedRemotely(self) -> None:
        """
        From a non-loopback address without TLS the password is refused.
        """
        ann = self.connect("192.0.2.7")
        ann.send("/login alice secret")
        self.assertEqual(ann.lines(),
                         ["!!! passwords are accepted only over TLS or from a loopback address"])
        self.assertIsNone(ann.protocol.user)

    def test_replacesEarlierSession(self) -> None:
        """
        Logging in again from elsewhere closes the earlier session.
        """
        first, second = self.clients(2)
        first.send("/login alice secret")
        second.send("/login alice secret")
        self.assertIn("*** you logged in from elsewhere; disconnecting", first.lines())
        self.assertTrue(first.closing)
        self.assertIs(self.factory.hub.findUser("alice"), second.protocol)
        first.disconnect()
        self.assertIs(self.factory.hub.find("alice"), second.protocol)


class RefusedLoginTests(ChatTestCase):
    """
    An address past C{auth.max_failures} is refused and disconnected.
    """

    def setUp(self) -> None:
        self.suite, self.factory = chatSuite(self, {"auth.max_failures": 1})
        self.clock = self.suite.reactor

    def test_refused(self) -> None:
        """
        After the address's failures, a login attempt disconnects at once.
        """
        ann = self.connect()
        ann.send("/login alice nope")
        self.clock.advance(10)
        ann.lines()
        ben = self.connect()
        ben.send("/login alice secret")
        self.assertEqual(ben.lines(), ["!!! too many failed logins; disconnecting"])
        self.assertTrue(ben.closing)


class RequireLoginTests(ChatTestCase):
    """
    With C{chat.require_login}, only /login, /help and /quit work before login.
    """

    chatConfig = {"require_login": True}

    def test_greeting(self) -> None:
        """
        No guest name: the client is told to log in.
        """
        client = self.connect(quiet=False)
        self.assertEqual(client.lines(), [GREETING,
                                          "*** log in with /login USER PASSWORD (your mail password)"])

    def test_onlyLoginHelpQuit(self) -> None:
        """
        Other commands and chat are refused until login.
        """
        client = self.connect()
        client.send("hello", "who", "/join dev")
        self.assertEqual(client.lines(), ["!!! log in first: /login USER PASSWORD"] * 3)
        client.send("/help")
        self.assertTrue(client.lines())

    def test_loginEnters(self) -> None:
        """
        After login the user enters the lobby under the user name.
        """
        other, client = self.connect(), self.connect()
        other.send("/login bob hunter2")
        other.lines()
        client.send("/login alice secret")
        self.assertEqual(client.lines(), ["*** logged in as alice", "*** you are alice",
                                          "*** you joined #lobby (2 here)"])
        self.assertEqual(other.lines(), ["*** alice joined #lobby"])

    def test_notOnlineBeforeLogin(self) -> None:
        """
        Unauthenticated connections are invisible to C{who}.
        """
        self.connect()
        bob = self.connect()
        bob.send("/login bob hunter2", "who")
        self.assertEqual(bob.lines()[-1], "*** who #lobby (1): bob")


class NewMailTests(ChatTestCase):
    """
    A logged-in user hears of new mail from the event bus.
    """

    def test_notice(self) -> None:
        """
        A delivery to the user's mailbox is announced with sender and subject.
        """
        alice = self.connect()
        alice.send("/login alice secret")
        alice.lines()
        delivery = self.suite.store.beginDelivery(["alice"], "carol@example.net", "Lunch?")
        delivery.write(b"Subject: Lunch?\r\n\r\nnoon\r\n")
        self.successResultOf(delivery.commit())
        self.assertEqual(alice.lines(), ["*** new mail from carol@example.net: Lunch?"])

    def test_sanitised(self) -> None:
        """
        Sender and subject are cut down to one safe line.
        """
        alice = self.connect()
        alice.send("/login alice secret")
        alice.lines()
        self.suite.bus.publish(NewMailEvent("alice", "", "evil\r\n!!! fake\x1b[2J", "uid"))
        self.assertEqual(alice.lines(), ["*** new mail from <>: evil !!! fake [2J"])

    def test_othersNotTold(self) -> None:
        """
        Guests and other users hear nothing.
        """
        guest = self.connect()
        self.suite.bus.publish(NewMailEvent("alice", "x@y", "hi", "uid"))
        self.assertEqual(guest.lines(), [])


class BadInputTests(ChatTestCase):
    """
    Overlong lines, bad encodings and control characters hurt only the sender.
    """

    chatConfig = {"max_line_length": 100}

    def test_longLine(self) -> None:
        """
        A line over the limit is refused; the next line works.
        """
        ann, ben = self.clients(2)
        ann.send("x" * 101, "ok")
        self.assertEqual(ann.lines(), ["!!! line too long (more than 100 bytes), ignored"])
        self.assertEqual(ben.lines(), ["[#lobby] guest-1: ok"])

    def test_limitWithCR(self) -> None:
        """
        A line of exactly the limit is accepted, with or without CR.
        """
        ann, ben = self.clients(2)
        ann.send("y" * 100, "z" * 100 + "\r")
        self.assertEqual(ben.lines(), ["[#lobby] guest-1: " + "y" * 100,
                                       "[#lobby] guest-1: " + "z" * 100])

    def test_hugeLineNotBuffered(self) -> None:
        """
        A megabyte without a newline is discarded as it arrives: the buffer
        never passes the limit, one error is sent, and the line after works.
        """
        ann, ben = self.clients(2)
        chunk = b"A" * 65536
        for _ in range(16):
            ann.protocol.dataReceived(chunk)
            self.assertLessEqual(len(ann.protocol._buffer), 101)
        ann.protocol.dataReceived(b"tail\nafter\n")
        self.assertEqual(ann.lines(), ["!!! line too long (more than 100 bytes), ignored"])
        self.assertEqual(ben.lines(), ["[#lobby] guest-1: after"])

    def test_invalidUTF8(self) -> None:
        """
        Invalid UTF-8 is refused, never relayed.
        """
        ann, ben = self.clients(2)
        ann.send(b"caf\xe9")
        self.assertEqual(ann.lines(), ["!!! invalid UTF-8, line ignored"])
        self.assertEqual(ben.transport.value(), b"")

    def test_controlCharacters(self) -> None:
        """
        A line with control characters (an ANSI escape) is refused.
        """
        ann, ben = self.clients(2)
        ann.send("\x1b[2Jgotcha")
        self.assertEqual(ann.lines(), ["!!! control characters are not allowed, line ignored"])
        self.assertEqual(ben.transport.value(), b"")


class FloodTests(ChatTestCase):
    """
    The token bucket: a burst passes, then lines are dropped, then the
    flooder is disconnected.
    """

    chatConfig = {"lines_per_second": 2, "burst": 5}

    def test_burstThenDropped(self) -> None:
        """
        Past the burst, lines are dropped with one error line.
        """
        ann, ben = self.clients(2)
        ann.send(*[f"line {i}" for i in range(7)])
        self.assertEqual(len(ben.lines()), 5)
        self.assertEqual(ann.lines(), ["!!! slow down: more than 2 lines a second; line dropped"])
        self.assertFalse(ann.closing)
        self.clock.advance(1)
        ann.send("again")
        self.assertEqual(ben.lines(), ["[#lobby] guest-1: again"])

    def test_floodDisconnects(self) -> None:
        """
        A client that keeps flooding is disconnected; the others are untouched.
        """
        ann, ben = self.clients(2)
        ann.send(*[f"line {i}" for i in range(20)])
        self.assertEqual(ann.lines()[-1], "!!! flooding; disconnecting")
        self.assertTrue(ann.closing)
        self.assertEqual(len(ben.lines()), 6)      # five lines, then the departure
        self.assertFalse(ben.closing)

    def test_unlimited(self) -> None:
        """
        C{lines_per_second: 0} turns the throttle off.
        """
        self.suite, self.factory = chatSuite(self, lines_per_second=0)
        ann, ben = self.clients(2)
        ann.send(*[f"line {i}" for i in range(500)])
        self.assertEqual(len(ben.lines()), 500)


class IdleTests(ChatTestCase):
    """
    Idle clients are told and disconnected after C{chat.idle_timeout}.
    """

    chatConfig = {"idle_timeout": 60}

    def test_idleKick(self) -> None:
        """
        After the timeout without a line, the client is told why and closed.
        """
        ann, ben = self.clients(2)
        self.clock.advance(59)
        ben.send("")
        self.clock.advance(1)
        self.assertEqual(ann.lines(), ["*** disconnecting: idle for 60 seconds"])
        self.assertTrue(ann.closing)
        self.assertFalse(ben.closing)
        self.clock.advance(59)
        self.assertTrue(ben.closing)

    def test_disabled(self) -> None:
        """
        C{idle_timeout: 0} never kicks.
        """
        self.suite, self.factory = chatSuite(self, idle_timeout=0)
        ann = self.connect()
        self.suite.reactor.advance(10 ** 6)
        self.assertFalse(ann.closing)


class SlowReaderTests(ChatTestCase):
    """
    A client that stops reading is dropped once its pending output passes
    C{chat.max_pending_output}; nobody else notices.
    """

    chatConfig = {"max_pending_output": "16KiB", "lines_per_second": 0}

    def test_dropped(self) -> None:
        """
        Past the transport's buffer plus the bound, the slow reader's
        connection is aborted; the sender and the others carry on.
        """
        slow, talker, reader = self.clients(3)
        line = "z" * 900
        for i in range(200):
            talker.send(line)
            reader.transport.drain()
            if slow.transport.aborted:
                break
        self.assertTrue(slow.transport.aborted)
        self.assertLessEqual(len(slow.transport.value()),
                             StallingTransport.bufferSize + 16 * 1024 + 1024)
        reader.transport.drain()
        slow.disconnect()
        talker.send("still here")
        self.assertEqual(reader.lines(), ["*** guest-1 left #lobby", "[#lobby] guest-2: still here"])

    def test_closingNonReaderAborted(self) -> None:
        """
        A client closed by the server (here for idling) that does not take
        its last lines is aborted after a grace period.
        """
        self.suite, self.factory = chatSuite(self, idle_timeout=60)
        ann = self.connect()
        self.factory.clock.advance(60)
        self.assertTrue(ann.closing)
        self.assertFalse(ann.transport.aborted)
        self.factory.clock.advance(10)
        self.assertTrue(ann.transport.aborted)

    def test_closedInTime(self) -> None:
        """
        A connection that closes in time leaves no timer behind.
        """
        ann = self.connect()
        ann.send("/quit")
        ann.disconnect()
        self.assertEqual(self.factory.clock.getDelayedCalls(), [])

    def test_catchesUp(self) -> None:
        """
        A reader that drains in time is never dropped.
        """
        slow, talker = self.clients(2)
        for i in range(300):
            talker.send("z" * 900)
            if i % 50 == 0:
                slow.transport.drain()
        self.assertFalse(slow.transport.aborted)


class FakeSocket:
    """
    A non-blocking socket (descriptor 99) taking at most C{room} more bytes.
    """

    fd = 99

    def __init__(self, room: int) -> None:
        self.room = room
        self.sent = b""

    def write(self, fd: int, data: bytes) -> int:
        assert fd == self.fd
        if not self.room:
            raise BlockingIOError()
        taken = data[:self.room]
        self.room -= len(taken)
        self.sent += taken
        return len(taken)


class FastPathTests(ChatTestCase):
    """
    The plain-TCP fan-out path: straight to the socket while the transport
    is empty, through the transport (and counted) otherwise.
    """

    chatConfig = {"max_pending_output": 100, "lines_per_second": 0}

    def fastClient(self, room: int) -> tuple[Client, FakeSocket]:
        client = self.connect()
        socket = FakeSocket(room)
        client.protocol._fd = socket.fd
        self.patch(output, "_write", socket.write)
        return client, socket

    def test_direct(self) -> None:
        """
        While nothing is queued, lines go straight to the socket.
        """
        client, socket = self.fastClient(1000)
        client.protocol.deliver(b"one\n")
        self.assertEqual((socket.sent, client.transport.value()), (b"one\n", b""))

    def test_remainderQueuedInOrder(self) -> None:
        """
        What the socket does not take goes to the transport, and so does
        everything after it until the transport says it is empty.
        """
        client, socket = self.fastClient(2)
        client.protocol.deliver(b"one\n")
        socket.room = 1000
        client.protocol.deliver(b"two\n")
        self.assertEqual((socket.sent, client.transport.value()), (b"on", b"e\ntwo\n"))
        client.protocol.resumeProducing()          # the transport drained
        client.protocol.deliver(b"three\n")
        self.assertEqual(socket.sent, b"onthree\n")

    def test_forgottenOnClose(self) -> None:
        """
        The descriptor is forgotten as soon as this side closes, and when
        the connection is lost.
        """
        client, socket = self.fastClient(1000)
        client.send("/quit")
        self.assertIsNone(client.protocol._fd)
        other, socket = self.fastClient(1000)
        other.disconnect()
        self.assertIsNone(other.protocol._fd)

    def test_boundApplies(self) -> None:
        """
        Queued bytes past C{max_pending_output} drop the client.
        """
        client, socket = self.fastClient(0)
        client.protocol.deliver(b"x" * 60)
        self.assertFalse(client.transport.aborted)
        client.protocol.deliver(b"x" * 60)
        self.assertTrue(client.transport.aborted)
        client.protocol.deliver(b"more")
        self.assertEqual(len(client.transport.value()), 60)

    def test_plainTransportsOnly(self) -> None:
        """
        Only a plain TCP transport uses the socket (never TLS or a test double).
        """
        client = self.connect()
        self.assertIsNone(client.protocol._fd)
        self.assertTrue(client.transport.streaming)


class StringTransportTests(ChatTestCase):
    """
    The protocol works over Twisted's own C{StringTransport} too.
    """

    def test_plainStringTransport(self) -> None:
        """
        A bare C{StringTransport} (no producer behaviour) carries chat.
        """
        ann = Client(self.factory, transport=StringTransport())
        ben = self.connect()
        ann.lines()
        ann.send("hi")
        self.assertEqual(ben.lines(), ["[#lobby] guest-1: hi"])


class CloseGraceTests(ChatTestCase):
    """
    Whatever closes a chat connection, a client that does not take its
    last lines is aborted C{CLOSE_GRACE} seconds later: nobody pins a
    connection by not reading.
    """

    chatConfig = {"max_connections_per_ip": 2, "idle_timeout": 60, "lines_per_second": 2, "burst": 2}

    def assertAbortedAfterGrace(self, client: Client) -> None:
        self.assertTrue(client.closing)
        self.assertFalse(client.transport.aborted)
        self.clock.advance(output.CLOSE_GRACE)
        self.assertTrue(client.transport.aborted)

    def test_refused(self) -> None:
        """
        A refused connection (here past the per-address limit) that does
        not read its one line is aborted after the grace.
        """
        self.connect("192.0.2.1"), self.connect("192.0.2.1")
        refused = Client(self.factory, "192.0.2.1")
        self.assertEqual(refused.lines(), ["!!! too many connections from your address"])
        self.assertAbortedAfterGrace(refused)

    def test_refusedGoneInTime(self) -> None:
        """
        A refused connection that goes in time leaves no timer behind.
        """
        self.connect("192.0.2.1"), self.connect("192.0.2.1")
        refused = Client(self.factory, "192.0.2.1")
        refused.disconnect()
        self.assertEqual([call for call in self.clock.getDelayedCalls()
                          if call.func == refused.transport.abortConnection], [])

    def test_quit(self) -> None:
        """
        After C{/quit}.
        """
        ann = self.connect()
        ann.send("/quit")
        self.assertAbortedAfterGrace(ann)

    def test_flooding(self) -> None:
        """
        After a disconnect for flooding.
        """
        ann = self.connect()
        ann.send(*["spam"] * 10)
        self.assertAbortedAfterGrace(ann)

    def test_loggedInElsewhere(self) -> None:
        """
        After the same user logged in on another connection.
        """
        first, second = self.connect(), self.connect()     # loopback: plaintext logins allowed
        first.send("/login alice secret")
        self.clock.advance(1)
        second.send("/login alice secret")
        self.assertAbortedAfterGrace(first)

    def test_idleWithOutputStuck(self) -> None:
        """
        A client that stopped reading (its transport full and paused) and
        sends nothing is closed at the idle timeout, then aborted.
        """
        stuck, talker = self.connect("192.0.2.1"), self.connect("192.0.2.2")
        for _ in range(40):
            self.clock.advance(1)
            talker.send("z" * 2000)
        self.assertTrue(stuck.transport.producerPaused)
        self.assertFalse(stuck.closing)
        self.clock.advance(20)
        self.assertAbortedAfterGrace(stuck)


class OfflineMailFromGuestsTests(ChatTestCase):
    """
    Offline mail goes only from logged-in users: a guest's name proves
    nothing.
    """

    def test_guestRefused(self) -> None:
        """
        A guest's private message to an offline user is refused with an
        error line saying to log in; nothing is mailed.
        """
        ann = self.connect()
        ann.send("to|bob|call me, please")
        self.assertEqual(ann.lines(), ["!!! bob is offline; log in (/login USER PASSWORD) to mail them"])
        self.assertEqual(self.successResultOf(self.suite.store.listMessages("bob")), [])

    def test_fromTheUser(self) -> None:
        """
        A logged-in user's mail names the user, whatever the nick.
        """
        ann = self.connect()
        ann.send("/login alice secret", "/nick totally-bob")
        ann.lines()
        ann.send("/msg bob hi")
        [stored] = self.successResultOf(self.suite.store.listMessages("bob"))
        with maildirOf(self.suite).openStored("bob", stored.uid) as f:
            message = email.message_from_binary_file(f)
        self.assertEqual(message["Subject"], "Chat message from alice")
