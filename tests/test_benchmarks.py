# -*- test-case-name: tests.test_benchmarks -*-
"""
The one-command benchmark keeps working: C{benchmarks/run.py --quick} runs
to the end in a child process and writes a table with our suite's rows,
whichever anchors this machine has.  Its numbers are not asserted.
"""
from __future__ import annotations

import json
import os
import re
import sys

from twisted.internet import defer
from twisted.internet.utils import getProcessOutputAndValue
from twisted.trial.unittest import TestCase

RUN = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "benchmarks", "run.py")


class QuickBenchmarkTests(TestCase):
    timeout = 115

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
        scenarios = {r["scenario"] for r in records if r["target"] == "ours" and not r["result"].get("error")}
        self.assertEqual(scenarios, {"smtp", "pop3", "pop3-big", "imap", "imap-idle", "chat", "idle", "idle-traced",
                                     "maxchat"})
        self.assertTrue(os.path.exists(os.path.join(output, "performance.md")))
