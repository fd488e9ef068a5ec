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
        self._file: BinaryIO | None = open(self._tmpPath, "xb", buffering=0)  # noqa: SIM115

    def write(self, data: bytes) -> None:
        if self._file is None:
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
        self._file.write(data)

    def commit(self) -> Deferred:
        if self._file is None:
            raise ValueError("delivery already finished")
        if self._pendingCR:
            self._file.write(b"\r")
            self._diskSize += 1
            self._pendingCR = False
        f, self._file = self._file, None
        d = self._store.runBlocking(self._commitBlocking, f)
        d.addCallbacks(self._committed, self._failed)
        return d

    def _commitBlocking(self, f: BinaryIO) -> list[str]:
        fsync = self._store.fsync
        created: list[str] = []
        try:
            try:
                fsync(f.fileno())
            finally:
                f.close()
            name = f"{self._unique},S={self._diskSize},W={self.size}"
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
            for user, source in zip(self.users, sources):
                target = os.path.join(self._store.userPath(user), "new", name)
                os.rename(source, target)
                created.append(target)
            for user in self.users:
                _syncDirectory(os.path.join(self._store.userPath(user), "new"), fsync)
            return [name] * len(self.users)
        except BaseException:
            for path in created:
                _unlinkQuietly(path)
            for user in self.users:
                _unlinkQuietly(os.path.join(self._store.userPath(user), "tmp", self._unique))
            raise

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
        if self._file is not None:
            self._file.close()
            self._file = None
        _unlinkQuietly(self._tmpPath)


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
        self._host = _hostPart()
        self._known: set[str] = set()

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
                    size = wireSize(full, name)
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
