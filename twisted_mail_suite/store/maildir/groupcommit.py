# -*- test-case-name: tests.store.test_maildir -*-
"""
Group commit: the fsyncs of concurrent commits, grouped.

Messages are held (or spilled) in the reactor thread; a single job at a time
in C{runBlocking} (a thread) writes the file of every message committed
meanwhile (opening a file waits on its folder while a sync runs, so that is
kept off the reactor thread), fsyncs them (their writeback started together,
so they share journal commits), then the folders of the messages named
after the previous job (usually already carried by the files' journal
commit).  Between jobs, the
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
    One message to make durable, in the steps L{GroupCommit} drives:
    L{prepare} runs in the commit thread with the fsyncs (nothing else
    touches the job meanwhile), the other steps in the reactor thread.
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
        self._written: list[tuple[Any, Deferred]] = []
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
        d: Deferred = Deferred()
        self._written.append((job, d))
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
        self.runBlocking(self._sync, [job for job, _ in written], folders).addBoth(
            self._synced, written, linked, folders)

    def _sync(self, jobs: list[ICommitJob], folders: list[str]) -> tuple[dict[str, BaseException], list]:
        """
        Blocking: write each job's file (L{ICommitJob.prepare}: opening a
        file waits on its folder while a sync runs, so it is done here, off
        the reactor thread), fsync the files, then the folders.
        """
        fsync = self.fsync
        fds: list[int | None] = []
        fileErrors: list[BaseException | None] = []
        for job in jobs:
            try:
                fds.append(job.prepare())
                fileErrors.append(None)
            except BaseException as e:
                fds.append(None)
                fileErrors.append(e)
        if len(fds) > 1 and _startWriteback is not None:
            for fd in fds:
                if fd is not None:
                    try:
                        _startWriteback(fd, 0, 0, os.POSIX_FADV_DONTNEED)
                    except OSError:
                        pass
        for index, fd in enumerate(fds):
            if fd is None:
                continue
            try:
                fsync(fd)
            except BaseException as e:
                fileErrors[index] = e
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
        for (job, d), error in zip(written, fileErrors):
            if error is None:
                try:
                    self._linked.append((job, job.publish(), d))
                    continue
                except BaseException as e:
                    error = e
            job.discard()
            d.errback(Failure(error))
        self._next()
