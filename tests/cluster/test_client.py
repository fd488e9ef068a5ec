# -*- test-case-name: tests.cluster.test_client -*-
"""
The Redis client against a real redis-server: commands, bytes kept as
bytes, a fast failure while Redis is down, pub/sub resubscribed after a
restart.
"""
from __future__ import annotations

from twisted.internet import defer, reactor
from twisted.internet.threads import deferToThread
from twisted.trial.unittest import TestCase

from twisted_mail_suite.cluster.client import RedisClient, RedisSubscriber, RedisUnavailable, ResponseError
from twisted_mail_suite.clusterconfig import parseRedisURL

from .support import eventually, startRedis


class ClientTests(TestCase):
    timeout = 30

    def setUp(self) -> None:
        self.server = startRedis(self)
        address = parseRedisURL(self.server.url)
        self.client = RedisClient(reactor, address)
        self.subscriber = RedisSubscriber(reactor, address)
        for service in (self.client, self.subscriber):
            service.startService()
            self.addCleanup(service.stopService)
        return eventually(lambda: self.client.connected and self.subscriber.connected)

    @defer.inlineCallbacks
    def test_commands(self) -> None:
        self.assertEqual((yield self.client.execute(b"SET", b"k", b"\xff\x00")), b"OK")
        self.assertEqual((yield self.client.execute(b"GET", b"k")), b"\xff\x00")
        self.assertEqual((yield self.client.execute(b"INCR", b"n")), 1)
        self.assertIsNone((yield self.client.execute(b"GET", b"missing")))
        yield self.assertFailure(self.client.execute(b"INCR", b"k"), ResponseError)

    @defer.inlineCallbacks
    def test_waitsForTheFirstConnection(self) -> None:
        """
        A command given while a starting process is still connecting waits
        for the connection instead of failing.
        """
        client = RedisClient(reactor, parseRedisURL(self.server.url))
        client.startService()
        self.addCleanup(client.stopService)
        self.assertFalse(client.connected)
        self.assertEqual((yield client.execute(b"PING")), b"PONG")

    @defer.inlineCallbacks
    def test_neverConnectedTimesOut(self) -> None:
        address = parseRedisURL(self.server.url)
        yield deferToThread(self.server.stop)
        client = RedisClient(reactor, address, timeout=0.3)
        client.startService()
        self.addCleanup(client.stopService)
        yield self.assertFailure(client.execute(b"PING"), RedisUnavailable)

    @defer.inlineCallbacks
    def test_downFailsFast(self) -> None:
        yield deferToThread(self.server.stop)
        yield eventually(lambda: not self.client.connected)
        yield self.assertFailure(self.client.execute(b"GET", b"k"), RedisUnavailable)

    @defer.inlineCallbacks
    def test_resubscribesAfterRestart(self) -> None:
        received: list[bytes] = []
        self.subscriber.subscribe(b"chan", received.append)
        yield self.subscriber.whenSubscribed()
        yield self.client.execute(b"PUBLISH", b"chan", b"one \xff")
        yield eventually(lambda: received == [b"one \xff"])
        yield deferToThread(self.server.restart)
        yield eventually(lambda: self.client.connected and self.subscriber.connected)
        yield self.subscriber.whenSubscribed()
        self.assertEqual((yield self.client.execute(b"PUBLISH", b"chan", b"two")), 1)
        yield eventually(lambda: received == [b"one \xff", b"two"])

    @defer.inlineCallbacks
    def test_unsubscribe(self) -> None:
        received: list[bytes] = []
        unsubscribe = self.subscriber.subscribe(b"chan", received.append)
        yield self.subscriber.whenSubscribed()
        unsubscribe()
        yield self.subscriber.whenSubscribed()
        self.assertEqual((yield self.client.execute(b"PUBLISH", b"chan", b"x")), 0)
