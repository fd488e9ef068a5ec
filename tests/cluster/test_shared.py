# -*- test-case-name: tests.cluster.test_shared -*-
"""
POP3 leases and failed-login counts in a real Redis: one holder at a
time, renewed, released by its holder only; counts atomic with their
window; a clear failure while Redis is down.
"""
from __future__ import annotations

from typing import Any

from twisted.internet import defer, reactor
from twisted.internet.threads import deferToThread
from twisted.internet.task import Clock
from twisted.trial.unittest import TestCase
from zope.interface.verify import verifyObject

from twisted_mail_suite.cluster.client import RedisClient, RedisUnavailable
from twisted_mail_suite.cluster.counters import RedisFailureCounters
from twisted_mail_suite.cluster.locks import RedisMaildropLocks
from twisted_mail_suite.cluster.shared import SharedState, processName
from twisted_mail_suite.clusterconfig import ClusterConfig, parseRedisURL
from twisted_mail_suite.errors import MailboxInUse
from twisted_mail_suite.interfaces import IFailureCounters, IMaildropLocks

from .support import eventually, startRedis


class SharedTests(TestCase):
    timeout = 30

    def setUp(self) -> Any:
        self.server = startRedis(self)
        self.client = RedisClient(reactor, parseRedisURL(self.server.url))
        self.client.startService()
        self.addCleanup(self.client.stopService)
        self.clock = Clock()
        self.locks = [RedisMaildropLocks(self.client, self.clock, lease=3.0) for _ in range(2)]
        return eventually(lambda: self.client.connected)

    def test_interfaces(self) -> None:
        verifyObject(IMaildropLocks, self.locks[0])
        verifyObject(IFailureCounters, RedisFailureCounters(self.client))

    @defer.inlineCallbacks
    def test_oneHolder(self) -> Any:
        a, b = self.locks
        release = yield a.acquire("alice")
        self.assertTrue(a.isHeld("alice"))
        yield self.assertFailure(b.acquire("alice"), MailboxInUse)
        other = yield b.acquire("bob")           # another maildrop is free
        other()
        release()
        release()                                # idempotent
        self.assertFalse(a.isHeld("alice"))
        self.assertEqual((yield self.client.execute(b"EXISTS", b"mailsuite:pop3lock:alice")), 0)  # in order
        release2 = yield b.acquire("alice")
        release2()

    @defer.inlineCallbacks
    def test_renewedWhileHeld(self) -> Any:
        a, _ = self.locks
        release = yield a.acquire("alice")
        yield self.client.execute(b"PEXPIRE", b"mailsuite:pop3lock:alice", 500)
        self.clock.advance(1.0)                  # the renewal timer is not started here: renew by hand
        a.renew()
        ttl = yield self.client.execute(b"PTTL", b"mailsuite:pop3lock:alice")   # answered after the renewal
        self.assertGreater(ttl, 2000)
        release()

    @defer.inlineCallbacks
    def test_takenAgainAfterARestart(self) -> Any:
        """
        Redis restarted (its leases forgotten): the holder takes its lease
        again as soon as it reconnects, before anyone else can.
        """
        a, b = self.locks
        release = yield a.acquire("alice")
        yield deferToThread(self.server.restart)
        yield eventually(lambda: self.client.connected)
        self.clock.advance(0)                    # the renewal scheduled on reconnection
        yield self.client.execute(b"PING")
        yield self.assertFailure(b.acquire("alice"), MailboxInUse)
        release()

    @defer.inlineCallbacks
    def test_releaseByHolderOnly(self) -> Any:
        a, b = self.locks
        release = yield a.acquire("alice")
        yield self.client.execute(b"DEL", b"mailsuite:pop3lock:alice")     # the lease expired...
        taken = yield b.acquire("alice")                                    # ...and someone else took it
        release()                                                           # the old holder's release
        yield self.client.execute(b"PING")
        self.assertIsNotNone((yield self.client.execute(b"GET", b"mailsuite:pop3lock:alice")))
        taken()

    @defer.inlineCallbacks
    def test_counters(self) -> Any:
        counters = RedisFailureCounters(self.client)
        self.assertEqual((yield counters.current("address:10.0.0.1/32")), 0)
        counts = yield defer.gatherResults([counters.bump("address:10.0.0.1/32", 60) for _ in range(5)])
        self.assertEqual(sorted(counts), [1, 2, 3, 4, 5])
        self.assertEqual((yield counters.current("address:10.0.0.1/32")), 5)
        ttl = yield self.client.execute(b"PTTL", b"mailsuite:failures:address:10.0.0.1/32")
        self.assertTrue(55_000 < ttl <= 60_000)
        yield counters.reset("address:10.0.0.1/32")
        self.assertEqual((yield counters.current("address:10.0.0.1/32")), 0)

    @defer.inlineCallbacks
    def test_downIsClear(self) -> Any:
        yield deferToThread(self.server.stop)
        yield eventually(lambda: not self.client.connected)
        yield self.assertFailure(self.locks[0].acquire("alice"), RedisUnavailable)
        yield self.assertFailure(RedisFailureCounters(self.client).current("user:alice"), RedisUnavailable)


class SharedStateTests(TestCase):
    def test_processName(self) -> None:
        first, second = processName("mx-1"), processName("mx-1")
        self.assertTrue(first.startswith("mx-1/"))
        self.assertNotEqual(first, second)

    def test_needsRedis(self) -> None:
        self.assertRaises(ValueError, SharedState, ClusterConfig(), reactor)
