# -*- test-case-name: tests.test_maildir -*-
"""
The Maildir mail store: one Maildir per user under C{<data_dir>/mail/<user>/}.

Messages are kept with LF line ends, as Dovecot and mutt keep them, and named
the Dovecot way, C{<unique>,S=<octets on disk>,W=<octets with CRLF>}, so a
POP3 listing needs no read.  Delivery is two-phase: a small message is held
in memory, a big one streams into C{tmp/}; commit writes the file (an unnamed
C{O_TMPFILE} file in C{tmp/} where Linux offers it, else a named one),
fsyncs it, gives it its name in every recipient's C{new/} (link or rename)
and fsyncs each C{new/}; only then does the Deferred fire.  The fsyncs of
concurrent commits are grouped (L{GroupCommit}).  Any failure removes every
trace.
"""
from __future__ import annotations

import functools
import itertools
import os
import re
import socket
import time
from dataclasses import dataclass
from typing import BinaryIO, Callable, Iterable

from twisted.internet.defer import Deferred, maybeDeferred
from twisted.internet.threads import deferToThread
from twisted.logger import Logger
from zope.interface import implementer

from .errors import DeliveryFailed
from .interfaces import IEventBus, IMailStore
from .maildircommit import GroupCommit, MaildirDelivery, unlinkQuietly

__all__ = ["MaildirStore", "MaildirDelivery", "GroupCommit", "StoredMessage", "runSynchronously",
           "uidOf", "wireSize"]

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


def _hostPart() -> str:
    host = socket.gethostname().split(".")[0] or "localhost"
    return host.replace("/", "\\057").replace(":", "\\072").replace(",", "\\054")[:24]


def runSynchronously(f: Callable[..., object], *args: object) -> Deferred:
    """
    A C{runBlocking} for tests and tools: run C{f} now, in this thread.
    """
    return maybeDeferred(f, *args)


@implementer(IMailStore)
class MaildirStore:
    """
    @param root: the folder holding one Maildir per user.
    @param bus: where commits publish L{NewMailEvent}.
    @param fsync: the fsync function (injectable to check it is called).
    @param runBlocking: runs the commit's fsyncs (L{GroupCommit}); default:
        in the reactor's thread pool, one job at a time.
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
        # uid -> wire size for files named without ,W= (delivered by other
        # software): a Maildir file never changes under its unique name, so
        # a listing reads each such file once, not at every POP3 login.
        self._wireSizes: dict[str, int] = {}

    def _wireSize(self, path: str, name: str) -> int:
        uid = uidOf(name)
        size = self._wireSizes.get(uid)
        if size is not None:
            return size
        match = _SIZES.search(uid)
        if match and match.group(2):
            return int(match.group(2))
        size = wireSize(path, name)
        if len(self._wireSizes) >= 200_000:
            self._wireSizes.clear()
        self._wireSizes[uid] = size
        return size

    def openAnonymous(self, folder: str) -> int | None:
        """
        An unnamed file in C{folder} (Linux C{O_TMPFILE}), or L{None} where
        such files cannot be made or later named (probed once).
        """
        if self._anonymous is None:
            self._anonymous = self._probeAnonymous(folder)
        if not self._anonymous:
            return None
        return os.open(folder, os.O_TMPFILE | os.O_WRONLY, 0o600)

    def _probeAnonymous(self, folder: str) -> bool:
        probe = os.path.join(folder, f".probe-{self.newUnique()}")
        try:
            fd = os.open(folder, os.O_TMPFILE | os.O_WRONLY, 0o600)
        except OSError:
            return False
        try:
            self.linkAnonymous(fd, probe)
        except OSError:
            return False
        finally:
            os.close(fd)
        unlinkQuietly(probe)
        return True

    def linkAnonymous(self, fd: int, target: str) -> None:
        """
        Give the unnamed file C{fd} the name C{target} (C{linkat} through
        C{/proc/self/fd}).
        """
        if self._procFD is None:
            self._procFD = os.open("/proc/self/fd", os.O_RDONLY | os.O_DIRECTORY)
        os.link(str(fd), target, src_dir_fd=self._procFD, follow_symlinks=True)

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
            prefix = folder + os.sep
            for name in names:
                if name.startswith("."):
                    continue
                full = prefix + name
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


_UNIQUE_PARTS = re.compile(r"M(\d+)P(\d+)Q(\d+)")


@functools.lru_cache(maxsize=100_000)
def _orderKey(uid: str) -> tuple:
    seconds, _, rest = uid.partition(".")
    micro = _UNIQUE_PARTS.match(rest)
    if seconds.isdigit() and micro:
        return (int(seconds), int(micro.group(1)), int(micro.group(3)), uid)
    return (int(seconds) if seconds.isdigit() else 0, 0, 0, uid)
