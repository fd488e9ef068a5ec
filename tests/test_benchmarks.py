# -*- test-case-name: tests.test_benchmarks -*-
"""
The one-command benchmark keeps working: C{benchmarks/run.py --quick} runs
to the end in a child process and writes a table with our suite's rows,
whichever anchors this machine has.  Its numbers are not asserted.
"""
from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import smtplib
import subprocess
import sys
from typing import Iterator

from twisted.internet import defer
from twisted.internet.utils import getProcessOutputAndValue
from twisted.trial.unittest import SynchronousTestCase, TestCase

from twisted_mail_suite.testing.nginx import missing as nginxMissing
from twisted_mail_suite.testing.postgres import findBinaries
from twisted_mail_suite.testing.redisserver import redisServerPath

RUN = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "benchmarks", "run.py")


class QuickBenchmarkTests(TestCase):
    timeout = 240           # ~2 minutes alone; more on a CPU shared with other work

    @defer.inlineCallbacks
    def test_quickRun(self):  # type: ignore[no-untyped-def]
        """
        C{run.py --quick --output DIR} exits 0 and writes DIR/table.md with
        rows for our suite in every scenario group, and DIR/results.json.
        """
        if not os.path.exists(RUN):
            raise self.skipTest("benchmarks/ is not in this tree")
        output = os.path.abspath(self.mktemp())
        out, err, code = yield getProcessOutputAndValue(
            sys.executable, [RUN, "--quick", "--output", output], env=dict(os.environ))
        self.assertEqual(code, 0, err.decode(errors="replace")[-3000:])
        with open(os.path.join(output, "table.md")) as f:
            table = f.read()
        for heading in ("## SMTP ingest", "## POP3 retrieval", "## IMAP retrieval", "## Chat fan-out",
                        "## Idle connections"):
            self.assertIn(heading, table)
        # SMTP: ours is the first column after the cell; elsewhere rows are (cell, server, figures...)
        self.assertRegex(table, r"(?m)^\| cell \| ours \|")
        self.assertRegex(table, r"(?m)^\| 1 KiB c=10 reuse \| [0-9]")
        oursRows = re.findall(r"(?m)^\| [^|]+ \| ours \| [0-9]", table)
        self.assertGreaterEqual(len(oursRows), 5, table)     # POP3, large message, chat, idle x3, max chat
        with open(os.path.join(output, "results.json")) as f:
            records = json.load(f)["records"]
        ours = ("ours", "workers: 1", "workers: 2")          # the scale group's targets are ours, twice
        scenarios = {r["scenario"] for r in records if r["target"] in ours and not r["result"].get("error")}
        expected = {"smtp", "pop3", "pop3-big", "imap", "imap-idle", "chat", "idle", "idle-traced",
                    "maxchat"}
        if shutil.which("smtp-sink") or os.path.exists("/usr/sbin/smtp-sink"):
            expected.add("relay")         # the relay group needs Postfix's smtp-sink
            self.assertIn("## Relay (outbound)", table)
        if redisServerPath() is not None:
            expected.add("scale")         # workers: 1 vs 2, each with a private redis-server
            self.assertIn("## Scale: workers 1 vs 2", table)
            scale = {"workers: 1", "workers: 2"}
            if findBinaries() is not None:
                scale.add("workers: 1, PostgreSQL")       # the PostgreSQL store beside Maildir
            if nginxMissing() is None:
                scale.add("workers: 1, nginx in front")   # nginx's mail proxy before workers: 1
            for target in scale:
                for cell in ("SMTP 1 KiB c=50", "POP3 2 users x 20 x 10 KiB"):
                    self.assertRegex(table, rf"(?m)^\| {cell} \| {target} \| [0-9]")
            scaled = [r for r in records if r["scenario"] == "scale" and not r["result"].get("error")]
            self.assertEqual({r["target"] for r in scaled}, scale)
            extra = {"workers: 1, PostgreSQL": "postgres", "workers: 1, nginx in front": "nginx"}
            for record in scaled:
                if not record["cell"].startswith("chat"):
                    # every message served, and the CPU of the process in question read (ticks: maybe 0)
                    self.assertFalse(record["result"].get("errors"), record)
                    self.assertIn(f"cpu_us_per_msg_{extra.get(record['target'], 'server')}", record["result"])
        self.assertEqual(scenarios, expected)
        self.assertTrue(os.path.exists(os.path.join(output, "performance.md")))


