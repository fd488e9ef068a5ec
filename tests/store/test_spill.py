# -*- test-case-name: tests.store.test_spill -*-
"""
Tests for big messages: what goes beyond L{MaildirDelivery.SPILL} octets
is appended to a file in C{tmp/} by the commit thread, never by the
reactor thread.
"""
from __future__ import annotations

import os
from typing import Any

from twisted.internet.defer import Deferred
from twisted.trial.unittest import SynchronousTestCase

from twisted_mail_suite.errors import DeliveryFailed
from twisted_mail_suite.store.maildir import MaildirDelivery, MaildirStore

CHUNK = b"x" * 1000 + b"\r\n"


class SpillTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.root = os.path.abspath(self.mktemp())
        self.jobs: list[tuple[Any, tuple, Deferred]] = []

        def runBlocking(f: Any, *args: Any) -> Deferred:
            d: Deferred = Deferred()
            self.jobs.append((f, args, d))
            return d

        self.store = MaildirStore(self.root, fsync=lambda fd: None, runBlocking=runBlocking)
        self.tmp = os.path.join(self.root, "alice", "tmp")

    def runJob(self) -> None:
        f, args, d = self.jobs.pop(0)
        try:
            result = f(*args)
        except Exception as e:
            d.errback(e)
        else:
            d.callback(result)

    def writeBig(self, delivery: MaildirDelivery, times: int) -> None:
        for _ in range(times * MaildirDelivery.SPILL // len(CHUNK) + 1):
            delivery.write(CHUNK)

    def test_appendedByTheThread(self) -> None:
        """
        Past C{SPILL} octets what is held goes to the thread, one append
        at a time; the reactor thread holds the rest meanwhile and creates
        no file; commit waits for the append in flight, and the stored
        message is whole.
        """
        delivery = self.store.beginDelivery(["alice"])
        self.writeBig(delivery, 3)
        self.assertEqual(len(self.jobs), 1)              # one append in flight, the rest held
        self.assertEqual(os.listdir(self.tmp), [])       # nothing done on this thread
        self.runJob()                                    # creates the file, hands the next chunk
        self.assertEqual(len(os.listdir(self.tmp)), 1)
        self.assertEqual(len(self.jobs), 1)
        delivery.write(b"end\r\n")
        d = delivery.commit()
        self.runJob()                                    # the last append, then the commit's batch
        self.assertNoResult(d)
        self.assertEqual(len(self.jobs), 1)
        self.runJob()
        [uid] = self.successResultOf(d)
        with self.store.openStored("alice", uid) as f:
            stored = f.read()
        self.assertEqual(len(stored), delivery._diskSize)
        self.assertTrue(stored.startswith(b"x" * 1000 + b"\nxxx"))
        self.assertTrue(stored.endswith(b"\nend\n"))
        self.assertEqual(os.listdir(self.tmp), [])

    def test_abortWhileAppending(self) -> None:
        """
        An abort while an append runs removes the file once it is done.
        """
        delivery = self.store.beginDelivery(["alice"])
        self.writeBig(delivery, 2)
        delivery.abort()
        self.runJob()
        self.assertEqual(os.listdir(self.tmp), [])
        self.assertEqual(self.jobs, [])

    def test_appendFails(self) -> None:
        """
        If an append fails, the next write fails with L{DeliveryFailed},
        so does the commit, and nothing is left.
        """
        delivery = self.store.beginDelivery(["alice"])
        self.writeBig(delivery, 1)
        f, args, job = self.jobs.pop(0)
        job.errback(OSError(28, "No space left on device"))
        self.assertRaises(DeliveryFailed, delivery.write, CHUNK)
        self.failureResultOf(delivery.commit(), DeliveryFailed)
        self.assertEqual(self.jobs, [])
        self.assertEqual(os.listdir(self.tmp), [])

    def test_commitAfterFailedAppend(self) -> None:
        """
        An append failing while a commit waits for it fails the commit,
        the file taken away.
        """
        delivery = self.store.beginDelivery(["alice"])
        self.writeBig(delivery, 1)
        d = delivery.commit()
        f, args, job = self.jobs.pop(0)
        f(*args)                                          # the file is made, then the write fails
        job.errback(OSError(28, "No space left on device"))
        self.failureResultOf(d, DeliveryFailed)
        self.assertEqual(os.listdir(self.tmp), [])
