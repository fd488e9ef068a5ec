# -*- test-case-name: tests.store.test_postgres -*-
"""
Deliveries into PostgreSQL, two-phase (L{PostgresDelivery}: written in
memory, inserted at C{commit}), and their group commit
(L{BatchCommitter}): at most C{inFlight} transactions at a time, and every
delivery committed while they run goes into the next one together, so a
burst of concurrent SMTP transactions costs one COMMIT (one WAL flush)
per batch, not one each.  A commit's Deferred fires after the COMMIT.

UIDs: each recipient's INBOX row holds C{uidnext}; a batch takes the rows
in owner order (no deadlock between nodes) and reserves as many UIDs as
it has messages for that owner, so UIDs ascend in commit order, as IMAP
needs.  A failed batch of several is retried one delivery at a time, so
one bad delivery fails alone.
"""
from __future__ import annotations

import time
from collections import Counter
from typing import Any, Callable

from twisted.internet.defer import Deferred, fail, succeed
from twisted.logger import Logger
from twisted.python.failure import Failure
from zope.interface import implementer

from ...errors import DeliveryFailed
from ...interfaces import IPendingDelivery

__all__ = ["BatchCommitter", "PostgresDelivery", "reserveUIDs", "splitHeader"]

INBOX = "INBOX"

_RESERVE = """
    INSERT INTO mailboxes (owner, name, uidvalidity, uidnext)
    SELECT owner, %s, %s, count + 1 FROM unnest(%s::text[], %s::bigint[]) AS wanted (owner, count) ORDER BY owner
    ON CONFLICT (owner, name) DO UPDATE SET uidnext = mailboxes.uidnext + excluded.uidnext - 1
    RETURNING owner, id, uidnext
"""
INSERT_MESSAGE = ("INSERT INTO messages (mailbox, uid, size, flags, internal_date, header, body) "
                  "VALUES (%s, %s, %s, %s, %s, %s, %s)")


def splitHeader(message: bytes) -> tuple[bytes, bytes]:
    """
    The header section (with its blank line) and the body of a wire-form message.
    """
    end = message.find(b"\r\n\r\n")
    if end < 0:
        return message, b""
    return message[:end + 4], message[end + 4:]


def reserveUIDs(cursor: Any, counts: Counter, name: str = INBOX) -> dict[str, tuple[int, int]]:
    """
    Make the mailboxes missing and reserve C{counts[owner]} UIDs in each.

    @return: owner -> (mailbox id, first reserved UID).
    """
    owners = sorted(counts)
    cursor.execute(_RESERVE, (name, int(time.time()), owners, [counts[o] for o in owners]))
    return {owner: (mailbox, uidnext - counts[owner]) for owner, mailbox, uidnext in cursor.fetchall()}


def _insertBatch(connection: Any, jobs: list[tuple[list[str], bytes, float]]) -> list[list[str]]:
    counts: Counter = Counter(user for users, _, _ in jobs for user in users)
    with connection.cursor() as cursor:
        reserved = reserveUIDs(cursor, counts)
        nextUID = {owner: first for owner, (_, first) in reserved.items()}
        rows, results = [], []
        for users, message, date in jobs:
            header, body = splitHeader(message)
            uids = []
            for user in users:
                uid = nextUID[user]
                nextUID[user] = uid + 1
                rows.append((reserved[user][0], uid, len(message), "", date, header, body))
                uids.append(str(uid))
            results.append(uids)
        cursor.executemany(INSERT_MESSAGE, rows)
    return results


class BatchCommitter:
    """
    @param run: L{Database.run}.
    @param inFlight: transactions at most at a time.
    @param maxBatch: deliveries at most in one transaction.
    """

    log = Logger()

    def __init__(self, run: Callable[..., Deferred], inFlight: int = 2, maxBatch: int = 64) -> None:
        self.run = run
        self.inFlight = inFlight
        self.maxBatch = maxBatch
        self._waiting: list[tuple[tuple[list[str], bytes, float], Deferred]] = []
        self._running = 0
        self._idle: list[Deferred] = []
        self.batches = 0        # transactions run (a measure of the grouping)
        self.committed = 0      # deliveries committed

    def submit(self, users: list[str], message: bytes, date: float) -> Deferred:
        """
        @return: a Deferred firing with the new UIDs after the COMMIT.
        """
        d: Deferred = Deferred()
        self._waiting.append(((users, message, date), d))
        self._next()
        return d

    def _next(self) -> None:
        while self._waiting and self._running < self.inFlight:
            batch, self._waiting = self._waiting[:self.maxBatch], self._waiting[self.maxBatch:]
            self._start(batch)
        if not self._waiting and not self._running:
            idle, self._idle = self._idle, []
            for d in idle:
                d.callback(None)

    def _start(self, batch: list) -> None:
        self._running += 1
        self.batches += 1
        self.run(_insertBatch, [job for job, _ in batch]).addBoth(self._finished, batch)

    def _finished(self, result: object, batch: list) -> None:
        self._running -= 1
        if isinstance(result, Failure):
            if len(batch) > 1:           # one at a time: a bad one fails alone
                for item in batch:
                    self._start([item])
                return
            self.log.failure("PostgreSQL delivery failed", result)
            batch[0][1].errback(DeliveryFailed(f"cannot store the message: {result.value}", permanent=False))
        else:
            for (_, d), uids in zip(batch, result):  # type: ignore[call-overload]
                self.committed += 1
                d.callback(uids)
        self._next()

    def whenIdle(self) -> Deferred:
        if not self._waiting and not self._running:
            return succeed(None)
        d: Deferred = Deferred()
        self._idle.append(d)
        return d


@implementer(IPendingDelivery)
class PostgresDelivery:
    """
    One message for C{users}, kept in memory until L{commit}.
    """

    def __init__(self, committer: BatchCommitter, users: list[str], now: Callable[[], float] = time.time) -> None:
        self._committer = committer
        self.users = users
        self._chunks: list[bytes] = []
        self.size = 0
        self._state = "open"
        self._now = now

    def write(self, data: bytes) -> None:
        if self._state != "open":
            raise ValueError("delivery already finished")
        self._chunks.append(bytes(data))
        self.size += len(data)

    def commit(self) -> Deferred:
        if self._state != "open":
            return fail(DeliveryFailed("delivery already finished"))
        self._state = "committing"
        message, self._chunks = b"".join(self._chunks), []
        date = self._now()

        def done(result: object) -> object:
            self._state = "committed" if not isinstance(result, Failure) else "aborted"
            return result

        return self._committer.submit(self.users, message, date).addBoth(done)

    def abort(self) -> None:
        if self._state == "open":
            self._state = "aborted"
            self._chunks = []
