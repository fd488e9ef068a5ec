# -*- test-case-name: tests.store.test_maildir -*-
"""
Group commit: the fsyncs of concurrent commits, grouped.

Messages are held (or spilled) in the reactor thread; a single job at a time
in C{runBlocking} (a thread) does every file-system step of the messages
committed meanwhile: writes each one's file (L{ICommitJob.prepare}), fsyncs
them (their writeback started together, so they share journal commits),
names them (L{ICommitJob.publish}: link or rename into C{new/}), then
fsyncs each folder named into once: at once if no commit is waiting (one
batch, one thread hop per message at concurrency 1), else in the next
batch, after its files' fsyncs, whose journal commit has then carried the
names already (one journal commit per batch under load, not two).  The
reactor thread only hands batches over and fires the Deferreds: no file
system call (an open or a link waits on its folder while a sync runs).
A commit fires only after its file was synced, named and that folder
synced.

With a C{callSoon} (the L{CommitThread}'s: C{callLater(0)}), a commit
made while nothing runs starts its batch at the end of the reactor turn,
not at once: every commit the turn's reads completed shares that batch
(under load the first one no longer goes alone, its fsync round then
holding back the rest), and the hand-over to the thread happens once the
reactor is about to wait, not while it still runs Python.

A batch syncs every file before it names any: on ext4 without a journal
each fsync writes the block of the inode table its inode is in, and a
name given in between (the link count) would dirty that block again for
the next file's fsync (alone, in batches of 15: 93 -> 61 us of CPU per
file; with a journal the order costs nothing).  The folders are synced
through descriptors kept open (L{FolderHandles}), and a job names its
files through the same ones, so the folder synced is the one named into
even if it was replaced since.  When a batch is done, the next one is
handed to the thread before the finished one's Deferreds fire (the
thread works while the reactor writes their replies).

What is committed is anything providing L{ICommitJob}: this module knows
nothing of Maildir messages.
"""
from __future__ import annotations

import os
from typing import Any, Callable

from twisted.internet.defer import Deferred, succeed
from twisted.python.failure import Failure
from zope.interface import Interface

__all__ = ["FolderHandles", "GroupCommit", "ICommitJob"]

_startWriteback = getattr(os, "posix_fadvise", None)   # DONTNEED starts writeback of dirty pages (Linux)


