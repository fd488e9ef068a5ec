# -*- test-case-name: tests.test_maildir -*-
"""
The Maildir mail store: one Maildir per user under C{<data_dir>/mail/<user>/}.

Messages are kept with LF line ends, as Dovecot and mutt keep them, and named
the Dovecot way, C{<unique>,S=<octets on disk>,W=<octets with CRLF>}, so a
POP3 listing needs no read.  Delivery is two-phase: the bytes go to C{tmp/};
commit flushes, fsyncs, links the file into every recipient's C{tmp/},
renames each into C{new/} and fsyncs each C{new/}; only then does the
Deferred fire.  Any failure removes every trace.
"""
from __future__ import annotations

import errno
import itertools
import os
import re
import socket
import time
from dataclasses import dataclass
from typing import BinaryIO, Callable, Iterable, Sequence

from twisted.internet.defer import Deferred, maybeDeferred
from twisted.internet.threads import deferToThread
from twisted.logger import Logger
from twisted.python.failure import Failure
from zope.interface import implementer

from .errors import DeliveryFailed
from .events import NewMailEvent
from .interfaces import IEventBus, IMailStore, IPendingDelivery

_SIZES = re.compile(r",S=(\d+)(?:,W=(\d+))?")
_counter = itertools.count(1)


@dataclass(frozen=True)
class StoredMessage:
    """
    One message as listed: C{size} counts the octets with CRLF line ends
    (what POP3 sends before dot-stuffing).
    """

    uid: str
    path: str
    size: int
    seen: bool


def uidOf(filename: str) -> str:
    """
    The Maildir unique name: the file name without its C{:2,flags} part.
    """
    return filename.split(":", 1)[0]


def wireSize(path: str, filename: str) -> int:
    """
    The size with CRLF line ends: from C{,W=} when the name has it,
    otherwise by reading the file once (LF or CRLF stored).
    """
    match = _SIZES.search(uidOf(filename))
    if match and match.group(2):
        return int(match.group(2))
    size = lineFeeds = crlf = 0
    previous = b""
    with open(path, "rb") as f:
        while True:
            chunk = f.read(65536)
            if not chunk:
                break
            size += len(chunk)
            lineFeeds += chunk.count(b"\n")
            if b"\r" in chunk or previous == b"\r":
                crlf += chunk.count(b"\r\n") + (1 if previous == b"\r" and chunk[:1] == b"\n" else 0)
            previous = chunk[-1:]
    return size + lineFeeds - crlf


def _syncDirectory(path: str, fsync: Callable[[int], None]) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        fsync(fd)
    finally:
        os.close(fd)


def _hostPart() -> str:
    host = socket.gethostname().split(".")[0] or "localhost"
    return host.replace("/", "\\057").replace(":", "\\072").replace(",", "\\054")[:24]


def runSynchronously(f: Callable[..., object], *args: object) -> Deferred:
    """
    A C{runBlocking} for tests and tools: run C{f} now, in this thread.
    """
    return maybeDeferred(f, *args)


