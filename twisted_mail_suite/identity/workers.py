# -*- test-case-name: tests.identity.test_workers -*-
"""
The auth workers: one small, bounded thread pool of the suite's own for
everything slow that logging in needs (password hashing, reading the users
file), as Dovecot has its auth worker processes.  It is not the reactor's
pool, where the store's fsyncs run: however many logins queue up, they
never hold a thread a delivery needs.
"""
from __future__ import annotations

from typing import Any, Callable

from twisted.application.service import Service
from twisted.internet.defer import CancelledError, Deferred
from twisted.internet.interfaces import IReactorFromThreads
from twisted.internet.threads import deferToThreadPool
from twisted.python.threadpool import ThreadPool

__all__ = ["AuthWorkers"]


class AuthWorkers(Service):
    """
    A C{ThreadPool} of at most C{maxThreads} threads, started and stopped
    with its parent service.  Work given before the start waits for it;
    work still queued at the stop is dropped (its Deferred fails with
    C{CancelledError}), so stopping waits only for the checks running.

    @ivar pool: the thread pool.
    """

    def __init__(self, reactor: IReactorFromThreads, maxThreads: int, name: str = "mailsuite-auth") -> None:
        self.pool = ThreadPool(minthreads=0, maxthreads=maxThreads, name=name)
        self._reactor = reactor
        self._stopping = False

    def startService(self) -> None:
        super().startService()
        self._stopping = False
        self.pool.start()

    def stopService(self) -> None:
        super().stopService()
        self._stopping = True
        if not self.pool.joined:
            self.pool.stop()
        self.pool = ThreadPool(minthreads=0, maxthreads=self.pool.max, name=self.pool.name)

    def _unlessStopping(self, f: Callable[..., Any], *args: Any) -> Any:
        if self._stopping:
            raise CancelledError("the auth workers stopped")
        return f(*args)

    def runInThread(self, f: Callable[..., Any], *args: Any) -> Deferred:
        """
        C{f(*args)} in one of the workers; the result (or failure) is
        delivered in the reactor thread.
        """
        return deferToThreadPool(self._reactor, self.pool, self._unlessStopping, f, *args)
