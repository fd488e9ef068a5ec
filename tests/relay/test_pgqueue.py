# -*- test-case-name: tests.relay.test_pgqueue -*-
"""
Tests for the outbound queue in PostgreSQL against a real, private
server: two-phase queueing, claims with C{SKIP LOCKED} (two nodes never
take the same message), liveness (a dead node's messages are taken over
at once, a hung node's when its lease ends), release of deferred messages, and two schedulers
on one database delivering every message exactly once.
"""
from __future__ import annotations

from collections import Counter
from typing import Any

from twisted.internet import reactor, task
from twisted.internet.defer import Deferred, gatherResults, inlineCallbacks
from twisted.trial.unittest import TestCase
from zope.interface.verify import verifyObject

from twisted_mail_suite.interfaces import IOutboundQueue, IPendingOutbound

from twisted_mail_suite.relay.entry import DEFERRED, SENT, Outcome
from twisted_mail_suite.relay.pgqueue import PostgresQueue
from twisted_mail_suite.relay.queue import IRelayQueue
from twisted_mail_suite.relay.scheduler import Scheduler
from twisted_mail_suite.store.postgres import Database, connect

from ..pgsupport import NO_POSTGRES, PostgresServerMixin

TEXT = b"Subject: out\r\n\r\nbody\r\n"