@implementer(IPendingDelivery)
class MaildirDelivery:
    """
    One message on its way into one or more Maildirs.
    """

    def __init__(self, store: MaildirStore, users: Sequence[str], sender: str, subject: str) -> None:
        self._store = store
        self.users = list(users)
        self.sender = sender
        self.subject = subject
        self.size = 0
        self._diskSize = 0
        self._pendingCR = False
        self._finished = False
        self._unique = store.newUnique()
        self._tmpPath = os.path.join(store.ensureMaildir(self.users[0]), "tmp", self._unique)
        # Up to SPILL octets are held in memory and written by the commit
        # (off the reactor thread); a bigger message streams into tmp/.
        self._file: BinaryIO | None = None
        self._held: list[bytes] = []
        self._heldSize = 0
        self._writable = True

    SPILL = 256 * 1024

    def _spill(self) -> None:
        self._file = open(self._tmpPath, "xb", buffering=0)  # noqa: SIM115
        self._file.write(b"".join(self._held))
        self._held = []

    def write(self, data: bytes) -> None:
        if not self._writable:
            raise ValueError("delivery already finished")
        self.size += len(data)
        if self._pendingCR:
            data = b"\r" + data
            self._pendingCR = False
        if data.endswith(b"\r"):
            data = data[:-1]
            self._pendingCR = True
        data = data.replace(b"\r\n", b"\n")
        self._diskSize += len(data)
        if self._file is not None:
            self._file.write(data)
            return
        self._held.append(data)
        self._heldSize += len(data)
        if self._heldSize > self.SPILL:
            try:
                self._spill()
            except OSError as e:
                raise DeliveryFailed(f"cannot create tmp file for {self.users}: {e}") from e

    def commit(self) -> Deferred:
        if not self._writable:
            raise ValueError("delivery already finished")
        self._writable = False
        if self._pendingCR:
            self._held.append(b"\r") if self._file is None else self._file.write(b"\r")
            self._diskSize += 1
            self._pendingCR = False
        f, self._file = self._file, None
        held, self._held = b"".join(self._held), []
        d = self._store.committer.submit(self, f, held)
        d.addCallbacks(self._committed, self._failed)
        return d

    def _stage(self, f: BinaryIO | None, held: bytes) -> list[str]:
        """
        Blocking: write what is held, fsync the file and link it into every
        recipient's C{new/} (not yet fsync'd).  On failure nothing is left.

        @return: the paths created in C{new/}.
        """
        fsync = self._store.fsync
        name = f"{self._unique},S={self._diskSize},W={self.size}"
        targets = [os.path.join(self._store.ensureMaildir(user), "new", name) for user in self.users]
        created: list[str] = []
        try:
            if f is None:
                fd = self._store.openAnonymous(os.path.dirname(self._tmpPath))
                if fd is not None:
                    try:
                        return self._stageAnonymous(fd, held, targets, created)
                    except AnonymousFilesUnsupported:
                        pass                        # a named file, as below
                f = open(self._tmpPath, "xb", buffering=0)  # noqa: SIM115
                try:
                    f.write(held)
                except BaseException:
                    f.close()
                    raise
            try:
                fsync(f.fileno())
            finally:
                f.close()
            sources = [self._tmpPath]
            for user in self.users[1:]:
                other = os.path.join(self._store.ensureMaildir(user), "tmp", self._unique)
                try:
                    os.link(self._tmpPath, other)
                except OSError as e:
                    if e.errno != errno.EXDEV:
                        raise
                    self._copy(self._tmpPath, other)
                sources.append(other)
            for source, target in zip(sources, targets):
                os.rename(source, target)
                created.append(target)
            return created
        except BaseException:
            self._unstage(created)
            raise

    def _stageAnonymous(self, fd: int, held: bytes, targets: list[str], created: list[str]) -> list[str]:
        """
        L{_stage} with an unnamed (C{O_TMPFILE}) file: cheaper than create
        and rename, and a crash leaves nothing in C{tmp/}.
        """
        try:
            view = memoryview(held)
            while view:
                view = view[os.write(fd, view):]
            self._store.fsync(fd)
            for target in targets:
                if not created:
                    self._store.linkAnonymous(fd, target)
                else:
                    try:
                        os.link(created[0], target)
                    except OSError as e:
                        if e.errno != errno.EXDEV:
                            raise
                        other = os.path.join(os.path.dirname(os.path.dirname(target)), "tmp", self._unique)
                        self._copy(created[0], other)
                        os.rename(other, target)
                created.append(target)
            return created
        finally:
            os.close(fd)

    def _unstage(self, created: list[str]) -> None:
        for path in created:
            _unlinkQuietly(path)
        for user in self.users:
            _unlinkQuietly(os.path.join(self._store.userPath(user), "tmp", self._unique))

    def _copy(self, source: str, target: str) -> None:
        with open(source, "rb") as src, open(target, "xb") as dst:
            while chunk := src.read(1 << 20):
                dst.write(chunk)
            dst.flush()
            self._store.fsync(dst.fileno())

    def _committed(self, uids: list[str]) -> list[str]:
        self._finished = True
        for user, uid in zip(self.users, uids):
            self._store.bus.publish(NewMailEvent(user, self.sender, self.subject, uid))
        return uids

    def _failed(self, failure):  # type: ignore[no-untyped-def]
        self._finished = True
        if failure.check(DeliveryFailed):
            return failure
        raise DeliveryFailed(f"commit to {self.users} failed: {failure.value!r}")

    def abort(self) -> None:
        if self._finished:
            return
        self._finished = True
        self._writable = False
        self._held = []
        if self._file is not None:
            self._file.close()
            self._file = None
        _unlinkQuietly(self._tmpPath)


class AnonymousFilesUnsupported(Exception):
    """
    C{O_TMPFILE} files cannot be given a name here (no C{/proc}).
    """


