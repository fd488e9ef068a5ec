# -*- test-case-name: tests.store.test_maildir -*-
"""
Two-phase, durable delivery into Maildirs: a L{MaildirDelivery} per
message, made durable by a L{GroupCommit} (it provides L{ICommitJob}).  A
commit fires only after its file was fsync'd, named in every recipient's
C{new/} and each of those folders fsync'd; any failure removes every trace.

A small message is held in memory, a big one streams into C{tmp/}: each
L{MaildirDelivery.SPILL} octets held are appended to its file there by the
commit thread (C{runBlocking}), one hand-over at a time, while the reactor
thread goes on holding what comes next; so no file system call is made on
the reactor thread.  Commit writes the file (an unnamed C{O_TMPFILE} file in C{tmp/} where Linux offers
it, else a named one) and, after its fsync, names it in every recipient's
C{new/} (link or rename).  Messages are stored with LF line ends, in
files of mode 0600 whatever the umask (L{createPrivate}).  Files are
named relative to the descriptors of the C{new/} folders that the group
commit keeps (L{MaildirWriter.inFolder}, one per folder): the folder
named into is the one the group commit syncs (a folder removed and made
anew meanwhile gets a new descriptor; one renamed keeps its descriptor,
and the names, until the store stops).
"""
from __future__ import annotations

import errno
import os
from typing import BinaryIO, Callable, Sequence, TypeVar

from twisted.internet.defer import Deferred, fail
from twisted.python.failure import Failure
from zope.interface import implementer

from ...errors import DeliveryFailed
from ...interfaces import IPendingDelivery
from .groupcommit import GroupCommit, ICommitJob
from .layout import FILE_MODE, MaildirLayout, createPrivate, messageName, umaskKeepsFileMode

__all__ = ["MaildirWriter", "MaildirDelivery", "unlinkQuietly"]

_ANONYMOUS = getattr(os, "O_TMPFILE", 0) | os.O_WRONLY | os.O_CLOEXEC     # an unnamed file (Linux)
T = TypeVar("T")


def unlinkQuietly(path: str) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


class MaildirWriter:
    """
    What every delivery of one store shares: the layout, the group commit
    and unnamed files (Linux C{O_TMPFILE}, probed once).

    @ivar anonymous: whether unnamed files are used; L{None} until probed.
    @ivar chmod: whether an unnamed file needs an C{fchmod} to get
        L{FILE_MODE} (the umask takes some of its bits, or cannot be
        read); probed with L{anonymous}, at the first delivery (the
        umask is set by then, as twistd's C{--umask} comes after the
        store is made).
    """

    def __init__(self, layout: MaildirLayout, committer: GroupCommit) -> None:
        self.layout = layout
        self.committer = committer
        self.anonymous: bool | None = None if hasattr(os, "O_TMPFILE") else False
        self._procFD: int | None = None
        self.chmod = True

    def begin(self, users: Sequence[str]) -> MaildirDelivery:
        """
        @raise DeliveryFailed: the recipients' folders cannot be made.
        """
        try:
            return MaildirDelivery(self, users)
        except OSError as e:
            raise DeliveryFailed(f"cannot create tmp file for {list(users)}: {e}") from e

    def fsync(self, fd: int) -> None:
        self.committer.fsync(fd)

    def inFolder(self, folder: str, name: str, make: Callable[..., T], *args: object) -> T:
        """
        C{make(handle, name, *args)}: a call creating C{name} in C{folder}
        (a path ending in a separator, as L{MaildirLayout.messageFolders}
        gives them) through its kept descriptor C{handle}
        (L{FolderHandles}); if it fails (the folder removed, maybe made
        anew since: C{ENOENT}), once more through a descriptor opened now.
        """
        handles = self.committer.folders
        try:
            return make(handles.handleOf(folder), name, *args)
        except OSError:
            handles.drop(folder)
            return make(handles.handleOf(folder), name, *args)

    def openAnonymous(self, folder: str) -> int | None:
        """
        An unnamed file in C{folder} (Linux C{O_TMPFILE}), or L{None} where
        such files cannot be made or later named (probed once).
        """
        if self.anonymous is None:
            self.chmod = not umaskKeepsFileMode()
            self.anonymous = self._probeAnonymous(folder)
        if not self.anonymous:
            return None
        if not self.chmod:                      # the usual case, without a frame more
            return os.open(folder, _ANONYMOUS, FILE_MODE)
        return self._openAnonymous(folder)

    def _openAnonymous(self, folder: str) -> int:
        fd = os.open(folder, _ANONYMOUS, FILE_MODE)
        if self.chmod:
            try:
                os.fchmod(fd, FILE_MODE)        # the umask applies to O_TMPFILE too
            except BaseException:
                os.close(fd)
                raise
        return fd

    def _probeAnonymous(self, folder: str) -> bool:
        probe = f".probe-{self.layout.newUnique()}"
        try:
            fd = self._openAnonymous(folder)
        except OSError:
            return False
        try:
            self.linkAnonymous(fd, folder, probe)
        except OSError:
            return False
        finally:
            os.close(fd)
        unlinkQuietly(folder + probe)
        return True

    def linkAnonymous(self, fd: int, folder: str, name: str) -> None:
        """
        Give the unnamed file C{fd} the name C{name} in C{folder} (C{linkat}
        through C{/proc/self/fd}).
        """
        if self._procFD is None:
            self._procFD = os.open("/proc/self/fd", os.O_RDONLY | os.O_DIRECTORY)
        self.inFolder(folder, name, _linkAnonymousIn, str(fd), self._procFD)

    def close(self) -> None:
        """
        Release the C{/proc/self/fd} handle and the folders' (idempotent).
        """
        if self._procFD is not None:
            os.close(self._procFD)
            self._procFD = None
        self.committer.close()


