# -*- test-case-name: tests.integration.test_pop3_twisted -*-
"""
The POP3 server over real loopback sockets (port 0), with Twisted's own
C{AdvancedPOP3Client} as an independent peer.
"""
from __future__ import annotations

from typing import Any

from twisted.internet import reactor
from twisted.internet.defer import gatherResults, inlineCallbacks
from twisted.internet.endpoints import TCP4ClientEndpoint, connectProtocol
from twisted.mail.pop3 import AdvancedPOP3Client
from twisted.trial.unittest import TestCase

from twisted_mail_suite.testing import startHarness

from ..pop3.support import DOTTED, LONG_BODY, NO_NEWLINE

# The harness makes random passwords unless given; these tests log in with known ones.
KNOWN_USERS = {"alice": "secret", "bob": "hunter2"}

MESSAGES = [DOTTED, LONG_BODY, NO_NEWLINE]


def lines(message: bytes) -> list[bytes]:
    parts = message.split(b"\r\n")
    return parts[:-1] if message.endswith(b"\r\n") else parts


class TwistedClientTests(TestCase):
    """
    C{twisted.mail.pop3.AdvancedPOP3Client} against the server.
    """

    timeout = 30

    @inlineCallbacks
    def setUp(self) -> Any:
        self.harness = yield startHarness(self, tls=True, users=KNOWN_USERS, passwordScheme="PLAIN",
                                           overrides={"pop3.apop": True})
        self.uids = []
        for message in MESSAGES:
            delivery = self.harness.store.beginDelivery(["alice"])
            delivery.write(message)
            self.uids.extend((yield delivery.commit()))

    @inlineCallbacks
    def connect(self) -> Any:
        client = AdvancedPOP3Client()
        endpoint = TCP4ClientEndpoint(reactor, "127.0.0.1", self.harness.pop3Port)
        yield connectProtocol(endpoint, client)
        self.addCleanup(lambda: client.transport.abortConnection() if client.transport.connected else None)
        return client

    @inlineCallbacks
    def test_listReadDeleteReread(self) -> Any:
        """
        Twisted's client parses our CAPA, logs in (APOP, offered in the
        greeting), lists sizes and unique-ids, retrieves whole messages and
        tops, deletes at QUIT.
        """
        client = yield self.connect()
        capabilities = yield client.capabilities()
        for tag in (b"TOP", b"UIDL", b"USER", b"PIPELINING", b"RESP-CODES", b"STLS"):
            self.assertIn(tag, capabilities)
        self.assertEqual(capabilities[b"SASL"], [b"PLAIN"])
        self.assertIsNotNone(client.serverChallenge)
        yield client.login(b"alice", b"secret")
        self.assertEqual((yield client.stat()), (3, sum(map(len, MESSAGES))))
        self.assertEqual((yield client.listSize()), [len(m) for m in MESSAGES])
        self.assertEqual((yield client.listUID()), [uid.split(",")[0].encode() for uid in self.uids])
        for index, message in enumerate(MESSAGES):
            self.assertEqual((yield client.retrieve(index)), lines(message))
        self.assertEqual((yield client.retrieve(1, lines=3)),
                         [b"Subject: long", b"", b"line 1", b"line 2", b"line 3"])
        yield client.delete(0)
        yield client.quit()

        again = yield self.connect()
        yield again.login(b"alice", b"secret")
        self.assertEqual((yield again.listUID()), [uid.split(",")[0].encode() for uid in self.uids[1:]])
        self.assertEqual((yield again.retrieve(1)), lines(NO_NEWLINE))
        yield again.quit()

    @inlineCallbacks
    def test_startTLSThenUserPass(self) -> Any:
        """
        Twisted's client upgrades with STLS and logs in with USER/PASS.
        """
        client = yield self.connect()
        capabilities = yield client.startTLS(self.harness.clientTLSOptions())
        self.assertNotIn(b"STLS", capabilities)
        yield client.user(b"bob")
        yield client.password(b"hunter2")
        self.assertEqual((yield client.stat()), (0, 0))
        yield client.quit()

    @inlineCallbacks
    def test_pipelinedCommands(self) -> Any:
        """
        Commands issued without waiting (the client queues them unless the
        server says PIPELINING) all get their answers in order.
        """
        client = yield self.connect()
        yield client.login(b"alice", b"secret")
        results = yield gatherResults(
            [client.retrieve(0), client.listSize(), client.retrieve(2), client.stat()])
        self.assertEqual(results, [lines(DOTTED), [len(m) for m in MESSAGES], lines(NO_NEWLINE),
                                   (3, sum(map(len, MESSAGES)))])
        yield client.quit()
