# -*- test-case-name: tests.smtp.test_backpressure -*-
"""
What a client that does not read can make the SMTP server hold (issue 12,
item 2): the connection is its transport's push producer, stops handling
commands and reading while the transport is paused, and is cut off a
grace after its last reply (221, 421) if it has not taken its output.
"""
from __future__ import annotations

from twisted.trial.unittest import SynchronousTestCase

from twisted_mail_suite.smtp import connection
from twisted_mail_suite.smtp.connection import SMTPConnection

from .helpers import Client, ReaderTransport, newSuite

EHLO = b"EHLO flood.test\r\n"
READ = 64 * 1024       # one read of a TCP transport


class OutputBackpressureTests(SynchronousTestCase):
    def setUp(self) -> None:
        # Junk limit off: only the backpressure bounds the flood here.
        self.suite = newSuite(self, **{"smtp.junk_command_limit": 0})
        self.transport = ReaderTransport()
        self.client = Client(self.suite, transport=self.transport)

    def test_registeredAsPushProducer(self) -> None:
        """
        An admitted connection is its transport's streaming producer.
        """
        self.assertIs(self.transport.producer, self.client.protocol)
        self.assertTrue(self.transport.streaming)

    def test_floodNotParsedWhileOutputPaused(self) -> None:
        """
        A flood of pipelined EHLO from a client that never reads stops
        being handled once the transport pauses the connection, and
        reading stops: what the server holds stays bounded (about the
        transport's high-water mark of replies plus one read of input).
        """
        flood = EHLO * (2 * 1024 * 1024 // len(EHLO))
        fed = self.transport.feed(self.client.protocol, flood)
        self.assertEqual(self.transport.producerState, "paused")
        self.assertLessEqual(fed, READ)
        self.assertLessEqual(self.transport.held, self.transport.highWater + 1024)
        handled = self.transport.value().count(b"250-PIPELINING")
        self.transport.feed(self.client.protocol, b"NOOP\r\n" * 1000)   # nothing more is read
        self.client.protocol.dataReceived(EHLO * 100)                 # even if delivered anyway
        self.assertEqual(self.transport.value().count(b"250-PIPELINING"), handled)

    def test_everyCommandAnsweredAsTheClientReads(self) -> None:
        """
        A client that pipelines many commands and reads slowly gets every
        reply, in order, while the server never holds more than about the
        high-water mark of output.
        """
        count = 6000
        flood = b"".join(b"EHLO n%d.test\r\n" % i for i in range(count))
        fed, replies, most = 0, b"", 0
        while fed < len(flood) or self.transport.producerPaused:
            fed += self.transport.feed(self.client.protocol, flood[fed:])
            most = max(most, self.transport.held)
            replies += self.transport.drain()
        replies += self.transport.drain()
        self.assertLessEqual(most, self.transport.highWater + 1024)
        names = [line.split(b" ")[-1] for line in replies.split(b"\r\n") if b" greets " in line]
        self.assertEqual(names, [b"n%d.test" % i for i in range(count)])
        self.assertEqual(self.transport.producerState, "producing")

    def test_idleTimeoutWhileHeld(self) -> None:
        """
        A connection held for a client that does not read still times out:
        421 4.4.2 and the connection closes.
        """
        self.transport.feed(self.client.protocol, EHLO * 10000)
        self.assertEqual(self.transport.producerState, "paused")
        self.suite.reactor.advance(self.suite.config.smtp.command_timeout)
        self.assertTrue(self.transport.value().endswith(b"Timeout, closing connection\r\n"))
        self.assertTrue(self.transport.disconnecting)

    def test_shutdownWhileHeld(self) -> None:
        """
        At shutdown a held connection (nothing in hand) gets its 421 and
        is aborted after the grace if it still does not read.
        """
        self.transport.feed(self.client.protocol, EHLO * 10000)
        d = self.suite.factories["smtp"].drain(60)
        self.assertTrue(self.transport.value().endswith(b"Service shutting down, closing connection\r\n"))
        self.assertTrue(self.transport.disconnecting)
        self.suite.reactor.advance(SMTPConnection.closeGrace)
        self.assertTrue(self.transport.disconnected)
        self.client.protocol.connectionLost(None)
        self.successResultOf(d)


class CloseGraceTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.suite = newSuite(self, **{"smtp.junk_command_limit": 0})
        self.transport = ReaderTransport()
        self.client = Client(self.suite, transport=self.transport)
        self.grace = SMTPConnection.closeGrace

    def test_quitWithUnreadOutputAborted(self) -> None:
        """
        After QUIT's 221 the transport closes once its output is sent; a
        client that never takes it is aborted after the grace.
        """
        self.transport.feed(self.client.protocol, b"EHLO c.test\r\nQUIT\r\n")
        self.assertTrue(self.transport.value().endswith(b"closing connection\r\n"))
        self.assertTrue(self.transport.disconnecting)
        self.assertIsNone(self.transport.producer)     # would keep a closing TCP transport open
        self.suite.reactor.advance(self.grace - 0.5)
        self.assertFalse(self.transport.disconnected)
        self.suite.reactor.advance(0.5)
        self.assertTrue(self.transport.disconnected)

    def test_idleTimeoutAborted(self) -> None:
        """
        After the idle timeout's 421 a client that does not read is
        aborted after the grace.
        """
        self.suite.reactor.advance(self.suite.config.smtp.command_timeout)
        self.assertTrue(self.transport.disconnecting)
        self.suite.reactor.advance(self.grace)
        self.assertTrue(self.transport.disconnected)

    def test_junkLimitAborted(self) -> None:
        """
        After the junk limit's 421 a client that does not read is aborted
        after the grace.
        """
        suite = newSuite(self, **{"smtp.junk_command_limit": 2})
        transport = ReaderTransport()
        client = Client(suite, transport=transport)
        client.protocol.dataReceived(b"FOO\r\n" * 3)
        self.assertTrue(transport.value().endswith(b"Too many errors, closing connection\r\n"))
        suite.reactor.advance(self.grace)
        self.assertTrue(transport.disconnected)

    def test_goneBeforeTheGrace(self) -> None:
        """
        A client that takes its 221 and goes is not aborted later.
        """
        self.client.send(b"QUIT\r\n")
        self.client.protocol.connectionLost(None)
        self.suite.reactor.advance(self.grace)
        self.assertFalse(self.transport.disconnected)


class DirectSocket:
    """
    The socket a plain TCP transport would give L{SMTPConnection} to send
    its replies on at once: it takes everything, and records it.
    """

    def __init__(self) -> None:
        self.sent: list[bytes] = []

    def send(self, data: bytes) -> int:
        self.sent.append(data)
        return len(data)


class GoodbyeTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.socket = DirectSocket()
        self.patch(connection, "directSocket", lambda transport: self.socket)
        self.suite = newSuite(self)
        self.transport = ReaderTransport()
        self.client = Client(self.suite, transport=self.transport)

    def test_repliesAtOnce(self) -> None:
        """
        The replies before the last go straight to the socket.
        """
        self.client.protocol.dataReceived(EHLO)
        self.assertEqual([data[:4] for data in self.socket.sent], [b"220 ", b"250-"])
        self.assertEqual(self.transport.value(), b"")

    def test_lastReplyWithTheClose(self) -> None:
        """
        QUIT's 221 goes through the transport, which sends it in the write
        that precedes the close (sent on the socket, it would cost that
        write too, an empty one); replies held with it go there too, in
        order.
        """
        self.client.protocol.dataReceived(EHLO + b"NOOP\r\nQUIT\r\n")
        self.assertEqual([data[:4] for data in self.socket.sent], [b"220 "])
        self.assertEqual([line[:4] for line in self.transport.value().split(b"\r\n")[:-1]][-3:],
                         [b"250 ", b"250 ", b"221 "])
        self.assertTrue(self.transport.disconnecting)

    def test_idleGoodbye(self) -> None:
        """
        The idle timeout's 421 too (it is said outside any read).
        """
        self.suite.reactor.advance(self.suite.config.smtp.command_timeout)
        self.assertEqual(len(self.socket.sent), 1)
        self.assertTrue(self.transport.value().startswith(b"421 4.4.2 "))
        self.assertTrue(self.transport.disconnecting)
