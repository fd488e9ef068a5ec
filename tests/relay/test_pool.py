# -*- test-case-name: tests.relay.test_pool -*-
"""
Tests for L{twisted_mail_suite.relay.pool} and
L{twisted_mail_suite.relay.dispatch}: connections per destination,
bounded, reused, and independent of each other.
"""
from __future__ import annotations

from twisted.internet.defer import Deferred, succeed
from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase

from twisted_mail_suite.relay.client import ClientError
from twisted_mail_suite.relay.dispatch import Dispatcher
from twisted_mail_suite.relay.entry import DEFERRED, FAILED, SENT, QueueEntry
from twisted_mail_suite.relay.pool import Job, Pool
from twisted_mail_suite.relay.session import Transaction


class FakeTransport:
    def __init__(self) -> None:
        self.aborted = False

    def abortConnection(self) -> None:
        self.aborted = True


class FakeClient:
    def __init__(self, name: str) -> None:
        self.remoteHost = name
        self.usable = True
        self.quitted = False
        self.transport = FakeTransport()

    def quit(self) -> Deferred:
        self.quitted = True
        self.usable = False
        return succeed(None)

    def whenLost(self) -> Deferred:
        return Deferred()


class PoolHarness:
    def __init__(self, perDestination: int = 2) -> None:
        self.clock = Clock()
        self.connects: list[tuple[str, Deferred]] = []
        self.pool = Pool(self.connect, self.clock, perDestination, idleTimeout=2.0)
        self.runs: list[tuple[str, object, Deferred]] = []

    def connect(self, key: str) -> Deferred:
        d: Deferred = Deferred()
        self.connects.append((key, d))
        return d

    def job(self, key: str, *recipients: str) -> Deferred:
        transaction = Transaction("s@x", list(recipients or ("r@" + key,)), "")

        def send(client: FakeClient) -> Deferred:
            d: Deferred = Deferred()
            self.runs.append((key, client, d))
            transaction.remoteHost = client.remoteHost
            d.addCallback(lambda status: transaction.refuseAll(status, "250 ok"))
            return d

        return self.pool.submit(key, Job(transaction, send))


class PoolTests(SynchronousTestCase):
    def test_boundedPerDestination(self) -> None:
        """
        Five messages for one destination open only two connections, then share them.
        """
        h = PoolHarness(2)
        results = [h.job("a.test") for _ in range(5)]
        self.assertEqual(len(h.connects), 2)
        for i, (_, d) in enumerate(list(h.connects)):
            d.callback(FakeClient(f"c{i}"))
        self.assertEqual(len(h.runs), 2)
        while h.runs:
            _, client, d = h.runs.pop(0)
            d.callback(SENT)
        self.assertEqual(len(h.connects), 2)
        self.assertEqual([self.successResultOf(r)[0].status for r in results], [SENT] * 5)
        self.assertEqual(h.pool.connections("a.test"), 2)

    def test_slowDestinationDelaysNobody(self) -> None:
        """
        A destination whose connections hang does not hold up another's message.
        """
        h = PoolHarness(2)
        for _ in range(4):
            h.job("slow.test")
        fast = h.job("fast.test")
        [(key, d)] = [c for c in h.connects if c[0] == "fast.test"]
        d.callback(FakeClient("fast"))
        h.runs[-1][2].callback(SENT)
        self.assertEqual(self.successResultOf(fast)[0].status, SENT)
        self.assertEqual(h.pool.connections("slow.test"), 2)

    def test_reuseThenIdleQuit(self) -> None:
        """
        A connection takes the next message for its destination; idle, it says QUIT after the idle time.
        """
        h = PoolHarness(1)
        h.job("a.test")
        h.job("a.test")
        client = FakeClient("c")
        h.connects[0][1].callback(client)
        h.runs.pop(0)[2].callback(SENT)
        self.assertIs(h.runs[0][1], client)
        h.runs.pop(0)[2].callback(SENT)
        h.clock.advance(1.9)
        self.assertFalse(client.quitted)
        h.clock.advance(0.1)
        self.assertTrue(client.quitted)
        self.assertEqual(h.pool.connections("a.test"), 0)

    def test_connectFailure(self) -> None:
        """
        A destination that cannot be reached defers its messages; a permanent reason fails them.
        """
        h = PoolHarness(1)
        first, second = h.job("a.test", "x@a.test"), h.job("b.test", "y@b.test")
        h.connects[0][1].errback(ClientError("connection refused"))
        h.connects[1][1].errback(ClientError("550 5.1.10 null MX", permanent=True))
        self.assertEqual([(o.status, o.reply) for o in self.successResultOf(first)],
                         [(DEFERRED, "connection refused")])
        self.assertEqual(self.successResultOf(second)[0].status, FAILED)

    def test_brokenConnectionNotReused(self) -> None:
        """
        A transaction that broke the connection defers its recipients and the connection is dropped.
        """
        h = PoolHarness(1)
        broken = h.job("a.test")
        h.job("a.test")
        client = FakeClient("c")
        h.connects[0][1].callback(client)
        h.runs.pop(0)[2].errback(ClientError("lost connection"))
        self.assertEqual(self.successResultOf(broken)[0].status, DEFERRED)
        self.assertTrue(client.transport.aborted)
        self.assertEqual(len(h.connects), 2)          # a fresh connection for the next message

    def test_stop(self) -> None:
        """
        Stopping settles what waits (deferred) and refuses new work.
        """
        h = PoolHarness(1)
        waiting = h.job("a.test")
        self.successResultOf(h.pool.stop())
        self.assertEqual(self.successResultOf(waiting)[0].status, DEFERRED)
        self.assertEqual(self.successResultOf(h.job("a.test"))[0].status, DEFERRED)


class FakeQueue:
    def __init__(self, text: bytes) -> None:
        self.text = text

    def openText(self, entry: QueueEntry) -> object:
        return iter([self.text])


class DispatchTests(SynchronousTestCase):
    def test_groupsByDestination(self) -> None:
        """
        Recipients are grouped per destination, one job each, and the outcomes gathered.
        """
        submitted: list[tuple[str, list[str]]] = []

        class RecordingPool:
            def submit(self, key: str, job: Job) -> Deferred:
                submitted.append((key, job.transaction.recipients))
                job.transaction.refuseAll(SENT, "250 ok")
                job.settle()
                return job.done

        entry = QueueEntry.new("Q", "s@x.test", ["a@one.test", "b@two.test", "c@one.test"], 0)
        dispatcher = Dispatcher(FakeQueue(b"Subject: x\r\n\r\n\xc3\xa9\r\n"), RecordingPool(),  # type: ignore
                                lambda address: address.rpartition("@")[2])
        outcomes = self.successResultOf(dispatcher.deliver(entry, ["a@one.test", "b@two.test", "c@one.test"]))
        self.assertEqual(submitted, [("one.test", ["a@one.test", "c@one.test"]), ("two.test", ["b@two.test"])])
        self.assertEqual(len(outcomes), 3)
        self.assertEqual(entry.extra["flags"], (True, False))      # 8-bit body, ASCII headers
