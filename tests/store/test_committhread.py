# -*- test-case-name: tests.store.test_committhread -*-
"""
Tests for the store's commit thread: work runs in a thread of its own, in
order, and its outcome comes back through the reactor's C{callFromThread}.
"""
from __future__ import annotations

import queue
import threading
from typing import Any, Callable

from twisted.trial.unittest import SynchronousTestCase

from twisted_mail_suite.store.maildir import CommitThread


class FromThreads:
    """
    The reactor's C{callFromThread}, kept in a queue the test empties.
    """

    def __init__(self) -> None:
        self.calls: queue.SimpleQueue = queue.SimpleQueue()

    def callFromThread(self, f: Callable[..., Any], *args: Any) -> None:
        self.calls.put((f, args))

    def deliverNext(self) -> None:
        f, args = self.calls.get(timeout=30)
        f(*args)


class CommitThreadTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.reactor = FromThreads()
        self.thread = CommitThread(self.reactor)

    def test_runsInItsThread(self) -> None:
        """
        The function runs in another thread; its result reaches the
        Deferred only through C{callFromThread}.
        """
        d = self.thread(lambda x: (x, threading.get_ident()), 7)
        self.assertNoResult(d)
        self.reactor.deliverNext()
        value, ident = self.successResultOf(d)
        self.assertEqual(value, 7)
        self.assertNotEqual(ident, threading.get_ident())
        self.assertTrue(self.thread.running)

    def test_failure(self) -> None:
        """
        An exception becomes the Deferred's failure.
        """
        def broken() -> None:
            raise OSError(5, "I/O error")

        d = self.thread(broken)
        self.reactor.deliverNext()
        self.failureResultOf(d, OSError)

    def test_order(self) -> None:
        """
        Calls run one after the other, in the order given.
        """
        ran: list[int] = []
        ds = [self.thread(ran.append, i) for i in range(5)]
        for _ in ds:
            self.reactor.deliverNext()
        self.assertEqual(ran, [0, 1, 2, 3, 4])
        for d in ds:
            self.successResultOf(d)

    def test_restarts(self) -> None:
        """
        With no linger the thread ends whenever its queue is empty; a call
        made while it ends or after it ended still runs.
        """
        self.thread.linger = 0
        for i in range(30):
            d = self.thread(lambda i=i: i * 2)
            self.reactor.deliverNext()
            self.assertEqual(self.successResultOf(d), i * 2)
