# -*- test-case-name: tests.relay.test_entry -*-
"""
One queued message as the relay knows it (L{QueueEntry}, with one
L{Recipient} state each), the outcome of trying a recipient
(L{Outcome}), the retry schedule, and the on-disk encodings: the message
file's header and trailer, and the journal records that change an entry.
Pure: no I/O, nothing from Twisted.

A recipient is C{pending} until a server accepted it (C{sent}) or it
failed for good (C{failed}: a bounce is owed); once the bounce is queued
(or, for a null sender, dropped) it is C{bounced}.  An entry is finished
when no recipient is pending or failed.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any, Callable, Iterable, Sequence

__all__ = ["PENDING", "SENT", "FAILED", "BOUNCED", "DEFERRED", "Recipient", "QueueEntry", "Outcome", "EntryIndex",
           "CorruptEntry", "encodeHeader", "decodeHeader", "encodeTrailer", "decodeTrailer",
           "TRAILER_SIZE", "encodeRecord", "replay", "nextDelay"]

PENDING, SENT, FAILED, BOUNCED = "pending", "sent", "failed", "bounced"
DEFERRED = "deferred"        # an outcome only: a temporary failure, the recipient stays pending

MAGIC = b"MSQ1 "
TRAILER = b"\nMSQ-END %012d\n"
TRAILER_SIZE = len(TRAILER % 0)


class CorruptEntry(ValueError):
    """
    A queue file or journal that cannot be read back as written.
    """


@dataclass
class Recipient:
    """
    @ivar reply: the last reply (or local error) about this recipient.
    @ivar remoteHost: the server that gave it (C{name[address]}), or C{""}.
    """

    address: str
    status: str = PENDING
    reply: str = ""
    remoteHost: str = ""


@dataclass(frozen=True)
class Outcome:
    """
    What one attempt did to one recipient: C{status} is L{SENT},
    L{DEFERRED} (try again) or L{FAILED} (bounce).
    """

    address: str
    status: str
    reply: str
    remoteHost: str = ""


@dataclass
class QueueEntry:
    """
    @ivar created: when it was queued (POSIX seconds).
    @ivar size: octets of message text.
    @ivar attempts: delivery attempts that ended with something pending.
    @ivar nextAttempt: when it is due (0: at once).
    @ivar held: held by an operator: not tried until released.
    """

    queueID: str
    sender: str
    recipients: list[Recipient]
    created: float
    size: int = 0
    attempts: int = 0
    nextAttempt: float = 0.0
    lastError: str = ""
    held: bool = False
    extra: dict = field(default_factory=dict)

    @classmethod
    def new(cls, queueID: str, sender: str, addresses: Iterable[str], created: float) -> QueueEntry:
        return cls(queueID, sender, [Recipient(a) for a in dict.fromkeys(addresses)], created)

    def recipient(self, address: str) -> Recipient | None:
        for recipient in self.recipients:
            if recipient.address == address:
                return recipient
        return None

    def withStatus(self, *statuses: str) -> list[Recipient]:
        return [r for r in self.recipients if r.status in statuses]

    @property
    def finished(self) -> bool:
        return not self.withStatus(PENDING, FAILED)

    def apply(self, outcomes: Sequence[Outcome], attempt: tuple[int, float, str] | None = None) -> list[Outcome]:
        """
        Apply C{outcomes} to recipients still pending or failed (a deferred
        one stays pending with its reply) and C{attempt} (attempts, next
        attempt, last error), in place.

        @return: the outcomes applied, with the status each recipient got.
        """
        applied = []
        for outcome in outcomes:
            recipient = self.recipient(outcome.address)
            if recipient is None or recipient.status not in (PENDING, FAILED):
                continue
            status = PENDING if outcome.status == "deferred" else outcome.status
            recipient.status, recipient.reply, recipient.remoteHost = status, outcome.reply, outcome.remoteHost
            applied.append(Outcome(outcome.address, status, outcome.reply, outcome.remoteHost))
        if attempt is not None:
            self.attempts, self.nextAttempt, self.lastError = attempt
        return applied

    def describe(self) -> dict:
        """
        Plain data for C{mailsuite-admin queue list/show}.
        """
        return {"id": self.queueID, "sender": self.sender, "size": self.size, "created": self.created,
                "attempts": self.attempts, "next_attempt": self.nextAttempt, "last_error": self.lastError,
                "held": self.held, "recipients": [asdict(r) for r in self.recipients]}


def nextDelay(schedule: Sequence[float], attempts: int) -> float:
    """
    The wait after the C{attempts}-th temporary failure (1-based): the
    schedule's entries in turn, the last one repeated.
    """
    return schedule[min(max(attempts, 1), len(schedule)) - 1]


# --- the message file: header line, message text, trailer ---

def encodeHeader(entry: QueueEntry) -> bytes:
    """
    The first line of a message file: what is known when queueing starts.
    """
    header = {"id": entry.queueID, "sender": entry.sender, "created": entry.created,
              "recipients": [r.address for r in entry.recipients]}
    return MAGIC + json.dumps(header, separators=(",", ":"), ensure_ascii=True).encode("ascii") + b"\n"


def decodeHeader(line: bytes) -> QueueEntry:
    """
    @raise CorruptEntry: not a header written by L{encodeHeader}.
    """
    if not line.startswith(MAGIC) or not line.endswith(b"\n"):
        raise CorruptEntry("no queue file header")
    try:
        header = json.loads(line[len(MAGIC):])
        return QueueEntry.new(str(header["id"]), str(header["sender"]),
                              [str(a) for a in header["recipients"]], float(header["created"]))
    except (ValueError, KeyError, TypeError) as e:
        raise CorruptEntry(f"bad queue file header: {e}") from None


def encodeTrailer(size: int) -> bytes:
    """
    The last line of a message file: the text's size, written only once
    the text is complete (a truncated file has no valid trailer).
    """
    return TRAILER % size


def decodeTrailer(trailer: bytes) -> int:
    """
    @raise CorruptEntry: not a trailer written by L{encodeTrailer}.
    """
    if len(trailer) != TRAILER_SIZE or not trailer.startswith(b"\nMSQ-END ") or not trailer[9:21].isdigit():
        raise CorruptEntry("no queue file trailer (truncated?)")
    return int(trailer[9:21])


# --- the journal: one JSON object per line, appended ---

def encodeRecord(**record: object) -> bytes:
    """
    One journal line: C{outcome} (a recipient's new state), C{attempt}
    (after a round with something left pending), or C{held}.
    """
    return json.dumps(record, separators=(",", ":"), ensure_ascii=True).encode("ascii") + b"\n"


def replay(entry: QueueEntry, journal: bytes) -> QueueEntry:
    """
    Apply the journal's records to C{entry} (in place; returned).  A last
    line without its newline was cut by a crash and is ignored.

    @raise CorruptEntry: a complete line that is not a record.
    """
    lines = journal.split(b"\n")
    for line in lines[:-1]:
        if not line:
            continue
        try:
            record = json.loads(line)
            kind = record["kind"]
            if kind == "outcome":
                recipient = entry.recipient(record["address"])
                if recipient is not None:
                    recipient.status = record["status"]
                    recipient.reply = record.get("reply", "")
                    recipient.remoteHost = record.get("host", "")
            elif kind == "attempt":
                entry.attempts = int(record["attempts"])
                entry.nextAttempt = float(record["next"])
                entry.lastError = str(record.get("error", ""))
            elif kind == "held":
                entry.held = bool(record["held"])
            elif kind == "flush":
                entry.nextAttempt = 0.0
            else:
                raise ValueError(f"unknown record {kind!r}")
        except (ValueError, KeyError, TypeError) as e:
            raise CorruptEntry(f"bad journal line: {e}") from None
    return entry


class EntryIndex:
    """
    The messages a queue holds in memory, by id (C{_entries}, set by the
    queue), and who hears of a new one (C{_subscribers}, C{log}): what
    every queue shares.
    """

    _entries: dict[str, QueueEntry]
    _subscribers: list[Callable[[QueueEntry], None]]
    log: Any

    def subscribe(self, callback: Callable[[QueueEntry], None]) -> None:
        self._subscribers.append(callback)

    def added(self, entry: QueueEntry) -> None:
        """
        A message was published (or claimed) here: known from now on.
        """
        self._entries[entry.queueID] = entry
        for callback in list(self._subscribers):
            try:
                callback(entry)
            except Exception:
                self.log.failure("Queue subscriber failed for {queueID}", queueID=entry.queueID)

    def size(self) -> int:
        """
        The number of messages held here (for the metrics, asked at each read).
        """
        return len(self._entries)

    def entries(self) -> list[QueueEntry]:
        return sorted(self._entries.values(), key=lambda e: (e.created, e.queueID))

    def get(self, queueID: str) -> QueueEntry | None:
        return self._entries.get(queueID)

    def due(self, now: float) -> list[QueueEntry]:
        return [e for e in self.entries() if not e.held and e.nextAttempt <= now]