class ICommitJob(Interface):
    """
    One message to make durable, in the steps L{GroupCommit} drives, all of
    them in the commit thread (nothing else touches the job meanwhile).
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


class FolderHandles:
    """
    Open descriptors of the folders commits name files in, so that naming
    a file there (relative to the descriptor) and syncing the folder need
    no open: the last L{LIMIT} folders used, each opened at its first use.
    Used by the commit thread only; L{close} once no commit runs.
    """

    LIMIT = 128

    def __init__(self) -> None:
        self._handles: dict[str, int] = {}

    def handleOf(self, folder: str) -> int:
        """
        The descriptor of C{folder} (a path ending in a separator).
        """
        handle = self._handles.get(folder)
        if handle is None:
            if len(self._handles) >= self.LIMIT:
                os.close(self._handles.pop(next(iter(self._handles))))     # the oldest
            handle = self._handles[folder] = os.open(folder, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        return handle

    def drop(self, folder: str) -> None:
        """
        Close C{folder}'s descriptor: a call through it failed (the folder
        was removed, or its sync failed, an error Linux reports only once
        per descriptor); the next use opens the folder again.
        """
        handle = self._handles.pop(folder, None)
        if handle is not None:
            os.close(handle)

    def sync(self, folder: str, fsync: Callable[[int], None]) -> None:
        try:
            fsync(self.handleOf(folder))
        except BaseException:
            self.drop(folder)
            raise

    def close(self) -> None:
        """
        Close every descriptor (idempotent; a later use opens again).
        """
        handles, self._handles = self._handles, {}
        for handle in handles.values():
            os.close(handle)


class GroupCommit:
    """
    @param runBlocking: runs a blocking function, returning a Deferred
        (a L{CommitThread}, C{deferToThread}, or L{runSynchronously} in tests).
    @param fsync: the fsync function (replaceable, to inject failures).
    @param callSoon: C{callSoon(f)} calls C{f} at the end of the current
        reactor turn; L{None}: C{runBlocking}'s C{callSoon} if it has one,
        else a commit made while none runs starts its batch at once.
    @ivar folders: the L{FolderHandles} the folders are synced through
        (jobs name their files through them too); closed by L{close}.
    """

    JOBS = 1          # batches in flight at once (one thread: no lock contention)

    def __init__(self, runBlocking: Callable[..., Deferred], fsync: Callable[[int], None] = os.fsync,
                 callSoon: Callable[[Callable[[], None]], object] | None = None) -> None:
        self.runBlocking = runBlocking
        self.fsync = fsync
        self._callSoon = callSoon if callSoon is not None else getattr(runBlocking, "callSoon", None)
        self._soon = False                                         # a batch start is scheduled
        self._waiting: list[tuple[Any, Deferred]] = []             # submitted, for the next batch
        self._named: list[tuple[Any, list[str], Deferred]] = []    # named; the next batch syncs their folders
        self._running = 0
        self._idle: list[Deferred] = []
        self.folders = FolderHandles()

    def submit(self, job: ICommitJob) -> Deferred:
        """
        Make C{job} durable.

        @return: a Deferred firing with the base names of the paths its
            L{ICommitJob.publish} created, once they and their folders are
            synced; or failing with what went wrong, nothing of it kept.
        """
        d: Deferred = Deferred()
        self._waiting.append((job, d))
        if not self._running:
            if self._callSoon is None:
                self._next()
            elif not self._soon:
                self._soon = True
                self._callSoon(self._start)
        return d

    def _start(self) -> None:
        self._soon = False
        self._next()

    def whenIdle(self) -> Deferred:
        """
        @return: a Deferred firing once no commit is in flight.
        """
        if not (self._running or self._waiting or self._named):
            return succeed(None)
        d: Deferred = Deferred()
        self._idle.append(d)
        return d

    def close(self) -> None:
        """
        Close the folders' descriptors; call once no commit is in flight
        (L{whenIdle}).
        """
        self.folders.close()

    def _next(self) -> None:
        if not self._launch() and not self._running and self._idle:
            waiting, self._idle = self._idle, []
            for d in waiting:
                d.callback(None)

    def _launch(self) -> bool:
        """
        Hand the next batch to C{runBlocking} if one may start and has work.

        @return: whether one was started.
        """
        if self._running >= self.JOBS or not (self._waiting or self._named):
            return False
        self._running += 1
        batch, self._waiting = self._waiting, []
        named, self._named = self._named, []
        self.runBlocking(self._sync, [job for job, _ in batch], [(job, created) for job, created, _ in named]
                         ).addBoth(self._synced, batch, named)
        return True

    def _sync(self, jobs: list[ICommitJob], named: list[tuple[Any, list[str]]]) -> tuple[list, list, bool]:
        """
        Blocking, in the commit thread: write each job's file, fsync the
        files, then name them; then fsync the folders the previous batch named
        into (C{named}: these files' journal commit has usually carried
        them already) and, unless more commits wait for the next batch
        (whose file syncs will carry them), the folders of this one.

        @return: per job, the paths created or the exception that undid
            it; per C{named} job the same; whether this batch's folders
            were synced (else its jobs go to the next batch as C{named}).
        """
        fsync = self.fsync
        fds: list[int | None] = []
        outcomes: list[Any] = []
        for job in jobs:
            try:
                fds.append(job.prepare())
                outcomes.append(None)
            except BaseException as e:
                fds.append(None)
                outcomes.append(e)
        if len(fds) > 1 and _startWriteback is not None:
            for fd in fds:
                if fd is not None:
                    try:
                        _startWriteback(fd, 0, 0, os.POSIX_FADV_DONTNEED)
                    except OSError:
                        pass
        for index, (job, fd) in enumerate(zip(jobs, fds)):
            if fd is None:
                continue
            try:
                fsync(fd)
            except BaseException as e:
                job.discard()
                outcomes[index] = e
        for index, job in enumerate(jobs):
            if outcomes[index] is not None:
                continue
            try:
                outcomes[index] = job.publish()
            except BaseException as e:
                job.discard()
                outcomes[index] = e
        now = not self._waiting            # read here: it only grows meanwhile, and then a batch follows
        folders: dict[str, BaseException | None] = {}
        for created in [created for _, created in named] + (outcomes if now else []):
            if isinstance(created, list):
                for path in created:
                    folders.setdefault(_folderOf(path))
        failed = False
        for folder in folders:
            try:
                self.folders.sync(folder, fsync)
            except BaseException as e:
                folders[folder] = e
                failed = True
        if not failed:                      # the usual case: every name is kept as it is
            return outcomes, [created for _, created in named], now
        namedOutcomes = [_kept(job, created, folders) for job, created in named]
        if now:
            outcomes = [_kept(job, created, folders) for job, created in zip(jobs, outcomes)]
        return outcomes, namedOutcomes, now

    def _synced(self, result: Any, batch: list[tuple[Any, Deferred]], named: list[tuple[Any, list[str], Deferred]]
                ) -> None:
        self._running -= 1
        if isinstance(result, Failure):       # the batch did not run (the thread is gone): nothing is kept
            for job, created, _ in named:
                _quietly(job.unpublish, created)
            for job, _ in batch:
                _quietly(job.discard)
            result = ([result.value] * len(batch), [result.value] * len(named), True)
        outcomes, namedOutcomes, now = result
        done = list(zip([d for _, _, d in named], namedOutcomes))
        for (job, d), outcome in zip(batch, outcomes):
            if now or isinstance(outcome, BaseException):
                done.append((d, outcome))
            else:
                self._named.append((job, outcome, d))
        self._launch()                      # the thread works on while the replies go out
        for d, outcome in done:
            _fire(d, outcome)
        self._next()


def _kept(job: Any, created: Any, folders: dict[str, BaseException | None]) -> Any:
    """
    C{created} (the paths a job's publish made), or the error of a folder
    among theirs that could not be synced, the job's names taken back.
    """
    if not isinstance(created, list):
        return created
    errors = [error for error in map(folders.get, map(_folderOf, created)) if error is not None]
    if errors:
        job.unpublish(created)
        return errors[0]
    return created


def _folderOf(path: str) -> str:
    """
    The folder of a path that L{ICommitJob.publish} created, ending in a
    separator (as the store names its folders): C{os.path.dirname} for
    these paths (absolute, made by the store, no doubled separator) and
    the separator, without its Python frames.
    """
    return path[:path.rfind("/") + 1]


def _fire(d: Deferred, outcome: Any) -> None:
    if isinstance(outcome, BaseException):
        d.errback(Failure(outcome))
    else:
        d.callback([path[path.rfind("/") + 1:] for path in outcome])      # os.path.basename, without its frames


def _quietly(f: Callable[..., object], *args: object) -> None:
    try:
        f(*args)
    except Exception:
        pass
