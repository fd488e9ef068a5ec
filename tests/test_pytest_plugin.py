# -*- test-case-name: tests.test_pytest_plugin -*-
"""
The pytest plugin's fixtures, exercised by a real pytest run (in a child
process: pytest-twisted's reactor greenlet cannot share a process with
trial's TestCases).
"""
from __future__ import annotations

import os
import sys

from twisted.internet import defer, utils
from twisted.trial.unittest import TestCase

from .fakes import ROOT


class PytestPluginTests(TestCase):
    timeout = 120

    @defer.inlineCallbacks
    def test_harnessCases(self):  # type: ignore[no-untyped-def]
        """
        Every case of tests/pytest_cases/harness_cases.py passes under
        pytest with the plugin the package registers.
        """
        out, err, code = yield utils.getProcessOutputAndValue(
            sys.executable, ["-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/pytest_cases/harness_cases.py"],
            env={**os.environ, "PYTHONPATH": ROOT}, path=ROOT)
        self.assertEqual(code, 0, (out + err).decode("utf-8", "replace"))
        self.assertIn(b"4 passed", out)
