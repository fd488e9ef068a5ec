# -*- test-case-name: tests.reliability.test_load -*-
"""
The CI form of C{scripts/load_faults.py} against a real twistd: abrupt
drops, slowloris, a chat room with members that never read, clients
vanishing mid-DATA, and the connection limits (per address and total).
In each a normal client is served meanwhile, the server's descriptors
come back to where they were, and its memory stays bounded.
"""
from __future__ import annotations

from typing import Any

from twisted.internet import defer
from twisted.trial.unittest import TestCase

from .support import runScript

RSS_GROWTH_LIMIT_KIB = 64 * 1024     # generous: the real figures are a few MiB (docs/reliability.md)


class LoadShortFormTests(TestCase):
    timeout = 180

    @defer.inlineCallbacks
    def test_loadAndFaults(self) -> Any:
        """
        Every scenario passes its checks with every probe served, and the
        peak RSS during a scenario stays within a bound of the RSS before.
        """
        report, code, err = yield runScript("load_faults.py", "--profile", "ci")
        byName = {s["scenario"]: s for s in report["scenarios"]}
        self.assertEqual(sorted(byName), ["chat", "drops", "limits", "middata", "slowloris"])
        for name, scenario in byName.items():
            self.assertTrue(scenario["ok"], (name, scenario))
            self.assertEqual(scenario["probes_ok"], scenario["probes"], (name, scenario))
            self.assertLess(scenario["rss_kib_peak_during"] - scenario["rss_kib_before"], RSS_GROWTH_LIMIT_KIB,
                            (name, scenario))
        self.assertEqual(byName["middata"]["kept"], 0)
        self.assertEqual(byName["chat"]["silent_dropped"], byName["chat"]["silent"])
        self.assertEqual(byName["chat"]["readers_lost"], 0)
        for role in ("smtp", "pop3", "chat"):
            self.assertTrue(byName["limits"][f"check_{role}"], byName["limits"][role])
        self.assertTrue(report["ok"], report)
        self.assertEqual(code, 0, err[-2000:])