class GroupCommit:
    """
    Group commit: commits run in batches, one batch at a time, through the
    store's C{runBlocking} (a thread).  Every message of a batch is written,
    fsync'd and linked into C{new/}; then each C{new/} folder the batch
    touched is fsync'd once; only then do the batch's Deferreds fire.  One
    thread at a time means no lock contention in the file system and one
    thread hop per batch instead of per message; a message never gets its
    answer before it, and its folder entry, are durable.
    """

    def __init__(self, store: MaildirStore) -> None:
        self._store = store
        self._queue: list[tuple[MaildirDelivery, BinaryIO | None, bytes, Deferred]] = []
        self._running = False

    def submit(self, delivery: MaildirDelivery, f: BinaryIO | None, held: bytes) -> Deferred:
        d: Deferred = Deferred()
        self._queue.append((delivery, f, held, d))
        if not self._running:
            self._next()
        return d

    def _next(self) -> None:
        batch, self._queue = self._queue, []
        if not batch:
            self._running = False
            return
        self._running = True
        jobs = [(delivery, f, held) for delivery, f, held, _ in batch]
        self._store.runBlocking(self._run, jobs).addBoth(self._finished, batch)

    def _run(self, jobs: list) -> list:
        """
        Blocking: the batch.  @return: per job, the list of UIDs or the exception.
        """
        results: list = []
        folders: dict[str, list[int]] = {}
        for index, (delivery, f, held) in enumerate(jobs):
            try:
                created = delivery._stage(f, held)
            except BaseException as e:
                results.append(e)
                continue
            results.append(created)
            for path in created:
                folders.setdefault(os.path.dirname(path), []).append(index)
        for folder, indexes in folders.items():
            try:
                _syncDirectory(folder, self._store.fsync)
            except BaseException as e:
                for index in indexes:
                    if not isinstance(results[index], BaseException):
                        jobs[index][0]._unstage(results[index])
                        results[index] = e
        return [r if isinstance(r, BaseException) else [os.path.basename(r[0])] * len(r) for r in results]

    def _finished(self, results: object, batch: list) -> None:
        for index, (_, _, _, d) in enumerate(batch):
            result = results[index] if isinstance(results, list) else results
            if isinstance(result, BaseException):
                d.errback(Failure(result))
            else:
                d.callback(result)          # a Failure (the batch itself failed) errbacks
        self._next()


def _unlinkQuietly(path: str) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


