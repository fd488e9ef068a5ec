# -*- test-case-name: tests.test_pgbenchmarks -*-
"""
The PostgreSQL benchmarks run to the end against a private PostgreSQL
server: C{benchmarks/pgdriver.py} (psycopg from a thread pool vs its async
API on the asyncio reactor) and C{benchmarks/pgimap.py} (IMAP on
PostgreSQL vs Maildir); their numbers are not asserted.
"""
from __future__ import annotations

import json
import os
import sys

from twisted.internet import defer
from twisted.internet.utils import getProcessOutputAndValue
from twisted.trial.unittest import TestCase

from twisted_mail_suite.testing.postgres import findBinaries

BENCHMARKS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "benchmarks")


class PostgresBenchmarkTests(TestCase):
    timeout = 180

    def setUp(self) -> None:
        if findBinaries() is None:
            raise self.skipTest("PostgreSQL is not installed (Debian package postgresql)")

    @defer.inlineCallbacks
    def test_bothDrivers(self):  # type: ignore[no-untyped-def]
        """
        Each driver completes every transaction and gets a rate, a latency
        and a CPU time per transaction, the client's and the server's.
        """
        out, err, code = yield getProcessOutputAndValue(
            sys.executable, [os.path.join(BENCHMARKS, "pgdriver.py"), "--count", "40", "--rounds", "1", "-c", "1,4"], env=os.environ)
        self.assertEqual(code, 0, err.decode(errors="replace")[-2000:])
        rows = [json.loads(line) for line in out.decode().splitlines() if line.startswith("{")]
        self.assertEqual(sorted((r["driver"], r["concurrency"]) for r in rows),
                         [("async", 1), ("async", 4), ("threads", 1), ("threads", 4)])
        for row in rows:
            self.assertEqual(row["count"], 40)
            self.assertGreater(row["per_second"], 0)
            self.assertGreater(row["client_cpu_us"], 0)
            self.assertGreaterEqual(row["p99_ms"], row["p50_ms"])
        self.assertIn("threads  c=4", out.decode())

    @defer.inlineCallbacks
    def test_imapBothStores(self):  # type: ignore[no-untyped-def]
        """
        IMAP reads every message sent, on Maildir and on PostgreSQL, and
        the CPU of the suite (and of PostgreSQL) per message is measured.
        """
        out, err, code = yield getProcessOutputAndValue(
            sys.executable, [os.path.join(BENCHMARKS, "pgimap.py"), "--users", "2", "--count", "5"], env=os.environ)
        self.assertEqual(code, 0, err.decode(errors="replace")[-2000:])
        rows = {row["store"]: row for row in map(json.loads, out.decode().splitlines()) if "store" in row}
        self.assertEqual(sorted(rows), ["maildir", "postgres"])
        for row in rows.values():
            self.assertEqual((row["messages"], row["errors"]), (10, 0))
            self.assertGreater(row["suite_cpu_us_per_msg"], 0)
        self.assertIn("postgres_cpu_us_per_msg", rows["postgres"])