COMPARE = os.path.join(os.path.dirname(RUN), "compare.py")
LOADIMAP = os.path.join(os.path.dirname(RUN), "loadimap.py")
LOADCHAT = os.path.join(os.path.dirname(RUN), "loadchat.py")
ROOT = os.path.dirname(os.path.dirname(RUN))


class CompareTests(TestCase):
    """
    C{benchmarks/compare.py}: two checkouts (here the same one twice),
    interleaved, one JSON line per run and a summary per checkout.
    """

    timeout = 170

    @defer.inlineCallbacks
    def runCompare(self, *extra: str, scrape: bool = False):  # type: ignore[no-untyped-def]
        scratch = os.path.abspath(self.mktemp())
        os.makedirs(scratch)
        out, err, code = yield getProcessOutputAndValue(
            sys.executable, [COMPARE, f"one={ROOT}", f"two={ROOT}{',scrape=0.01' if scrape else ''}", "-c", "1",
                             "--rounds", "1", *extra],
            env=dict(os.environ, TMPDIR=scratch))
        self.assertEqual(code, 0, err.decode(errors="replace")[-3000:])
        self.assertEqual(os.listdir(scratch), [])        # every server's folder removed at the end
        lines = [json.loads(line) for line in out.decode().splitlines() if line.startswith("{")]
        runs = [line for line in lines if "round" in line]
        summaries = {line["summary"]: line for line in lines if "summary" in line}
        self.assertEqual([r["checkout"] for r in runs], ["one", "two"])
        self.assertEqual(set(summaries), {"one", "two"})
        return runs, summaries

    @defer.inlineCallbacks
    def test_cpuPerMessage(self):  # type: ignore[no-untyped-def]
        """
        Every message accepted, and a CPU time per message measured; the
        checkout given C{scrape=} has its /metrics fetched meanwhile.
        """
        runs, summaries = yield self.runCompare("--count", "200", scrape=True)
        for run in runs:
            self.assertEqual((run["ok"], run["errors"]), (200, 0))
            self.assertGreater(run["cpu_us_per_msg"], 0)
            self.assertGreater(run["msgs_per_s"], 0)
            self.assertEqual(run["per_session"], 0)     # one connection per client
        self.assertNotIn("scrapes", runs[0])
        self.assertGreater(runs[1]["scrapes"], 0)     # /metrics fetched while the load ran

    @defer.inlineCallbacks
    def test_perSession(self):  # type: ignore[no-untyped-def]
        """
        C{--per-session N} reaches C{loadsmtp.py}: a connection per N
        messages (the per-connection cost is part of each message's).
        """
        runs, summaries = yield self.runCompare("--count", "30", "--per-session", "1")
        for run in runs:
            self.assertEqual((run["ok"], run["errors"], run["per_session"]), (30, 0, 1))
            self.assertGreater(run["cpu_us_per_msg"], 0)

    @defer.inlineCallbacks
    def test_callgrindInstructions(self):  # type: ignore[no-untyped-def]
        """
        Under callgrind, instructions per message are counted (and a
        message costs more than a hundred thousand of them).
        """
        if not shutil.which("valgrind"):
            raise self.skipTest("valgrind is not installed (Debian package valgrind)")
        runs, summaries = yield self.runCompare("--count", "5", "--callgrind")
        for run in runs:
            self.assertEqual(run["ok"], 5)
            self.assertGreater(run["instructions_per_msg"], 100_000)


class SetAsideTests(TestCase):
    """
    C{common.setAside}: what a run delivered leaves the mailbox without
    an inode freed (the next runs' file creations would pay for it).
    """

    def test_movedNotFreed(self) -> None:
        sys.path.insert(0, os.path.dirname(COMPARE))
        try:
            from common import setAside
        finally:
            sys.path.remove(os.path.dirname(COMPARE))
        mailbox = os.path.abspath(self.mktemp())
        os.makedirs(os.path.join(mailbox, "new"))
        inodes = {}
        for name in ("1.M1P1.host", "2.M2P1.host"):
            path = os.path.join(mailbox, "new", name)
            with open(path, "wb") as f:
                f.write(b"Subject: x\r\n\r\nbody\r\n")
            inodes[name] = os.stat(path).st_ino
        into = os.path.join(mailbox, "..", "delivered")
        moved = setAside([os.path.join(mailbox, "new", name) for name in inodes], into)
        self.assertEqual(moved, 2)
        self.assertEqual(os.listdir(os.path.join(mailbox, "new")), [])
        self.assertEqual({name: os.stat(os.path.join(into, name)).st_ino for name in os.listdir(into)}, inodes)
        self.assertEqual(setAside([], into, sync=False), 0)

    def test_fileSystem(self) -> None:
        """
        The report names the file system of the servers' data: its type
        and device from the mount table, and for ext4 whether it has a
        journal.
        """
        sys.path.insert(0, os.path.dirname(COMPARE))
        try:
            from common import fileSystem
        finally:
            sys.path.remove(os.path.dirname(COMPARE))
        self.assertEqual(fileSystem("/proc/self"), "proc on proc")
        found = fileSystem(os.path.abspath(self.mktemp()))
        self.assertNotEqual(found, "unknown")
        if found.startswith("ext4 "):
            self.assertRegex(found, r", (with a|no) journal$")


