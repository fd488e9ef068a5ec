# -*- test-case-name: tests.store.test_maildir -*-
"""
Group commit: the fsyncs of concurrent commits, grouped.

Messages are written in the reactor thread; a single job at a time in
C{runBlocking} (a thread) does only fsyncs: first the files of every message
written meanwhile (their writeback started together, so they share journal
commits), then the folders of the messages named after the previous job
(usually already carried by the files' journal commit).  Between jobs, the
reactor thread names the synced files.  One thread hop per batch, no other
thread competing for the interpreter lock or the folder locks; a commit
fires only after its file was synced, named and that folder synced.

What is committed is anything providing L{ICommitJob}: this module knows
nothing of Maildir messages.
"""
from __future__ import annotations

import os
from typing import Any, Callable

from twisted.internet.defer import Deferred, fail, succeed
from twisted.python.failure import Failure
from zope.interface import Interface

__all__ = ["GroupCommit", "ICommitJob", "syncDirectory"]

_startWriteback = getattr(os, "posix_fadvise", None)   # DONTNEED starts writeback of dirty pages (Linux)


class ICommitJob(Interface):
    """
    One message to make durable, in the steps L{GroupCommit} drives: every
    step runs in the reactor thread, the fsyncs between them elsewhere.
    """

    def prepare() -> int:  # type: ignore[misc]
        """
        Write the whole message into a file, not yet synced.

        @return: its descriptor, to fsync.
        @raise Exception: nothing could be written; nothing is left.
        """

    def publish():  # type: ignore[misc]
        """
        After the file's fsync: give it its names, closing the descriptor.

        @return: the list of paths created; their folders are synced next.
        @raise Exception: naming failed; nothing is left.
        """

    def unpublish(created) -> None:  # type: ignore[misc]
        """
        Syncing a folder of C{created} (what L{publish} returned) failed:
        remove every trace of the message.
        """

    def discard() -> None:  # type: ignore[misc]
        """
        Syncing the file failed: close and remove it.
        """


def syncDirectory(path: str, fsync: Callable[[int], None]) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        fsync(fd)
    finally:
        os.close(fd)


class GroupCommit:
    """
    @param runBlocking: runs a blocking function, returning a Deferred
        (C{deferToThread}, or L{runSynchronously} in tests).
    @param fsync: the fsync function (replaceable, to inject failures).
    """

    JOBS = 1          # batches in flight at once (one thread: no lock contention)

    def __init__(self, runBlocking: Callable[..., Deferred], fsync: Callable[[int], None] = os.fsync) -> None:
        self.runBlocking = runBlocking
        self.fsync = fsync
        self._written: list[tuple[Any, int, Deferred]] = []
        self._linked: list[tuple[Any, list[str], Deferred]] = []
        self._running = 0
        self._idle: list[Deferred] = []

    def submit(self, job: ICommitJob) -> Deferred:
        """
        Make C{job} durable.

        @return: a Deferred firing with the base names of the paths its
            L{ICommitJob.publish} created, once they and their folders are
            synced; or failing with what went wrong, nothing of it kept.
        """
        try:
            fd = job.prepare()
        except BaseException:
            return fail()
        d: Deferred = Deferred()
        self._written.append((job, fd, d))
        self._next()
        return d

    def whenIdle(self) -> Deferred:
        """
        @return: a Deferred firing once no commit is in flight.
        """
        if not (self._running or self._written or self._linked):
            return succeed(None)
        d: Deferred = Deferred()
        self._idle.append(d)
        return d

    def _next(self) -> None:
        if self._running >= self.JOBS or not (self._written or self._linked):
            if not self._running and self._idle:
                waiting, self._idle = self._idle, []
                for d in waiting:
                    d.callback(None)
            return
        self._running += 1
        written, self._written = self._written, []
        linked, self._linked = self._linked, []
        folders = sorted({os.path.dirname(path) for _, created, _ in linked for path in created})
        self.runBlocking(self._sync, [fd for _, fd, _ in written], folders).addBoth(
            self._synced, written, linked, folders)

    def _sync(self, fds: list[int], folders: list[str]) -> tuple[dict[str, BaseException], list]:
        """
        Blocking: fsync the files, then the folders.
        """
        fsync = self.fsync
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
        for job, created, d in linked:
            errors = [folderErrors[os.path.dirname(path)] for path in created
                      if os.path.dirname(path) in folderErrors]
            if errors:
                job.unpublish(created)
                d.errback(Failure(errors[0]))
            else:
                d.callback([os.path.basename(path) for path in created])
        for (job, fd, d), error in zip(written, fileErrors):
            if error is None:
                try:
                    self._linked.append((job, job.publish(), d))
                    continue
                except BaseException as e:
                    error = e
            job.discard()
            d.errback(Failure(error))
        self._next()