@implementer(IMailStore)
class MaildirStore:
    """
    @param root: the folder holding one Maildir per user.
    @param bus: where commits publish L{NewMailEvent}.
    @param fsync: the fsync function (injectable to check it is called).
    @param runBlocking: runs the commit's blocking work; default: in the
        reactor's thread pool, so concurrent transactions overlap their fsyncs.
    """

    log = Logger()

    def __init__(self, root: str, bus: IEventBus, fsync: Callable[[int], None] = os.fsync,
                 runBlocking: Callable[..., Deferred] = deferToThread) -> None:
        self.root = root
        self.bus = bus
        self.fsync = fsync
        self.runBlocking = runBlocking
        self.committer = GroupCommit(self)
        self._anonymous: bool | None = None if hasattr(os, "O_TMPFILE") else False
        self._procFD: int | None = None
        self._host = _hostPart()
        self._known: set[str] = set()
        # uid -> (octets on disk, wire size) for files named without ,W=
        # (delivered by other software): Maildir files never change, so a
        # listing reads each such file once, not at every POP3 login.
        self._wireSizes: dict[str, tuple[int, int]] = {}

    def _wireSize(self, path: str, name: str) -> int:
        uid = uidOf(name)
        match = _SIZES.search(uid)
        if match and match.group(2):
            return int(match.group(2))
        diskSize = os.stat(path).st_size
        cached = self._wireSizes.get(uid)
        if cached is not None and cached[0] == diskSize:
            return cached[1]
        size = wireSize(path, name)
        if len(self._wireSizes) >= 200_000:
            self._wireSizes.clear()
        self._wireSizes[uid] = (diskSize, size)
        return size

    def openAnonymous(self, folder: str) -> int | None:
        """
        Blocking: an unnamed file in C{folder} (Linux C{O_TMPFILE}), or
        L{None} where that is not available.
        """
        if self._anonymous is False:
            return None
        try:
            return os.open(folder, os.O_TMPFILE | os.O_WRONLY, 0o600)
        except OSError:
            self._anonymous = False
            return None

    def linkAnonymous(self, fd: int, target: str) -> None:
        """
        Blocking: give the unnamed file C{fd} the name C{target}.

        @raise AnonymousFilesUnsupported: the first time, if this system
            cannot link unnamed files (then they are not used again).
        """
        try:
            if self._procFD is None:
                self._procFD = os.open("/proc/self/fd", os.O_RDONLY | os.O_DIRECTORY)
            os.link(str(fd), target, src_dir_fd=self._procFD, follow_symlinks=True)
        except OSError as e:
            if self._anonymous is None and e.errno in (errno.ENOENT, errno.EXDEV, errno.EPERM,
                                                       errno.ENOSYS, errno.ENOTDIR):
                self._anonymous = False
                raise AnonymousFilesUnsupported() from e
            raise
        self._anonymous = True

    def newUnique(self) -> str:
        now = time.time()
        seconds = int(now)
        return f"{seconds}.M{int((now - seconds) * 1e6)}P{os.getpid()}Q{next(_counter)}.{self._host}"

    def userPath(self, user: str) -> str:
        if not user or "/" in user or user in (".", "..") or "\0" in user:
            raise ValueError(f"bad user name {user!r}")
        return os.path.join(self.root, user)

    def ensureMaildir(self, user: str) -> str:
        path = self.userPath(user)
        if path not in self._known:
            for sub in ("tmp", "new", "cur"):
                os.makedirs(os.path.join(path, sub), mode=0o700, exist_ok=True)
            self._known.add(path)
        return path

    def beginDelivery(self, users: Iterable[str], sender: str = "", subject: str = "") -> MaildirDelivery:
        users = list(dict.fromkeys(users))
        if not users:
            raise ValueError("no recipients")
        try:
            return MaildirDelivery(self, users, sender, subject)
        except OSError as e:
            raise DeliveryFailed(f"cannot create tmp file for {users}: {e}") from e

    def listMessages(self, user: str) -> list[StoredMessage]:
        path = self.userPath(user)
        found = []
        for sub in ("cur", "new"):
            folder = os.path.join(path, sub)
            try:
                names = os.listdir(folder)
            except FileNotFoundError:
                continue
            for name in names:
                if name.startswith("."):
                    continue
                full = os.path.join(folder, name)
                try:
                    size = self._wireSize(full, name)
                except FileNotFoundError:
                    continue
                flags = name.split(":2,", 1)[1] if ":2," in name else ""
                found.append(StoredMessage(uidOf(name), full, size, "S" in flags))
        found.sort(key=lambda m: _orderKey(m.uid))
        return found

    def _find(self, user: str, uid: str) -> str:
        path = self.userPath(user)
        for sub in ("cur", "new"):
            folder = os.path.join(path, sub)
            candidate = os.path.join(folder, uid)
            if os.path.exists(candidate):
                return candidate
            if sub == "cur":
                try:
                    for name in os.listdir(folder):
                        if uidOf(name) == uid:
                            return os.path.join(folder, name)
                except FileNotFoundError:
                    pass
        raise KeyError(uid)

    def openMessage(self, user: str, uid: str) -> BinaryIO:
        return open(self._find(user, uid), "rb")  # noqa: SIM115

    def markSeen(self, user: str, uids: Iterable[str]) -> None:
        path = self.userPath(user)
        for uid in uids:
            try:
                current = self._find(user, uid)
            except KeyError:
                continue
            name = os.path.basename(current)
            flags = name.split(":2,", 1)[1] if ":2," in name else ""
            if "S" in flags and os.path.dirname(current).endswith("cur"):
                continue
            newFlags = "".join(sorted(set(flags) | {"S"}))
            os.rename(current, os.path.join(path, "cur", f"{uid}:2,{newFlags}"))

    def deleteMessages(self, user: str, uids: Iterable[str]) -> None:
        for uid in uids:
            try:
                os.unlink(self._find(user, uid))
            except (KeyError, FileNotFoundError):
                continue

    def cleanTemporary(self, olderThan: float = 0.0) -> int:
        """
        Remove leftovers in every C{tmp/} (a crash between write and
        rename).  Run at start, before any listener.

        @return: how many files were removed.
        """
        removed = 0
        limit = time.time() - olderThan
        try:
            users = os.listdir(self.root)
        except FileNotFoundError:
            return 0
        for user in users:
            folder = os.path.join(self.root, user, "tmp")
            try:
                names = os.listdir(folder)
            except (FileNotFoundError, NotADirectoryError):
                continue
            for name in names:
                full = os.path.join(folder, name)
                try:
                    if os.stat(full).st_mtime <= limit:
                        os.unlink(full)
                        removed += 1
                except FileNotFoundError:
                    continue
        if removed:
            self.log.info("Removed {count} leftover files from tmp/", count=removed)
        return removed


def _orderKey(uid: str) -> tuple:
    seconds, _, rest = uid.partition(".")
    micro = re.match(r"M(\d+)P(\d+)Q(\d+)", rest)
    if seconds.isdigit() and micro:
        return (int(seconds), int(micro.group(1)), int(micro.group(3)), uid)
    return (int(seconds) if seconds.isdigit() else 0, 0, 0, uid)
