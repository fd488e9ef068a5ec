# -*- test-case-name: tests.smtp.test_connection -*-
"""
An SMTP connection on the chassis: admission (refusals are not counted),
the lifecycle phases a shutdown sees, the idle timeouts around a pending
step, and the factory built from explicit dependencies.
"""
from __future__ import annotations

from typing import Any

from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase
from zope.interface.verify import verifyObject

from twisted_mail_suite.delivery import DeliveryTarget
from twisted_mail_suite.net.lifecycle import IDrainable, IManagedConnection, Phase
from twisted_mail_suite.smtp.connection import SMTPConnection
from twisted_mail_suite.smtp.factory import SMTPFactory, makeFactory

from ..fakes import makeSuiteAround
from .helpers import Client, ManualCommitStore, TLSStringTransport, newSuite

START = b"MAIL FROM:<a@b.test>\r\nRCPT TO:<alice@example.test>\r\nDATA\r\n"


class InterfaceTests(SynchronousTestCase):
    def test_interfaces(self) -> None:
        """
        The factory provides C{IDrainable}, its connections C{IManagedConnection}.
        """
        suite = newSuite(self)
        client = Client(suite)
        self.assertTrue(verifyObject(IDrainable, client.factory))
        self.assertTrue(verifyObject(IManagedConnection, client.protocol))


class AdmissionTests(SynchronousTestCase):
    def test_refusedNotCounted(self) -> None:
        """
        A refused connection never counts, before or after it is lost.
        """
        suite = newSuite(self, **{"smtp.max_connections_per_ip": 1})
        first = Client(suite)
        refused = Client(suite)
        registry = first.factory.manager.registry
        self.assertEqual(refused.codes(b""), [b"421 4.7.0"])
        self.assertEqual((registry.connections, registry.countFor("127.0.0.1")), (1, 1))
        refused.protocol.connectionLost(None)
        self.assertEqual((registry.connections, registry.countFor("127.0.0.1")), (1, 1))

    def test_releasedOnce(self) -> None:
        """
        A connection lost twice gives its place back once.
        """
        suite = newSuite(self)
        first, second = Client(suite), Client(suite)
        registry = first.factory.manager.registry
        first.protocol.connectionLost(None)
        first.protocol.connectionLost(None)
        self.assertEqual(registry.connections, 1)
        self.assertFalse(second.closed)

    def test_drainingReply(self) -> None:
        """
        While draining, a new connection gets exactly C{421 4.3.2 <host> Service shutting down}.
        """
        suite = newSuite(self)
        suite.factories["smtp"].drain(10)
        client = Client(suite)
        self.assertEqual(client.transport.value(), b"421 4.3.2 mx.example.test Service shutting down\r\n")
        self.assertTrue(client.closed)

    def test_busyReply(self) -> None:
        """
        Past the limit, a new connection gets exactly C{421 4.7.0 <host> Too many connections, ...}.
        """
        suite = newSuite(self, **{"smtp.max_connections": 1})
        Client(suite)
        client = Client(suite, transport=TLSStringTransport("192.0.2.1"))
        self.assertEqual(client.transport.value(),
                         b"421 4.7.0 mx.example.test Too many connections, try again later\r\n")


class LifecycleTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.suite, self.store = makeSuiteAround(self, ManualCommitStore)
        self.client = Client(self.suite)
        self.client.greet()
        self.lifecycle = self.client.protocol._lifecycle

    def test_busyWithWorkInHand(self) -> None:
        """
        The connection is busy from DATA until the commit is answered.
        """
        self.assertIs(self.lifecycle.phase, Phase.OPEN)
        self.client.send(START + b"text\r\n")
        self.assertIs(self.lifecycle.phase, Phase.BUSY)
        self.client.send(b".\r\n")
        self.assertIs(self.lifecycle.phase, Phase.BUSY)
        self.store.release()
        self.assertIs(self.lifecycle.phase, Phase.OPEN)

    def test_phasesOfAShutdown(self) -> None:
        """
        A shutdown with a commit under way drains, then closes after the
        answer; the Deferred fires once the connection is gone.
        """
        self.client.send(START + b"text\r\n.\r\n")
        gone = self.client.protocol.shutdown()
        self.assertIs(self.lifecycle.phase, Phase.DRAINING)
        self.store.release()
        self.assertIs(self.lifecycle.phase, Phase.CLOSING)
        self.assertNoResult(gone)
        self.client.protocol.connectionLost(None)
        self.assertIs(self.lifecycle.phase, Phase.GONE)
        self.successResultOf(gone)

    def test_notIdleWhileCommitting(self) -> None:
        """
        A connection waiting for its commit is not timed out; once answered,
        the command timeout starts afresh.
        """
        self.client.send(START + b"text\r\n.\r\n")
        self.suite.reactor.advance(self.suite.config.smtp.command_timeout * 2)
        self.assertFalse(self.client.closed)
        self.store.release()
        self.assertEqual(self.client.codes(b""), [b"250 2.0.0"])
        self.suite.reactor.advance(self.suite.config.smtp.command_timeout - 1)
        self.assertFalse(self.client.closed)
        self.suite.reactor.advance(1)
        self.assertEqual(self.client.codes(b""), [b"421 4.4.2"])


