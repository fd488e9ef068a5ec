# -*- test-case-name: tests.test_maildir -*-
"""
Two-phase, durable delivery into Maildirs (the writing half of
L{twisted_mail_suite.maildir}): a L{MaildirDelivery} per message and the
store's L{GroupCommit}, which groups the fsyncs of concurrent commits.  A
commit fires only after its file was fsync'd, named in every recipient's
C{new/} and each of those folders fsync'd; any failure removes every trace.
"""
from __future__ import annotations

import errno
import os
from typing import TYPE_CHECKING, Any, BinaryIO, Callable, Sequence

from twisted.internet.defer import Deferred, fail
from twisted.python.failure import Failure
from zope.interface import implementer

from .errors import DeliveryFailed
from .events import NewMailEvent
from .interfaces import IPendingDelivery

if TYPE_CHECKING:
    from .maildir import MaildirStore


def syncDirectory(path: str, fsync: Callable[[int], None]) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        fsync(fd)
    finally:
        os.close(fd)


def unlinkQuietly(path: str) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


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
        unlinkQuietly(self._tmpPath)

    def _unstage(self, created: list[str]) -> None:
        for path in created:
            unlinkQuietly(path)
        for user in self.users:
            unlinkQuietly(os.path.join(self._store.userPath(user), "tmp", self._unique))

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
        unlinkQuietly(self._tmpPath)


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
                syncDirectory(folder, fsync)
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
