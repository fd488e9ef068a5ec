# -*- test-case-name: tests.reliability.test_crash -*-
"""
The short form of C{scripts/crash_smtp.py}, run in CI: a real twistd under
SMTP load is killed with SIGKILL twice and restarted, then once more after
POP3 DELE and before QUIT; nothing acknowledged is lost, nothing partial
is visible, C{tmp/} is clean at every start, nothing is deleted without
QUIT.  The long form is documented in C{docs/reliability.md}.
"""
from __future__ import annotations

from typing import Any

from twisted.internet import defer
from twisted.trial.unittest import TestCase

from .support import runScript


class CrashShortFormTests(TestCase):
    timeout = 120

    @defer.inlineCallbacks
    def test_sigkillUnderLoad(self) -> Any:
        """
        Two SIGKILLs under load and one after DELE: zero acknowledged
        messages lost, zero partial files, zero wrongful deletions.
        """
        report, code, err = yield runScript(
            "crash_smtp.py", "--runs", "1", "--kills", "2", "--pop3-kills", "1", "--interval", "0.4", "0.8",
            "--senders", "4", "--max-seconds", "90")
        self.assertEqual(code, 0, (report, err[-2000:]))
        self.assertTrue(report["ok"], report)
        self.assertEqual(report["kills"], 2)
        self.assertEqual(report["pop3_kills"], 1)
        self.assertGreater(report["acked_copies_checked"], 0)
        self.assertEqual((report["lost"], report["corrupt_or_partial"], report["unknown_files"],
                          report["duplicates"], report["misdelivered"]), (0, 0, 0, 0, 0))
        self.assertEqual(report["tmp_files_after_restart"], 0)
        self.assertEqual(report["pop3_deletions_applied_wrongly"], 0)
        self.assertTrue(report["pop3_quit_deleted"])
