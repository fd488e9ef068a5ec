# -*- test-case-name: tests.store.test_committhread -*-
"""
The store's commit thread: one thread of its own that runs the group
commit's batches (L{twisted_mail_suite.store.maildir.groupcommit}), one
after the other, and hands each result back to the reactor thread.

A batch costs one hand-over each way: a C{SimpleQueue.put} (C code, no
Python lock) and a C{callFromThread}, about two thirds of what a call
through Twisted's thread pool costs (its coordinator runs Python under
locks).  And the fsyncs never wait behind a password hash or a users-file
read in a shared pool.  The thread starts at the first batch and ends by
itself after L{CommitThread.linger} idle seconds, so nothing needs
stopping: the store waits for its commits in flight when it stops.
"""
from __future__ import annotations

import queue
import threading
from typing import Any, Callable

from twisted.internet.defer import Deferred
from twisted.python.failure import Failure

__all__ = ["CommitThread"]


class CommitThread:
    """
    C{runBlocking} for a L{GroupCommit}: C{thread(f, *args)} runs C{f(*args)}
    in the commit thread, calls in the order given; the Deferred fires in
    the reactor thread with the result or the failure.

    @param reactor: provides C{IReactorFromThreads} and C{IReactorTime}.

    @ivar linger: idle seconds after which the thread ends (a later call
        starts a new one).
    """

    linger = 10.0

    def __init__(self, reactor: Any, name: str = "mailsuite-commit") -> None:
        self._reactor = reactor
        self._name = name
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def __call__(self, f: Callable[..., Any], *args: Any) -> Deferred:
        d: Deferred = Deferred()
        with self._lock:
            self._queue.put((f, args, d))
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name=self._name, daemon=True)
                self._thread.start()
        return d

    def callSoon(self, f: Callable[[], object]) -> None:
        """
        Call C{f} in the reactor thread at the end of this reactor turn
        (L{GroupCommit} starts a batch then, with every commit of the turn).
        """
        self._reactor.callLater(0, f)

    @property
    def running(self) -> bool:
        """
        Is a commit thread alive now?
        """
        return self._thread is not None

    def _run(self) -> None:
        get, deliver = self._queue.get, self._reactor.callFromThread
        while True:
            try:
                f, args, d = get(timeout=self.linger)
            except queue.Empty:
                with self._lock:
                    if self._queue.empty():
                        self._thread = None
                        return
                continue
            try:
                outcome = (d.callback, f(*args))
            except BaseException:
                outcome = (d.errback, Failure())
            deliver(*outcome)
            f = args = d = outcome = None     # hold nothing of a batch while waiting for the next
