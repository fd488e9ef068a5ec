# -*- test-case-name: tests.relay.test_pgqueue -*-
"""
The outbound queue in PostgreSQL (C{cluster.postgres}), shared by every
node: one row of C{outbound} per message (its text as C{bytea}, its
recipients' states as JSON), behind the same L{IRelayQueue} the
scheduler drives and the same L{IOutboundQueue} the delivery target
fills.

A node delivers only what it has I{claimed}: a message it queued itself
(claimed at commit), or a due message nobody holds a live claim on, taken
by a poll with C{SELECT ... FOR UPDATE SKIP LOCKED} so two nodes never
take the same row.  A claim is a lease (C{owner}, C{lease_until}) renewed
at every poll while the message is in memory here, and it holds only
while its node lives: each node keeps a session advisory lock on its own
connection (L{PostgresQueue.lock}), which PostgreSQL drops when that
connection ends (a node killed with SIGKILL), so the other nodes take its
messages at their next poll; a node that hangs stops renewing and loses
its claims when the lease ends.  A message deferred to a later attempt
is released (its row keeps C{next_attempt}) and whoever polls first when
it is due takes it.  A node cut off from the database, or stalled longer
than the lease, may send a message twice (at least once), never lose one.

Two-phase like the disk queue: C{prepare} inserts the row invisible,
C{commit} makes it visible (and claimed); rows left invisible by a crash
are removed at start.
"""
from __future__ import annotations

import json
import os
from dataclasses import asdict
from typing import Any, Callable, Iterator, Sequence

from twisted.internet.defer import Deferred, fail, succeed
from twisted.internet.task import LoopingCall
from twisted.logger import Logger
from twisted.python.failure import Failure
from zope.interface import implementer

from ..errors import DeliveryFailed
from ..interfaces import IOutboundQueue, IPendingOutbound
from ..store.postgres.database import Database, connect
from .entry import FAILED, CorruptEntry, EntryIndex, Outcome, QueueEntry, Recipient
from .queue import IRelayQueue, newQueueID

__all__ = ["PostgresQueue"]

CHUNK = 64 * 1024
_COLUMNS = "queue_id, sender, created, size, state, next_attempt, held, body"
_LOCK_CLASS = 7302                # the advisory lock a live node holds: (class, hashtext(node))
_CLAIM = f"""
    UPDATE outbound SET owner = %(node)s, lease_until = %(lease)s WHERE queue_id IN (
        SELECT queue_id FROM outbound o
        WHERE visible AND NOT held AND next_attempt <= %(now)s
          AND (owner IS NULL OR lease_until < %(now)s OR NOT EXISTS (
              SELECT 1 FROM pg_locks l WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 2
                AND l.classid = {_LOCK_CLASS} AND l.objid::bigint = (hashtext(o.owner)::bigint & 4294967295)))
        ORDER BY next_attempt LIMIT %(limit)s FOR UPDATE SKIP LOCKED)
    RETURNING {_COLUMNS}
"""


def _state(entry: QueueEntry) -> str:
    return json.dumps({"recipients": [asdict(r) for r in entry.recipients], "attempts": entry.attempts,
                       "error": entry.lastError})


def _entry(row: tuple) -> QueueEntry:
    queueID, sender, created, size, state, nextAttempt, held, body = row
    state = state if isinstance(state, dict) else json.loads(state)
    entry = QueueEntry(queueID, sender, [Recipient(**r) for r in state["recipients"]], created, size,
                       state.get("attempts", 0), nextAttempt, state.get("error", ""), held)
    entry.extra["text"] = bytes(body)
    return entry


