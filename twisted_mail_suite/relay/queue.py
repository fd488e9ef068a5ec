# -*- test-case-name: tests.relay.test_queue -*-
"""
The durable outbound queue on disk, under C{<data_dir>/queue/}:

    tmp/<id>            a message being queued (removed at start: never acknowledged)
    active/<id>         a queued message: header line, text (wire form), trailer
    active/<id>.log     its journal: one JSON record per line, appended and fsync'd
    quarantine/         files that could not be read back, moved aside and logged

Queueing is two-phase (L{IPendingOutbound}): the file is written into
C{tmp/} and fsync'd (C{prepare}), then renamed into C{active/} and the
folder fsync'd (C{commit}); only then does the caller hear the queue id.
What an attempt did to each recipient is appended to the journal and
fsync'd before the entry moves on, so a recipient a server accepted is
never sent again; a crash before that record may send it twice (at least
once), and a queued message is never lost.  A finished message loses its
text first, then its journal.

The queue is the relay's store (the small interface L{IRelayQueue}); a
PostgreSQL one can stand beside it for several nodes.
"""
from __future__ import annotations

import errno
import os
import secrets
import time
from typing import Any, Callable, Iterator, Sequence

from twisted.internet.defer import Deferred, fail, succeed
from twisted.internet.threads import deferToThread
from twisted.logger import Logger
from twisted.python.failure import Failure
from zope.interface import Interface, implementer

from ..errors import DeliveryFailed
from ..interfaces import IOutboundQueue, IPendingOutbound
from .entry import (TRAILER_SIZE, CorruptEntry, EntryIndex, Outcome, QueueEntry, decodeHeader,
                    decodeTrailer, encodeHeader, encodeRecord, encodeTrailer, replay)
from .sync import Syncer

__all__ = ["IRelayQueue", "DiskQueue", "PendingQueueFile", "newQueueID"]

READ_CHUNK = 64 * 1024


def newQueueID() -> str:
    """
    A unique, sortable, file-name-safe queue id (milliseconds + random).
    """
    return "%011X%s" % (int(time.time() * 1000) & 0xFFFFFFFFFFF, secrets.token_hex(4).upper())


class IRelayQueue(Interface):
    """
    The relay's view of its queue: what the scheduler, the delivery and
    the operator's commands need.  Every change is durable when its
    Deferred fires.
    """

    def begin(sender: str, recipients: Sequence[str]) -> IPendingOutbound:  # type: ignore[misc]
        "Enqueue (L{IOutboundQueue})."

    def subscribe(callback: Callable[[QueueEntry], None]) -> None:  # type: ignore[misc]
        "Call C{callback(entry)} for every message newly queued."

    def entries() -> list[QueueEntry]:  # type: ignore[misc]
        "Every queued message, oldest first."

    def get(queueID: str) -> QueueEntry | None:  # type: ignore[misc]
        "The entry, or L{None}."

    def due(now: float) -> list[QueueEntry]:  # type: ignore[misc]
        "The entries not held whose next attempt is due at C{now}."

    def openText(entry: QueueEntry) -> Iterator[bytes]:  # type: ignore[misc]
        "The message text in chunks (wire form). @raise CorruptEntry:"

    def record(entry: QueueEntry, outcomes: Sequence[Outcome], attempt: tuple | None = None) -> Deferred:  # type: ignore[misc]
        "Recipients' new states and, optionally, C{(attempts, next, error)}."

    def setHeld(entry: QueueEntry, held: bool) -> Deferred:  # type: ignore[misc]
        "Hold or release."

    def retire(entry: QueueEntry, durable: bool = True) -> Deferred:  # type: ignore[misc]
        """
        Remove a finished (or deleted) message; with C{durable=False} the
        removal need not survive a crash (a finished message found again
        at start is retired again).
        """