# What L{MaildirWriter.inFolder} calls with a folder's descriptor and a name in it.

def _linkAnonymousIn(folder: int, name: str, source: str, procFD: int) -> None:
    os.link(source, name, src_dir_fd=procFD, dst_dir_fd=folder, follow_symlinks=True)


def _hardLinkIn(folder: int, name: str, source: str) -> None:
    os.link(source, name, dst_dir_fd=folder)


def _renameInto(folder: int, name: str, source: str) -> None:
    os.rename(source, name, dst_dir_fd=folder)


@implementer(IPendingDelivery, ICommitJob)
class MaildirDelivery:
    """
    One message on its way into one or more Maildirs.
    """

    def __init__(self, writer: MaildirWriter, users: Sequence[str]) -> None:
        self._writer = writer
        self.users = list(users)
        self.size = 0
        self._diskSize = 0
        self._pendingCR = False
        self._finished = False
        layout = writer.layout
        self._unique = layout.newUnique()
        self._tmpFolder, self._newFolder = layout.messageFolders(self.users[0])
        self._tmpPath = self._tmpFolder + self._unique
        # Up to SPILL octets are held in memory and written in one go at
        # commit (L{GroupCommit}); a bigger message streams into tmp/, the
        # commit thread appending (L{_append}) what is held, SPILL octets
        # at a time, one append in flight (L{_spilling}).
        self._file: BinaryIO | None = None      # the tmp/ file: used by the thread only, or once no append runs
        self._held: list[bytes] = []
        self._heldSize = 0
        self._writable = True
        self._spilling: Deferred | None = None  # the append in flight
        self._spillError: BaseException | None = None
        self._afterSpill: Deferred | None = None   # commit, waiting for the append in flight
        self._anonymousFD: int | None = None
        self._openFile: BinaryIO | None = None
        self._staged: tuple[BinaryIO | None, bytes] = (None, b"")

    SPILL = 256 * 1024

    def _spill(self) -> None:
        """
        Hand what is held to the commit thread, to append to the tmp/ file.
        """
        chunk = b"".join(self._held)
        self._held, self._heldSize = [], 0
        self._spilling = self._writer.committer.runBlocking(self._append, chunk)
        self._spilling.addBoth(self._spilled)

    def _append(self, chunk: bytes) -> None:
        """
        Blocking, in the commit thread: append C{chunk} to the tmp/ file,
        created at the first call.
        """
        if self._file is None:
            self._file = open(createPrivate(self._tmpPath), "wb", buffering=0)  # noqa: SIM115
        view = memoryview(chunk)
        while view:
            view = view[self._file.write(view):]

    def _spilled(self, result: object) -> None:
        self._spilling = None
        if isinstance(result, Failure):
            self._spillError = result.value
        if self._finished and self._afterSpill is None:     # aborted meanwhile
            self._removeSpill()
        elif self._afterSpill is not None:
            waiting, self._afterSpill = self._afterSpill, None
            waiting.callback(None)
        elif self._spillError is None and self._heldSize > self.SPILL:
            self._spill()

    def _removeSpill(self) -> None:
        """
        Close and remove the tmp/ file, if an append made one.
        """
        if self._file is not None:
            self._file.close()
            self._file = None
            unlinkQuietly(self._tmpPath)

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
        if self._spillError is not None:
            raise DeliveryFailed(f"cannot write tmp file for {self.users}: {self._spillError}")
        self._held.append(data)
        self._heldSize += len(data)
        if self._heldSize > self.SPILL and self._spilling is None:
            self._spill()

    def commit(self) -> Deferred:
        if not self._writable:
            raise ValueError("delivery already finished")
        self._writable = False
        if self._pendingCR:
            self._held.append(b"\r")
            self._diskSize += 1
            self._pendingCR = False
        if self._spilling is None:
            d = self._submit()
        else:                                   # the last append first
            d = self._afterSpill = Deferred()
            d.addCallback(lambda _: self._submit())
        d.addCallbacks(self._committed, self._failed)
        return d

    def _submit(self) -> Deferred:
        if self._spillError is not None:
            self._removeSpill()
            return fail(DeliveryFailed(f"cannot write tmp file for {self.users}: {self._spillError}"))
        self._staged = (self._file, b"".join(self._held))
        self._file, self._held = None, []
        return self._writer.committer.submit(self)

    # ICommitJob: the steps of L{GroupCommit}.

    def prepare(self) -> int:
        """
        The file holding the whole message, written but not yet synced: the
        tmp file a big message streamed into, or else an unnamed
        (C{O_TMPFILE}) file, or a new file in C{tmp/}.

        @return: its descriptor (closed by L{publish} or L{discard}).
        """
        f, held = self._staged
        self._staged = (None, b"")
        if f is not None and held:
            try:
                view = memoryview(held)
                while view:
                    view = view[f.write(view):]
            except BaseException:
                f.close()
                unlinkQuietly(self._tmpPath)
                raise
        if f is None:
            fd = self._writer.openAnonymous(self._tmpFolder)
            if fd is not None:
                self._anonymousFD = fd
                try:
                    written = os.write(fd, held) if held else 0     # the usual case: all in one write
                    if written < len(held):
                        view = memoryview(held)[written:]
                        while view:
                            view = view[os.write(fd, view):]
                except BaseException:
                    self.discard()
                    raise
                return fd
            f = open(createPrivate(self._tmpPath), "wb", buffering=0)  # noqa: SIM115
            self._openFile = f
            try:
                f.write(held)
            except BaseException:
                self.discard()
                raise
        self._openFile = f
        return f.fileno()

    def publish(self) -> list[str]:
        """
        After the file's fsync: give it its name in every recipient's
        C{new/} (those folders are synced next).  On failure nothing is left.

        @return: the paths created.
        """
        return self._link(self._folders(), messageName(self._unique, self._diskSize, self.size))

    def unpublish(self, created: list[str]) -> None:
        """
        A C{new/} folder could not be synced: take back every name.
        """
        for path in created:
            unlinkQuietly(path)
        for user in self.users:
            unlinkQuietly(os.path.join(self._writer.layout.userPath(user), "tmp", self._unique))

    def discard(self) -> None:
        """
        The commit failed before any name in C{new/}: drop the file.
        """
        self._close()
        unlinkQuietly(self._tmpPath)

    def _folders(self) -> list[str]:
        """
        Every recipient's C{new/} folder (ending in a separator).
        """
        if len(self.users) == 1:                # the usual case: the folder looked up at the start
            return [self._newFolder]
        layout = self._writer.layout
        return [layout.messageFolders(user)[1] for user in self.users]

    def _link(self, folders: list[str], name: str) -> list[str]:
        """
        Blocking, only system calls in the common case: name the synced
        file C{name} in C{folders[0]}, hard-link it into the others; close
        the file.
        """
        created: list[str] = []
        writer, first = self._writer, folders[0] + name
        try:
            if self._anonymousFD is not None:
                writer.linkAnonymous(self._anonymousFD, folders[0], name)
            else:
                writer.inFolder(folders[0], name, _renameInto, self._tmpPath)
            created.append(first)
            for folder in folders[1:]:
                try:
                    writer.inFolder(folder, name, _hardLinkIn, first)
                except OSError as e:
                    if e.errno != errno.EXDEV:
                        raise
                    other = os.path.join(os.path.dirname(folder.rstrip("/")), "tmp", self._unique)
                    self._copy(first, other)
                    writer.inFolder(folder, name, _renameInto, other)
                created.append(folder + name)
            return created
        except BaseException:
            self.unpublish(created)
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

    def _copy(self, source: str, target: str) -> None:
        with open(source, "rb") as src, open(createPrivate(target), "wb") as dst:
            while chunk := src.read(1 << 20):
                dst.write(chunk)
            dst.flush()
            self._writer.fsync(dst.fileno())

    def _committed(self, uids: list[str]) -> list[str]:
        self._finished = True
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
        if self._spilling is None:      # else once the append in flight is done (L{_spilled})
            self._removeSpill()