@implementer(IPendingOutbound)
class PendingRow:
    """
    One message on its way into the C{outbound} table.

    @ivar removed: after an abort of a prepared message, the Deferred of
        its row's DELETE (for whoever must wait for it), else L{None}.
    """

    def __init__(self, queue: PostgresQueue, entry: QueueEntry) -> None:
        self._queue = queue
        self.entry = entry
        self._chunks: list[bytes] = []
        self.size = 0
        self._state = "open"
        self._waiters: list[Deferred] = []
        self.removed: Deferred | None = None

    def write(self, data: bytes) -> None:
        if self._state != "open":
            raise ValueError("queueing already finished")
        self._chunks.append(bytes(data))
        self.size += len(data)

    def prepare(self) -> Deferred:
        """
        Insert the row, invisible.  Every call gets its own Deferred (the
        delivery target calls it, then L{commit} calls it again from
        within the first one's callbacks).
        """
        if self._state == "prepared":
            return succeed(None)
        if self._state == "preparing":
            waiter: Deferred = Deferred()
            self._waiters.append(waiter)
            return waiter
        if self._state != "open":
            return fail(DeliveryFailed("queueing already finished"))
        self._state = "preparing"
        text = self.entry.extra["text"] = b"".join(self._chunks)
        self._chunks = []
        self.entry.size = self.size
        waiter = Deferred()
        self._waiters = [waiter]
        self._queue.database.run(_insert, self.entry, text).addBoth(self._inserted)
        return waiter

    def _inserted(self, result: object) -> None:
        waiters, self._waiters = self._waiters, []
        if isinstance(result, Failure):
            self._state = "aborted"
            error = DeliveryFailed(f"cannot queue {self.entry.queueID}: {result.value}", permanent=False)
            for waiter in waiters:
                waiter.errback(error)
            return
        if self._state == "aborted":       # aborted while the INSERT ran
            self.removed = self._queue.database.run(_delete, self.entry.queueID)
            error = DeliveryFailed(f"queueing {self.entry.queueID} was aborted")
            for waiter in waiters:
                waiter.errback(error)
            return
        self._state = "prepared"
        for waiter in waiters:
            waiter.callback(None)

    def commit(self) -> Deferred:
        return self.prepare().addCallback(lambda _: self._publish())

    def _publish(self) -> Deferred:
        if self._state != "prepared":
            return fail(DeliveryFailed(f"queueing {self.entry.queueID} was aborted"))
        self._state = "committed"
        queue, entry = self._queue, self.entry

        def published(_: object) -> str:
            queue.added(entry)
            return entry.queueID

        def failed(failure: Failure) -> Failure:
            queue.database.run(_delete, entry.queueID)
            return Failure(DeliveryFailed(f"cannot queue {entry.queueID}: {failure.value}", permanent=False))

        return queue.database.run(_publish, entry.queueID, queue.node, queue.leaseEnd()).addCallbacks(
            published, failed)

    def abort(self) -> None:
        if self._state in ("committed", "aborted"):
            return
        state, self._state = self._state, "aborted"
        self._chunks = []
        if state == "prepared":
            self.removed = self._queue.database.run(_delete, self.entry.queueID)


def _insert(connection: Any, entry: QueueEntry, text: bytes) -> None:
    connection.execute("INSERT INTO outbound (queue_id, sender, created, size, state, next_attempt, body) "
                       "VALUES (%s, %s, %s, %s, %s, 0, %s)",
                       (entry.queueID, entry.sender, entry.created, len(text), _state(entry), text))


def _publish(connection: Any, queueID: str, node: str, lease: float) -> None:
    connection.execute("UPDATE outbound SET visible = true, owner = %s, lease_until = %s WHERE queue_id = %s",
                       (node, lease, queueID))


def _delete(connection: Any, queueID: str) -> None:
    connection.execute("DELETE FROM outbound WHERE queue_id = %s", (queueID,))