class QueueTests(PostgresServerMixin, TestCase):
    if NO_POSTGRES:
        skip = NO_POSTGRES
    timeout = 60

    def setUp(self) -> None:
        self.url = self.freshDatabase()
        self.clock = task.Clock()
        self.clock.advance(1_000_000)

    def queue(self, node: str, clock: Any = None, **options: Any) -> PostgresQueue:
        database = Database(self.url, reactor, size=3)
        database.startService()
        self.addCleanup(database.stopService)
        return PostgresQueue(database, clock or self.clock, node, self.mktemp(), **options)

    def rows(self) -> list[tuple]:
        with connect(self.url) as connection:
            return connection.execute("SELECT queue_id, owner, visible FROM outbound ORDER BY queue_id").fetchall()

    @inlineCallbacks
    def enqueue(self, queue: PostgresQueue, count: int) -> Any:
        ids = []
        for n in range(count):
            pending = queue.begin("alice@example.test", [f"r{n}@remote.test"])
            pending.write(TEXT)
            queueID = yield pending.commit()
            ids.append(queueID)
        return ids

    @inlineCallbacks
    def test_twoPhase(self) -> Any:
        queue = self.queue("a")
        verifyObject(IOutboundQueue, queue)
        verifyObject(IRelayQueue, queue)
        pending = queue.begin("alice@example.test", ["bob@remote.test"])
        verifyObject(IPendingOutbound, pending)
        pending.write(TEXT)
        yield pending.prepare()
        self.assertEqual([row[2] for row in self.rows()], [False])
        yield queue.pollOnce()
        self.assertEqual(queue.entries(), [])           # prepared: invisible, nobody takes it
        pending.abort()
        yield pending.removed
        self.assertEqual(self.rows(), [])
        queueID = yield self.enqueue(queue, 1)
        self.assertEqual(self.rows(), [(queueID[0], "a", True)])
        entry = queue.get(queueID[0])
        self.assertEqual(b"".join(queue.openText(entry)), TEXT)
        self.assertEqual(queue.readHead(entry), b"Subject: out\r\n")

    @inlineCallbacks
    def test_twoNodesNeverClaimTheSameMessage(self) -> Any:
        """
        Sixty released messages, two nodes polling at the same time, ten
        at a time: every message claimed once, by one node.
        """
        yield self.enqueue(self.queue("c"), 60)
        yield self.queue("c2").stop()                   # nothing held by c2: a no-op
        with connect(self.url) as connection:
            connection.execute("UPDATE outbound SET owner = NULL, lease_until = 0")
        a, b = self.queue("a", limit=10), self.queue("b", limit=10)
        for queue in (a, b):
            queue.lock()
            self.addCleanup(queue.unlock)
        for _ in range(4):
            yield gatherResults([a.pollOnce(), b.pollOnce()])
        claimedA, claimedB = {e.queueID for e in a.entries()}, {e.queueID for e in b.entries()}
        self.assertEqual(claimedA & claimedB, set())
        self.assertEqual(len(claimedA | claimedB), 60)
        self.assertTrue(claimedA and claimedB)
        owners = Counter(row[1] for row in self.rows())
        self.assertEqual(owners, Counter({"a": len(claimedA), "b": len(claimedB)}))

    @inlineCallbacks
    def test_deadNodesMessagesTakenOverAtOnce(self) -> Any:
        """
        A node whose database session ended (killed: its advisory lock is
        gone) loses its claims at once, lease or not.
        """
        a, b = self.queue("a", lease=30), self.queue("b", lease=30)
        a.lock()
        self.addCleanup(a.unlock)
        [queueID] = yield self.enqueue(a, 1)
        yield b.pollOnce()
        self.assertEqual(b.entries(), [])                 # a lives: its claim holds
        a.unlock()
        yield b.pollOnce()
        self.assertEqual([e.queueID for e in b.entries()], [queueID])
        self.assertEqual(self.rows(), [(queueID, "b", True)])

    @inlineCallbacks
    def test_hungNodesMessagesTakenOverAfterTheLease(self) -> Any:
        """
        A node alive but not renewing (hung) loses its claims when the lease ends.
        """
        a, b = self.queue("a", lease=30), self.queue("b", lease=30)
        for queue in (a, b):
            queue.lock()
            self.addCleanup(queue.unlock)
        [queueID] = yield self.enqueue(a, 1)
        self.clock.advance(20)
        yield a.pollOnce()                                # renews
        self.clock.advance(20)
        yield b.pollOnce()
        self.assertEqual(b.entries(), [])
        self.clock.advance(11)
        yield b.pollOnce()
        self.assertEqual([e.queueID for e in b.entries()], [queueID])
        yield a.pollOnce()                                # a wakes up: its claim is gone, it forgets the message
        self.assertEqual(a.entries(), [])
        self.assertEqual(self.rows(), [(queueID, "b", True)])

    @inlineCallbacks
    def test_deferredMessageReleasedUntilDue(self) -> Any:
        a, b = self.queue("a"), self.queue("b")
        [queueID] = yield self.enqueue(a, 1)
        entry = a.get(queueID)
        yield a.record(entry, [Outcome("r0@remote.test", DEFERRED, "451 later")],
                       (1, self.clock.seconds() + 600, "451 later"))
        self.assertIsNone(a.get(queueID))
        self.assertEqual(self.rows(), [(queueID, None, True)])
        yield b.pollOnce()
        self.assertEqual(b.entries(), [])
        self.clock.advance(601)
        yield b.pollOnce()
        [taken] = b.entries()
        self.assertEqual((taken.attempts, taken.lastError, taken.recipients[0].reply), (1, "451 later", "451 later"))
        yield b.record(taken, [Outcome("r0@remote.test", SENT, "250 ok")])
        yield b.retire(taken)
        self.assertEqual(self.rows(), [])

    @inlineCallbacks
    def test_twoSchedulersDeliverEachMessageOnce(self) -> Any:
        """
        Forty messages queued by a node that stops (giving back its
        claims); two nodes' schedulers polling the one table deliver each
        exactly once and leave the table empty.
        """
        origin = self.queue("origin", clock=reactor)
        yield self.enqueue(origin, 40)
        yield origin.stop()
        sent: Counter = Counter()

        def deliver(entry: Any, addresses: list[str]) -> Deferred:
            sent[entry.queueID] += 1
            return task.deferLater(reactor, 0.01, lambda: [Outcome(a, SENT, "250 ok") for a in addresses])

        schedulers, queues = [], []
        for node in ("a", "b"):
            queue = self.queue(node, clock=reactor, poll=0.05, limit=5)
            scheduler = Scheduler(queue, reactor, deliver, lambda e, f: None, (60.0,), 3600.0)
            scheduler.start()
            queue.load()
            schedulers.append(scheduler)
            queues.append(queue)
        for _ in range(400):
            if not self.rows():
                break
            yield task.deferLater(reactor, 0.05, lambda: None)
        for scheduler, queue in zip(schedulers, queues):
            yield scheduler.stop()
            yield queue.stop()
        self.assertEqual(self.rows(), [])
        self.assertEqual(len(sent), 40)
        self.assertEqual(set(sent.values()), {1})
