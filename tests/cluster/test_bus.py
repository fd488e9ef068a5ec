# -*- test-case-name: tests.cluster.test_bus -*-
"""
The event bus over a real Redis: an event reaches this process's
subscribers at once and another process's through Redis, once; a publish
while Redis is down does not raise.
"""
from __future__ import annotations

from typing import Any

from twisted.internet import defer, reactor
from twisted.internet.threads import deferToThread
from twisted.trial.unittest import TestCase
from zope.interface.verify import verifyObject

from twisted_mail_suite.bus.redis import CHANNEL, RedisEventBus
from twisted_mail_suite.cluster.client import RedisClient, RedisSubscriber
from twisted_mail_suite.clusterconfig import parseRedisURL
from twisted_mail_suite.events import NewMailEvent
from twisted_mail_suite.interfaces import IEventBus

from .support import eventually, startRedis

EVENT = NewMailEvent("alice", "bob@example.test", "Hi \u00e9", "17")


class RedisBusTests(TestCase):
    timeout = 30

    @defer.inlineCallbacks
    def setUp(self) -> Any:
        self.server = startRedis(self)
        address = parseRedisURL(self.server.url)
        self.buses = []
        self.clients = []
        for origin in ("a", "b"):
            client, subscriber = RedisClient(reactor, address), RedisSubscriber(reactor, address)
            for service in (client, subscriber):
                service.startService()
                self.addCleanup(service.stopService)
            self.buses.append(RedisEventBus(client, subscriber, origin))
            self.clients.append(client)
            yield eventually(lambda: client.connected and subscriber.connected)
            yield subscriber.whenSubscribed()

    def test_interface(self) -> None:
        verifyObject(IEventBus, self.buses[0])

    @defer.inlineCallbacks
    def test_acrossProcessesOnce(self) -> Any:
        a, b = self.buses
        seenA: list[Any] = []
        seenB: list[Any] = []
        a.subscribe(NewMailEvent, seenA.append)
        b.subscribe(NewMailEvent, seenB.append)
        a.publish(EVENT)
        self.assertEqual(seenA, [EVENT])            # at once, in the publisher's call
        yield eventually(lambda: seenB == [EVENT])
        self.assertEqual(seenA, [EVENT])            # not again through Redis

    @defer.inlineCallbacks
    def test_malformedIgnored(self) -> Any:
        a, b = self.buses
        seen: list[Any] = []
        b.subscribe(NewMailEvent, seen.append)
        for payload in (b"\xff", b"x\n\xff", b"x\n{}", b'x\n{"type":"Nope","fields":{}}',
                        b'x\n{"type":"NewMailEvent","fields":{"user":1}}'):
            yield self.clients[0].execute(b"PUBLISH", CHANNEL, payload)
        a.publish(EVENT)
        yield eventually(lambda: seen == [EVENT])
        self.flushLoggedErrors()

    @defer.inlineCallbacks
    def test_publishWhileDown(self) -> Any:
        a, _ = self.buses
        seen: list[Any] = []
        a.subscribe(NewMailEvent, seen.append)
        yield deferToThread(self.server.stop)
        yield eventually(lambda: not self.clients[0].connected)
        a.publish(EVENT)                            # no exception: the local subscribers still hear it
        self.assertEqual(seen, [EVENT])