class TimerTests(SynchronousTestCase):
    """
    A connection per message makes no delayed call of its own: its idle
    timeout and its close grace are timed by the factory's one timer.
    """

    def connectAndQuit(self, suite: Any) -> Client:
        client = Client(suite)
        self.assertEqual(client.codes(b"EHLO c.test\r\nQUIT\r\n"), [b"220", b"250", b"221 2.0.0"])
        client.protocol.connectionLost(None)
        return client

    def test_oneTimer(self) -> None:
        """
        Connections one after the other share the factory's timer, which
        a drain stops once they are gone.
        """
        suite = newSuite(self)
        self.connectAndQuit(suite)
        calls = suite.reactor.getDelayedCalls()
        self.assertEqual(len(calls), 1)
        for _ in range(3):
            self.connectAndQuit(suite)
            self.assertEqual(suite.reactor.getDelayedCalls(), calls)
        suite.factories["smtp"].drain(30)
        self.assertEqual(suite.reactor.getDelayedCalls(), [])

    def test_closeGrace(self) -> None:
        """
        The close grace runs on that timer too: a client that does not
        take its 221 is aborted after it, one that goes is not.
        """
        suite = newSuite(self)
        gone = self.connectAndQuit(suite)
        stays = Client(suite)
        stays.send(b"QUIT\r\n")
        suite.reactor.advance(SMTPConnection.closeGrace)
        self.assertEqual((stays.transport.disconnecting, stays.transport.disconnected), (True, True))
        self.assertFalse(gone.transport.disconnected)


class Options:
    """
    A stand-in for the suite's TLS: C{options} may appear later.
    """

    options: Any = None


class FactoryTests(SynchronousTestCase):
    def test_makeFactory(self) -> None:
        """
        The maker gives the factory the role's section, the host name, and
        one delivery target over the suite's store.
        """
        suite = newSuite(self)
        factory = makeFactory(suite.parts, "submission")
        self.assertIs(factory.config, suite.config.submission)
        self.assertEqual(factory.hostname, b"mx.example.test")
        self.assertIsInstance(factory.target, DeliveryTarget)
        self.assertIs(factory.target.store, suite.parts.store)
        self.assertTrue(factory.authRequired)

    def test_builtByHand(self) -> None:
        """
        A factory built from explicit pieces (no TLS) serves a session
        without offering STARTTLS.
        """
        suite = newSuite(self)
        factory = SMTPFactory(suite.config.smtp, b"mx.test", suite.portal, DeliveryTarget(suite.store),
                              None, Clock())
        transport = TLSStringTransport()
        protocol = factory.buildProtocol(transport.getPeer())
        protocol.makeConnection(transport)
        protocol.dataReceived(b"EHLO c.test\r\n")
        lines = transport.value().split(b"\r\n")
        self.assertEqual(lines[0], b"220 mx.test ESMTP twisted-mail-suite ready")
        self.assertNotIn(b"250-STARTTLS", lines)

    def test_tlsOptionsReadLate(self) -> None:
        """
        STARTTLS is offered once the TLS options exist, even if they came
        after the factory was built.
        """
        suite = newSuite(self)
        tls = Options()
        factory = SMTPFactory(suite.config.smtp, b"mx.test", suite.portal, DeliveryTarget(suite.store),
                              tls, Clock())
        transport = TLSStringTransport()
        protocol = factory.buildProtocol(transport.getPeer())
        protocol.makeConnection(transport)
        protocol.dataReceived(b"EHLO c.test\r\n")
        self.assertNotIn(b"250-STARTTLS", transport.value().split(b"\r\n"))
        tls.options = suite.tls.options
        transport.clear()
        protocol.dataReceived(b"EHLO c.test\r\n")
        self.assertIn(b"250-STARTTLS", transport.value().split(b"\r\n"))
