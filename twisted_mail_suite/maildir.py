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

import errno
import functools
import itertools
import os
import re
import socket
import time
from dataclasses import dataclass
from typing import Any, BinaryIO, Callable, Iterable, Sequence

from twisted.internet.defer import Deferred, fail, maybeDeferred
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
        # Up to SPILL octets are held in memory and written in one go at
        # commit (L{GroupCommit}); a bigger message streams into tmp/.
        self._file: BinaryIO | None = None
        self._held: list[bytes] = []
        self._heldSize = 0
        self._writable = True
        self._anonymousFD: int | None = None
        self._openFile: BinaryIO | None = None

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
            if self._file is None:
                self._held.append(b"\r")
            else:
                self._file.write(b"\r")
            self._diskSize += 1
            self._pendingCR = False
        f, self._file = self._file, None
        held, self._held = b"".join(self._held), []
        d = self._store.committer.submit(self, f, held)
        d.addCallbacks(self._committed, self._failed)
        return d

    def _open(self, f: BinaryIO | None, held: bytes) -> int:
        """
        The file holding the whole message, written but not yet synced: the
        tmp file a big message streamed into, or else an unnamed
        (C{O_TMPFILE}) file, or a new file in C{tmp/}.

        @return: its descriptor (closed by L{_publish} or L{_discard}).
        """
        if f is None:
            fd = self._store.openAnonymous(os.path.dirname(self._tmpPath))
            if fd is not None:
                self._anonymousFD = fd
                try:
                    view = memoryview(held)
                    while view:
                        view = view[os.write(fd, view):]
                except BaseException:
                    self._discard()
                    raise
                return fd
            f = open(self._tmpPath, "xb", buffering=0)  # noqa: SIM115
            self._openFile = f
            try:
                f.write(held)
            except BaseException:
                self._discard()
                raise
        self._openFile = f
        return f.fileno()

    def _publish(self) -> list[str]:
        """
        After the file's fsync: give it its name in every recipient's
        C{new/} (those folders are synced next).  On failure nothing is left.

        @return: the paths created.
        """
        targets = self._targets()
        return self._link(targets)

    def _targets(self) -> list[str]:
        """
        The message's path in every recipient's C{new/}.
        """
        name = f"{self._unique},S={self._diskSize},W={self.size}"
        return [os.path.join(self._store.ensureMaildir(user), "new", name) for user in self.users]

    def _link(self, targets: list[str]) -> list[str]:
        """
        Blocking, only system calls in the common case: name the synced
        file C{targets[0]}, hard-link the others; close the file.
        """
        created: list[str] = []
        try:
            if self._anonymousFD is not None:
                self._store.linkAnonymous(self._anonymousFD, targets[0])
            else:
                os.rename(self._tmpPath, targets[0])
            created.append(targets[0])
            for target in targets[1:]:
                try:
                    os.link(targets[0], target)
                except OSError as e:
                    if e.errno != errno.EXDEV:
                        raise
                    other = os.path.join(os.path.dirname(os.path.dirname(target)), "tmp", self._unique)
                    self._copy(targets[0], other)
                    os.rename(other, target)
                created.append(target)
            return created
        except BaseException:
            self._unstage(created)
            raise
        finally:
            self._close()

    def _close(self) -> None:
        if self._anonymousFD is not None:
            os.close(self._anonymousFD)
            self._anonymousFD = None
        if self._openFile is not None:
            self._openFile.close()
            self._openFile = None

    def _discard(self) -> None:
        """
        The commit failed before any name in C{new/}: drop the file.
        """
        self._close()
        _unlinkQuietly(self._tmpPath)

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


_startWriteback = getattr(os, "posix_fadvise", None)   # DONTNEED starts writeback of dirty pages (Linux)


class GroupCommit:
    """
    Group commit.  Messages are written in the reactor thread; a single
    job at a time in C{runBlocking} (a thread) does only fsyncs: first the
    files of every message written meanwhile (their writeback started
    together, so they share journal commits), then the C{new/} folders of
    the messages named after the previous job (usually already carried by
    the files' journal commit).  Between jobs, the reactor thread names
    the synced files in C{new/}.  One thread hop per batch, no other
    thread competing for the interpreter lock or the folder locks; a
    commit fires only after its file was synced, named in C{new/} and that
    folder synced.
    """

    def __init__(self, store: MaildirStore) -> None:
        self._store = store
        self._written: list[tuple[MaildirDelivery, int, Deferred]] = []
        self._linked: list[tuple[MaildirDelivery, list[str], Deferred]] = []
        self._running = 0

    def submit(self, delivery: MaildirDelivery, f: BinaryIO | None, held: bytes) -> Deferred:
        try:
            fd = delivery._open(f, held)
        except BaseException:
            return fail()
        d: Deferred = Deferred()
        self._written.append((delivery, fd, d))
        self._next()
        return d

    JOBS = 1          # batches in flight at once (one thread: no lock contention)

    def _next(self) -> None:
        if self._running >= self.JOBS or not (self._written or self._linked):
            return
        self._running += 1
        written, self._written = self._written, []
        linked, self._linked = self._linked, []
        folders = sorted({os.path.dirname(path) for _, created, _ in linked for path in created})
        self._store.runBlocking(self._sync, [fd for _, fd, _ in written], folders).addBoth(
            self._synced, written, linked, folders)

    def _sync(self, fds: list[int], folders: list[str]) -> tuple[dict[str, BaseException], list]:
        """
        Blocking: fsync the files, then the folders.
        """
        fsync = self._store.fsync
        if len(fds) > 1 and _startWriteback is not None:
            for fd in fds:
                try:
                    _startWriteback(fd, 0, 0, os.POSIX_FADV_DONTNEED)
                except OSError:
                    pass
        fileErrors: list[BaseException | None] = []
        for fd in fds:
            try:
                fsync(fd)
                fileErrors.append(None)
            except BaseException as e:
                fileErrors.append(e)
        folderErrors: dict[str, BaseException] = {}
        for folder in folders:
            try:
                _syncDirectory(folder, fsync)
            except BaseException as e:
                folderErrors[folder] = e
        return folderErrors, fileErrors

    def _synced(self, result: Any, written: list, linked: list, folders: list[str]) -> None:
        self._running -= 1
        if isinstance(result, Failure):
            folderErrors = dict.fromkeys(folders, result.value)
            fileErrors = [result.value] * len(written)
        else:
            folderErrors, fileErrors = result
        for delivery, created, d in linked:
            errors = [folderErrors[os.path.dirname(path)] for path in created
                      if os.path.dirname(path) in folderErrors]
            if errors:
                delivery._unstage(created)
                d.errback(Failure(errors[0]))
            else:
                d.callback([os.path.basename(created[0])] * len(created))
        for (delivery, fd, d), error in zip(written, fileErrors):
            if error is None:
                try:
                    self._linked.append((delivery, delivery._publish(), d))
                    continue
                except BaseException as e:
                    error = e
            delivery._discard()
            d.errback(Failure(error))
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
        _unlinkQuietly(probe)
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
