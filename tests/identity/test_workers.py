# -*- test-case-name: tests.identity.test_workers -*-
"""
Tests for the auth workers: password hashing has its own bounded pool, so
logins never hold a thread a delivery needs (issue 12, item 5).
"""
from __future__ import annotations

import os
import threading
from typing import Any, Callable

from twisted.cred.credentials import UsernamePassword
from twisted.internet.defer import CancelledError
from twisted.internet.testing import MemoryReactorClock
from twisted.trial.unittest import SynchronousTestCase

from twisted_mail_suite.identity.passwd import InMemoryUsers
from twisted_mail_suite.identity.policy import LoginOutcome
from twisted_mail_suite.interfaces import IChatUser
from twisted_mail_suite.service import MailSuiteService

from ..fakes import makeConfig


class QueuedPool:
    """
    A stand-in for the reactor's thread pool: work waits in one queue, in
    order, and runs one job at a time when the test says.
    """

    def __init__(self) -> None:
        self.jobs: list[tuple[Callable[..., Any], Callable[..., Any], tuple]] = []

    def callInThreadWithCallback(self, onResult: Callable[..., Any], f: Callable[..., Any], *args: Any,
                                 **kwargs: Any) -> None:
        self.jobs.append((onResult, f, args))

    def runNext(self) -> None:
        onResult, f, args = self.jobs.pop(0)
        try:
            result = f(*args)
        except BaseException as e:   # noqa: B036 - handed over, as a real pool does
            onResult(False, e)
        else:
            onResult(True, result)


class ThreadedMemoryReactor(MemoryReactorClock):
    """
    A memory reactor with a thread pool (L{QueuedPool}) and
    C{callFromThread} running at once.
    """

    def __init__(self) -> None:
        super().__init__()
        self.pool = QueuedPool()

    def getThreadPool(self) -> QueuedPool:
        return self.pool

    def callFromThread(self, f: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
        f(*args, **kwargs)


class SeparatePoolTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.reactor = ThreadedMemoryReactor()
        config = makeConfig(os.path.abspath(self.mktemp()))
        os.makedirs(config.mailDir)
        self.suite = MailSuiteService(config, self.reactor, users=InMemoryUsers({"alice": "secret"}))

    def test_hashingNeverDelaysDelivery(self) -> None:
        """
        With a hundred password checks waiting for the auth workers, a
        delivery's commit runs at once in the store's own commit thread
        (in no pool at all) and is durable when it is answered.
        """
        logins = [self.suite.portal.session(f"192.0.2.{n}", secure=True).login(
            UsernamePassword(b"alice", b"wrong"), IChatUser) for n in range(100)]
        delivery = self.suite.store.beginDelivery(["alice"])
        delivery.write(b"Subject: hi\r\n\r\nbody\r\n")
        committed = delivery.commit()
        self.reactor.advance(0)                 # the batch starts at the end of the reactor turn
        done = threading.Event()
        committed.addBoth(lambda result: (done.set(), result)[1])
        self.assertTrue(done.wait(30))
        self.assertEqual(len(self.successResultOf(committed)), 1)
        self.assertEqual(self.reactor.pool.jobs, [])
        for d in logins:
            self.assertNoResult(d)
        self.assertEqual(self.suite.authWorkers.pool.q.qsize(), 100)

    def test_poolBoundedByConfig(self) -> None:
        """
        The auth workers are at most C{auth.hash_threads} threads, started
        and stopped with the suite.
        """
        self.assertEqual(self.suite.authWorkers.pool.max, 2)
        config = makeConfig(os.path.abspath(self.mktemp()), **{"auth.hash_threads": 5})
        suite = MailSuiteService(config, self.reactor, users=InMemoryUsers())
        self.assertEqual(suite.authWorkers.pool.max, 5)
        suite.authWorkers.startService()
        self.assertTrue(suite.authWorkers.pool.started)
        pool = suite.authWorkers.pool
        suite.authWorkers.stopService()
        self.assertFalse(pool.started)

    def test_loginsRunInTheWorkers(self) -> None:
        """
        Once the workers run, a login is checked there and answered.
        """
        self.suite.authWorkers.startService()
        d = self.suite.portal.session("127.0.0.1", secure=True).login(UsernamePassword(b"alice", b"secret"),
                                                                        IChatUser)
        self.suite.authWorkers.pool.stop()     # joins: the queued check has run
        self.assertIs(self.successResultOf(d).outcome, LoginOutcome.SUCCEEDED)
        self.assertEqual(self.reactor.pool.jobs, [])


class AuthWorkersTests(SynchronousTestCase):
    def test_queuedWorkDroppedAtStop(self) -> None:
        """
        Work still queued when the workers stop is not run: its Deferred
        fails with C{CancelledError}.
        """
        from twisted_mail_suite.identity.workers import AuthWorkers

        workers = AuthWorkers(ThreadedMemoryReactor(), 1)
        ran: list[int] = []
        d = workers.runInThread(ran.append, 1)
        workers._stopping = True           # as stopService does before joining the pool
        workers.pool.start()
        workers.pool.stop()
        self.failureResultOf(d, CancelledError)
        self.assertEqual(ran, [])
