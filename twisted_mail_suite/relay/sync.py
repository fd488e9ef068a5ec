# -*- test-case-name: tests.relay.test_queue -*-
"""
Grouped fsyncs for the queue: every file and folder asked for while a
job runs is synced by the next job, one job at a time in C{runBlocking}
(a thread), so concurrent enqueues share their journal commits and the
reactor thread never waits on the disk.  Renames and removals that must
be on disk with a folder's sync run in the same job, before it: a
metadata change on the reactor thread would wait for the journal commit
the job's fsync is forcing (measured: 11 % of a relaying server's samples
were C{unlink} on the reactor thread at c=50).
"""
from __future__ import annotations

import os
from typing import Callable

from twisted.internet.defer import Deferred
from twisted.python.failure import Failure

__all__ = ["Syncer"]


class Syncer:
    """
    @param runBlocking: runs a blocking function, returning a Deferred
        (C{deferToThread}; a synchronous one in tests).
    @param fsync: the fsync function (replaceable, to inject failures).
    """

    def __init__(self, runBlocking: Callable[..., Deferred], fsync: Callable[[int], None] = os.fsync) -> None:
        self.runBlocking = runBlocking
        self.fsync = fsync
        self._waiting: list[tuple[tuple[int, ...], tuple[str, ...], tuple[tuple[str, str], ...],
                                  tuple[str, ...], Deferred]] = []
        self._running = False
        self._idle: list[Deferred] = []

    def sync(self, fds: tuple[int, ...] = (), folders: tuple[str, ...] = (),
             renames: tuple[tuple[str, str], ...] = (), unlinks: tuple[str, ...] = ()) -> Deferred:
        """
        fsync the files C{fds} (left open), rename C{renames} (C{(old,
        new)} pairs), remove C{unlinks} (in order; one already gone is no
        error), then fsync the C{folders}.

        @return: a Deferred firing with L{None} once all that is on disk,
            or failing with the first error among them.
        """
        d: Deferred = Deferred()
        self._waiting.append((tuple(fds), tuple(folders), tuple(renames), tuple(unlinks), d))
        self._next()
        return d

    def whenIdle(self) -> Deferred:
        """
        @return: a Deferred firing once no sync is waiting or running.
        """
        d: Deferred = Deferred()
        if not self._running and not self._waiting:
            d.callback(None)
        else:
            self._idle.append(d)
        return d

    def _next(self) -> None:
        if self._running:
            return
        if not self._waiting:
            idle, self._idle = self._idle, []
            for d in idle:
                d.callback(None)
            return
        self._running = True
        batch, self._waiting = self._waiting, []
        fds = sorted({fd for request in batch for fd in request[0]})
        folders = sorted({folder for request in batch for folder in request[1]})
        renames = [pair for request in batch for pair in request[2]]
        unlinks = [path for request in batch for path in request[3]]
        self.runBlocking(self._sync, fds, folders, renames, unlinks).addBoth(self._done, batch)

    def _sync(self, fds: list[int], folders: list[str], renames: list[tuple[str, str]] = (),  # type: ignore[assignment]
              unlinks: list[str] = ()) -> dict[object, BaseException]:  # type: ignore[assignment]
        """
        Blocking: fsync each file, rename, remove, then fsync each folder
        (a file is on disk before its new name is); return what failed.
        """
        errors: dict[object, BaseException] = {}
        for fd in fds:
            try:
                self.fsync(fd)
            except Exception as e:
                errors[fd] = e
        for pair in renames:
            try:
                os.rename(*pair)
            except Exception as e:
                errors[pair] = e
        for path in unlinks:
            try:
                os.unlink(path)
            except FileNotFoundError:
                pass
            except Exception as e:
                errors[path] = e
        for folder in folders:
            try:
                fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
                try:
                    self.fsync(fd)
                finally:
                    os.close(fd)
            except Exception as e:
                errors[folder] = e
        return errors

    def _done(self, result: object, batch: list) -> None:
        self._running = False
        for fds, folders, renames, unlinks, d in batch:
            if isinstance(result, Failure):
                d.errback(result)
                continue
            assert isinstance(result, dict)
            failed = [result[key] for key in renames + unlinks + fds + folders if key in result]
            if failed:
                d.errback(Failure(failed[0]))
            else:
                d.callback(None)
        self._next()