@contextlib.contextmanager
def harnessChild() -> Iterator[dict]:
    """
    C{mailsuite-testserver} as a child process: its ready line (ports,
    users and passwords) while it runs.
    """
    child = subprocess.Popen([sys.executable, "-m", "twisted_mail_suite.testing.server"],
                             stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, cwd=ROOT,
                             env={**os.environ, "PYTHONPATH": ROOT})
    try:
        assert child.stdout is not None
        yield json.loads(child.stdout.readline())
    finally:
        child.terminate()
        child.communicate(timeout=30)


class LoadImapTests(SynchronousTestCase):
    """
    C{benchmarks/loadimap.py --passes N}: each session reads its whole
    mailbox N times within the timed part (a pass alone is too short to
    measure).
    """

    def test_passes(self) -> None:
        with harnessChild() as ready:
            with smtplib.SMTP(ready["host"], ready["ports"]["smtp"], timeout=30) as smtp:
                for n in range(3):
                    smtp.sendmail("load@example.net", ["alice@example.test"], f"Subject: {n}\r\n\r\nbody {n}\r\n")
            done = subprocess.run([sys.executable, LOADIMAP, "--port", str(ready["ports"]["imap"]), "--users", "alice",
                                   "--password", ready["users"]["alice"], "--passes", "4"],
                                  capture_output=True, text=True, timeout=120)
            result = json.loads(done.stdout.strip().splitlines()[-1])
            self.assertEqual((result["errors"], result["passes"], result["messages"], result["listed"]),
                             (0, 4, 12, 12))


class LoadChatTests(SynchronousTestCase):
    """
    C{benchmarks/loadchat.py --warmup N}: N rounds of every target run
    first and are not reported (the generator's own first round costs it
    twice the CPU; the target measured first would pay for it).
    """

    def test_warmup(self) -> None:
        with harnessChild() as ready:
            target = f"ours={ready['host']}:{ready['ports']['chat']}:line"
            done = subprocess.run([sys.executable, LOADCHAT, "--target", target, "--clients", "4", "--lines", "5", "--rate", "50", "--rounds", "2", "--warmup", "1",
                                   "--settle", "0.1", "--drain", "1"],
                                  capture_output=True, text=True, timeout=120)
            result = json.loads(done.stdout.strip().splitlines()[-1])
            self.assertEqual(result["warmup"], 1)
            self.assertEqual([(run["target"], run["round"], run["lost"]) for run in result["runs"]],
                             [("ours", 0, 0), ("ours", 1, 0)])
            self.assertIn("ours round -1 (warm-up)", done.stderr)


class FanOutTests(TestCase):
    """
    C{benchmarks/fanout.py}: the chat fan-out's critical path, with TCP
    and WebSocket members on real loopback sockets.
    """

    timeout = 120

    @defer.inlineCallbacks
    def test_criticalPath(self):  # type: ignore[no-untyped-def]
        """
        Every measured broadcast reached the members and took some CPU.
        """
        out, err, code = yield getProcessOutputAndValue(
            sys.executable, [os.path.join(os.path.dirname(RUN), "fanout.py"), "--members", "12",
                             "--ws-share", "0.5", "--lines", "16", "--gap", "0.01"], env=dict(os.environ))
        self.assertEqual(code, 0, err.decode(errors="replace")[-3000:])
        result = json.loads(out.decode().splitlines()[-1])
        self.assertNotIn("error", result)
        self.assertEqual(result["broadcasts"], 8)
        self.assertGreater(result["path_p50_ms"], 0)
        self.assertGreater(result["user_us_per_delivery"] + result["sys_us_per_delivery"], 0)