@implementer(IOutboundQueue, IRelayQueue)
class PostgresQueue(EntryIndex):
    """
    @param database: the shared L{Database}.
    @param node: this node's name (C{cluster.node}), the claims' owner.
    @param root: a local folder for the queue control socket.
    @param lease: seconds a claim lasts unless renewed.
    @param poll: seconds between polls (claims of due messages, renewals).
    @param limit: messages claimed at most per poll.
    """

    log = Logger()

    def __init__(self, database: Database, clock: Any, node: str, root: str, lease: float = 60.0,
                 poll: float = 2.0, limit: int = 100) -> None:
        self.database = database
        self.clock = clock
        self.node = node
        self.root = root
        self.lease = lease
        self.poll = poll
        self.limit = limit
        self._entries: dict[str, QueueEntry] = {}
        self._subscribers: list[Callable[[QueueEntry], None]] = []
        self._loop: LoopingCall | None = None
        self._polling: Deferred | None = None
        self._lock: Any = None

    def leaseEnd(self) -> float:
        return self.clock.seconds() + self.lease

    # Life

    def load(self) -> list[QueueEntry]:
        """
        Take this node's liveness lock, start polling (the first poll at
        once); nothing is claimed yet.  Blocking once, at start.
        """
        os.makedirs(self.root, mode=0o700, exist_ok=True)
        self.lock()
        self.database.run(lambda c: c.execute(
            "DELETE FROM outbound WHERE NOT visible AND created < %s", (self.clock.seconds() - 3600,)))
        self._loop = LoopingCall(self.pollOnce)
        self._loop.clock = self.clock
        self._loop.start(self.poll, now=True).addErrback(lambda f: self.log.failure("Queue poll stopped", f))
        return []

    def lock(self) -> None:
        """
        Hold this node's advisory lock on a connection of its own, for as
        long as the node lives (blocking).
        """
        if self._lock is None:
            self._lock = connect(self.database.url, autocommit=True)
            self._lock.execute("SELECT pg_advisory_lock(%s, hashtext(%s))", (_LOCK_CLASS, self.node))

    def unlock(self) -> None:
        """
        Drop the liveness lock and close its connection.
        """
        connection, self._lock = self._lock, None
        if connection is not None:
            try:
                connection.execute("SELECT pg_advisory_unlock_all()")
            finally:
                connection.close()

    def pollOnce(self) -> Deferred | None:
        """
        Renew the claims held here and claim what is due.
        """
        if self._polling is not None:
            return None
        now = self.clock.seconds()
        held = list(self._entries)
        d = self._polling = self.database.run(self._claim, now, held)

        def claimed(result: tuple[set[str], list[tuple]]) -> None:
            self._polling = None
            renewed, rows = result
            for queueID in held:
                if queueID not in renewed and self._entries.pop(queueID, None) is not None:
                    self.log.warn("{queueID}: claim lost (held too long?); another node has it", queueID=queueID)
            for row in rows:
                if row[0] not in self._entries:
                    self.added(_entry(row))

        def failed(failure: Failure) -> None:
            self._polling = None
            self.log.failure("Outbound queue poll failed", failure)

        return d.addCallbacks(claimed, failed)

    def _claim(self, connection: Any, now: float, held: list[str]) -> tuple[set[str], list[tuple]]:
        """
        @return: the claims renewed, and the rows newly claimed.
        """
        lease = now + self.lease
        renewed: set[str] = set()
        with connection.cursor() as cursor:
            if held:
                cursor.execute("UPDATE outbound SET lease_until = %s WHERE owner = %s AND queue_id = ANY(%s) "
                               "RETURNING queue_id", (lease, self.node, held))
                renewed = {row[0] for row in cursor.fetchall()}
            cursor.execute(_CLAIM, {"node": self.node, "lease": lease, "now": now, "limit": self.limit})
            return renewed, cursor.fetchall()

    def stop(self) -> Deferred:
        """
        Stop polling, give back the claims (another node takes them at
        once) and drop the liveness lock.
        """
        if self._loop is not None and self._loop.running:
            self._loop.stop()
        held, self._entries = list(self._entries), {}
        d = self.database.run(lambda c: c.execute(
            "UPDATE outbound SET owner = NULL, lease_until = 0 WHERE owner = %s AND queue_id = ANY(%s)",
            (self.node, held)))

        def unlocked(result: object) -> object:
            self.unlock()
            return result

        return d.addBoth(unlocked)

    # IOutboundQueue

    def begin(self, sender: str, recipients: Sequence[str]) -> PendingRow:
        return PendingRow(self, QueueEntry.new(newQueueID(), sender, recipients, self.clock.seconds()))


    # Reading: the messages claimed here

    def openText(self, entry: QueueEntry) -> Iterator[bytes]:
        text = entry.extra.get("text")
        if text is None:
            raise CorruptEntry("no text in memory")
        return (text[i:i + CHUNK] for i in range(0, len(text), CHUNK))

    def readHead(self, entry: QueueEntry, limit: int = 256 * 1024) -> bytes:
        text = entry.extra.get("text", b"")[:limit]
        end = text.find(b"\r\n\r\n")
        return text[:end + 2] if end >= 0 else text

    def quarantine(self, queueID: str, reason: str) -> None:
        """
        Hold the message for good (never delivered, never deleted) and log why.
        """
        self._entries.pop(queueID, None)
        self.database.run(lambda c: c.execute("UPDATE outbound SET held = true, owner = NULL WHERE queue_id = %s",
                                              (queueID,)))
        self.log.error("Queue entry {queueID} quarantined (held): {reason}", queueID=queueID, reason=reason)

    # Changes

    def record(self, entry: QueueEntry, outcomes: Sequence[Outcome],
               attempt: tuple[int, float, str] | None = None) -> Deferred:
        """
        Apply C{outcomes} and C{attempt}; a message deferred to later is
        released once recorded (whoever polls when it is due takes it).
        """
        changed = bool(entry.apply(outcomes, attempt)) or attempt is not None
        if not changed or entry.queueID not in self._entries:
            return succeed(None)
        release = not entry.withStatus(FAILED) and not entry.finished and entry.nextAttempt > self.clock.seconds()
        d = self.database.run(self._update, entry, release)
        if release:
            d.addCallback(lambda _: self._entries.pop(entry.queueID, None))
        return d

    def _update(self, connection: Any, entry: QueueEntry, release: bool) -> None:
        connection.execute(
            "UPDATE outbound SET state = %s, next_attempt = %s, owner = CASE WHEN %s THEN NULL ELSE owner END, "
            "lease_until = CASE WHEN %s THEN 0 ELSE lease_until END WHERE queue_id = %s AND owner = %s",
            (_state(entry), entry.nextAttempt, release, release, entry.queueID, self.node))

    def setHeld(self, entry: QueueEntry, held: bool) -> Deferred:
        entry.held = held
        return self.database.run(lambda c: c.execute("UPDATE outbound SET held = %s WHERE queue_id = %s",
                                                     (held, entry.queueID)))

    def retire(self, entry: QueueEntry, durable: bool = True) -> Deferred:
        self._entries.pop(entry.queueID, None)
        return self.database.run(_delete, entry.queueID)