@implementer(IPendingOutbound)
class PendingQueueFile:
    """
    One message being queued into C{tmp/} (see the module docstring).
    """

    def __init__(self, queue: DiskQueue, entry: QueueEntry) -> None:
        self._queue = queue
        self.entry = entry
        self.size = 0
        self._tmpPath = os.path.join(queue.tmpDir, entry.queueID)
        self._fd: int | None = None
        self._state = "open"          # open -> prepared -> committed | aborted
        self._prepared: Deferred | None = None
        self._written = 0
        try:
            self._fd = os.open(self._tmpPath, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            self._write(encodeHeader(entry))
        except OSError as e:
            self.abort()
            raise DeliveryFailed(f"cannot queue {entry.queueID}: {e}") from e
        self._headerSize = self._written

    def _write(self, data: bytes) -> None:
        assert self._fd is not None
        view = memoryview(data)
        while view:
            view = view[os.write(self._fd, view):]
        self._written += len(data)

    def write(self, data: bytes) -> None:
        if self._state != "open":
            raise ValueError("queueing already finished")
        try:
            self._write(data)
        except OSError as e:
            self.abort()
            raise DeliveryFailed(f"cannot queue {self.entry.queueID}: {e}",
                                 permanent=False) from e
        self.size += len(data)

    def prepare(self) -> Deferred:
        if self._prepared is not None:
            return self._prepared
        if self._state != "open":
            return fail(DeliveryFailed("queueing already finished"))
        try:
            self._write(encodeTrailer(self.size))
        except OSError as e:
            self.abort()
            return fail(DeliveryFailed(f"cannot queue {self.entry.queueID}: {e}"))
        assert self._fd is not None
        self._state = "preparing"
        self._prepared = self._queue.syncer.sync(fds=(self._fd,)).addCallbacks(
            self._synced, self._failed)
        return self._prepared

    def _synced(self, _: object) -> None:
        if self._state == "preparing":
            self._state = "prepared"

    def _failed(self, failure: Failure) -> Failure:
        self.abort()
        if failure.check(DeliveryFailed):
            return failure
        return Failure(DeliveryFailed(f"cannot queue {self.entry.queueID}: {failure.value!r}"))

    def commit(self) -> Deferred:
        if self._prepared is None and self._state == "open":
            return self._prepareAndPublish()
        return self.prepare().addCallback(lambda _: self._publish())

    def _prepareAndPublish(self) -> Deferred:
        """
        Committed without a prepare first (no local copy to wait for): the
        file's fsync, its rename into C{active/} and the folder's fsync in
        one job of the syncer, in that order -- one round of journal
        commits before the 250 instead of two.
        """
        try:
            self._write(encodeTrailer(self.size))
        except OSError as e:
            self.abort()
            return fail(DeliveryFailed(f"cannot queue {self.entry.queueID}: {e}"))
        assert self._fd is not None
        queue = self._queue
        target = os.path.join(queue.activeDir, self.entry.queueID)
        self._state = "committed"
        synced = queue.syncer.sync(fds=(self._fd,), renames=((self._tmpPath, target),), folders=(queue.activeDir,))

        def closed(result: object) -> object:
            self._close()
            return result

        return synced.addBoth(closed).addCallbacks(self._published, self._unpublish, errbackArgs=(target,))

    def _publish(self) -> Deferred:
        if self._state != "prepared":
            return fail(DeliveryFailed(f"queueing {self.entry.queueID} was aborted"))
        queue = self._queue
        target = os.path.join(queue.activeDir, self.entry.queueID)
        self._state = "committed"
        self._close()
        return queue.syncer.sync(renames=((self._tmpPath, target),), folders=(queue.activeDir,)).addCallbacks(
            self._published, self._unpublish, errbackArgs=(target,))

    def _published(self, _: object) -> str:
        entry = self.entry
        entry.size = self.size
        entry.extra["offset"] = self._headerSize
        self._queue.added(entry)
        return entry.queueID

    def _unpublish(self, failure: Failure, target: str) -> Failure:
        _unlink(self._tmpPath)
        _unlink(target)
        return Failure(DeliveryFailed(f"cannot queue {self.entry.queueID}: {failure.value!r}"))

    def _close(self) -> None:
        if self._fd is not None:
            fd, self._fd = self._fd, None
            os.close(fd)

    def abort(self) -> None:
        if self._state in ("committed", "aborted"):
            return
        self._state = "aborted"
        self._close()
        _unlink(self._tmpPath)


def _unlink(path: str) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


@implementer(IOutboundQueue, IRelayQueue)
class DiskQueue(EntryIndex):
    """
    @param root: C{<data_dir>/queue}.
    @param clock: C{seconds()} dates entries and attempts.
    @param runBlocking: runs the fsyncs (L{Syncer}).
    """

    log = Logger()

    def __init__(self, root: str, clock: Any, runBlocking: Callable[..., Deferred] = deferToThread,
                 fsync: Callable[[int], None] = os.fsync) -> None:
        self.root = root
        self.tmpDir = os.path.join(root, "tmp")
        self.activeDir = os.path.join(root, "active")
        self.quarantineDir = os.path.join(root, "quarantine")
        self.clock = clock
        self.syncer = Syncer(runBlocking, fsync)
        self._entries: dict[str, QueueEntry] = {}
        self._journals: set[str] = set()
        self._subscribers: list[Callable[[QueueEntry], None]] = []
        self._folders = False

    def _ensureFolders(self) -> None:
        if not self._folders:
            for folder in (self.root, self.tmpDir, self.activeDir, self.quarantineDir):
                os.makedirs(folder, mode=0o700, exist_ok=True)
            self._folders = True

    # Start: the scan.

    def load(self) -> list[QueueEntry]:
        """
        Make the folders, drop what a crash left in C{tmp/}, read every
        queued message (quarantining the unreadable) and return them.
        """
        self._ensureFolders()
        for name in os.listdir(self.tmpDir):
            _unlink(os.path.join(self.tmpDir, name))
        names = set(os.listdir(self.activeDir))
        for name in sorted(names):
            if name.endswith(".log"):
                if name[:-4] not in names:        # the text went first: the message was finished
                    _unlink(os.path.join(self.activeDir, name))
                continue
            if name.startswith(".") or name in self._entries:
                continue
            try:
                self._entries[name] = self._load(name, f"{name}.log" in names)
            except (CorruptEntry, OSError, UnicodeError) as e:
                self.quarantine(name, str(e))
        return self.entries()

    def _load(self, name: str, hasJournal: bool) -> QueueEntry:
        path = os.path.join(self.activeDir, name)
        with open(path, "rb") as f:
            header = f.readline(1 << 20)
            entry = decodeHeader(header)
            if entry.queueID != name:
                raise CorruptEntry(f"header names {entry.queueID}")
            total = os.fstat(f.fileno()).st_size
            if total < len(header) + TRAILER_SIZE:
                raise CorruptEntry("truncated")
            f.seek(total - TRAILER_SIZE)
            size = decodeTrailer(f.read(TRAILER_SIZE))
            if len(header) + size + TRAILER_SIZE != total:
                raise CorruptEntry("size does not match the trailer")
        entry.size, entry.extra["offset"] = size, len(header)
        if hasJournal:
            with open(path + ".log", "rb") as f:
                replay(entry, f.read())
            self._journals.add(name)
        return entry

    def quarantine(self, queueID: str, reason: str) -> None:
        """
        Move a message's files aside (never delivered, never deleted) and log why.
        """
        self._entries.pop(queueID, None)
        stamp = int(self.clock.seconds())
        for suffix in ("", ".log"):
            source = os.path.join(self.activeDir, queueID + suffix)
            try:
                os.rename(source, os.path.join(self.quarantineDir, f"{queueID}.{stamp}{suffix}"))
            except OSError as e:
                if e.errno != errno.ENOENT:
                    self.log.error("Cannot quarantine {path}: {error}", path=source, error=e)
        self.log.error("Queue file {queueID} quarantined: {reason}", queueID=queueID, reason=reason)

    # IOutboundQueue

    def begin(self, sender: str, recipients: Sequence[str]) -> PendingQueueFile:
        try:
            self._ensureFolders()
        except OSError as e:
            raise DeliveryFailed(f"cannot make the queue folders: {e}") from e
        entry = QueueEntry.new(newQueueID(), sender, recipients, self.clock.seconds())
        return PendingQueueFile(self, entry)


    # Reading

    def openText(self, entry: QueueEntry) -> Iterator[bytes]:
        """
        Open the text now and read it lazily.

        @raise CorruptEntry: the file is gone or is not what was queued.
        """
        path = os.path.join(self.activeDir, entry.queueID)
        try:
            f = open(path, "rb")  # noqa: SIM115
            total = os.fstat(f.fileno()).st_size
        except OSError as e:
            raise CorruptEntry(f"cannot open: {e}") from None
        offset = entry.extra.get("offset", 0)
        if total != offset + entry.size + TRAILER_SIZE:
            f.close()
            raise CorruptEntry("size changed on disk")
        f.seek(offset)
        return _chunks(f, entry.size)

    def readHead(self, entry: QueueEntry, limit: int = 256 * 1024) -> bytes:
        """
        The text's header section (up to C{limit} octets), for a bounce.
        """
        head = b""
        for chunk in self.openText(entry):
            head += chunk
            end = head.find(b"\r\n\r\n")
            if end >= 0:
                return head[:end + 2]
            if len(head) >= limit:
                break
        return head[:limit]

    # Changes

    def _append(self, entry: QueueEntry, data: bytes) -> Deferred:
        path = os.path.join(self.activeDir, entry.queueID + ".log")
        created = entry.queueID not in self._journals
        try:
            fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        except OSError:
            return fail()
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
        except OSError:
            os.close(fd)
            return fail()
        self._journals.add(entry.queueID)
        d = self.syncer.sync(fds=(fd,), folders=(self.activeDir,) if created else ())

        def close(result: object) -> object:
            os.close(fd)
            return result

        return d.addBoth(close)

    def record(self, entry: QueueEntry, outcomes: Sequence[Outcome],
               attempt: tuple[int, float, str] | None = None) -> Deferred:
        """
        Apply C{outcomes} (a deferred one changes only the recipient's
        last reply) and C{attempt}, in memory at once and on disk before
        the Deferred fires.
        """
        lines = [encodeRecord(kind="outcome", address=o.address, status=o.status, reply=o.reply, host=o.remoteHost)
                 for o in entry.apply(outcomes, attempt)]
        if attempt is not None:
            lines.append(encodeRecord(kind="attempt", attempts=attempt[0], next=attempt[1], error=attempt[2]))
        if not lines or entry.queueID not in self._entries:
            return succeed(None)
        return self._append(entry, b"".join(lines))

    def setHeld(self, entry: QueueEntry, held: bool) -> Deferred:
        entry.held = held
        return self._append(entry, encodeRecord(kind="held", held=held))

    def retire(self, entry: QueueEntry, durable: bool = True) -> Deferred:
        """
        Forget C{entry}: its text first, then its journal (a journal alone
        is removed at the next start), then (if C{durable}) the folder is
        synced.  A finished message needs no sync, as Postfix does not
        sync its deletes: its journal already says every recipient is
        done, so if a crash undoes the removal the next start retires it
        again without sending anything.  An operator's delete is durable.
        """
        self._entries.pop(entry.queueID, None)
        self._journals.discard(entry.queueID)
        path = os.path.join(self.activeDir, entry.queueID)
        return self.syncer.sync(unlinks=(path, path + ".log"), folders=(self.activeDir,) if durable else ())

    def stop(self) -> Deferred:
        """
        @return: a Deferred firing once no fsync is in flight.
        """
        return self.syncer.whenIdle()


def _chunks(f: Any, size: int) -> Iterator[bytes]:
    try:
        left = size
        while left > 0:
            chunk = f.read(min(READ_CHUNK, left))
            if not chunk:
                raise CorruptEntry("text shorter than queued")
            left -= len(chunk)
            yield chunk
    finally:
        f.close()
