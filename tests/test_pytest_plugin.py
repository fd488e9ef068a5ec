# -*- test-case-name: tests.test_pytest_plugin -*-
"""
The pytest plugin's fixtures, exercised by real pytest runs in child
processes (pytest-twisted's reactor greenlet cannot share a process with
trial's TestCases), with and without pytest-twisted active.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

from twisted.internet import defer, threads, utils
from twisted.trial.unittest import TestCase

from .fakes import ROOT, interactiveSignals

CASES = os.path.join(ROOT, "tests", "pytest_cases")


def runPytest(*arguments: str) -> defer.Deferred:
    """
    C{python -m pytest -q ARGUMENTS} in the checkout; fires with
    C{(output, exit code)}.
    """
    d = utils.getProcessOutputAndValue(
        sys.executable, ["-m", "pytest", "-q", "-p", "no:cacheprovider", *arguments],
        env={**os.environ, "PYTHONPATH": ROOT}, path=ROOT)
    return d.addCallback(lambda result: ((result[0] + result[1]).decode("utf-8", "replace"), result[2]))


class PytestPluginTests(TestCase):
    timeout = 120

    @defer.inlineCallbacks
    def test_plainTests(self):  # type: ignore[no-untyped-def]
        """
        Plain synchronous tests with smtplib and poplib pass with the
        C{mailsuite} fixture, pytest-twisted active.
        """
        output, code = yield runPytest(os.path.join(CASES, "plain_cases.py"))
        self.assertEqual(code, 0, output)
        self.assertIn("4 passed", output)

    @defer.inlineCallbacks
    def test_plainTestsWithoutPytestTwisted(self):  # type: ignore[no-untyped-def]
        """
        The same tests pass with pytest-twisted turned off.
        """
        output, code = yield runPytest("-p", "no:twisted", os.path.join(CASES, "plain_cases.py"))
        self.assertEqual(code, 0, output)
        self.assertIn("4 passed", output)

    @defer.inlineCallbacks
    def test_twistedAndPlainInOneSession(self):  # type: ignore[no-untyped-def]
        """
        pytest-twisted tests with C{mailsuite_twisted} and plain tests with
        C{mailsuite} pass in the same session.
        """
        output, code = yield runPytest(os.path.join(CASES, "harness_cases.py"))
        self.assertEqual(code, 0, output)
        self.assertIn("5 passed", output)

    @defer.inlineCallbacks
    def test_sharedServerIsolatesTests(self):  # type: ignore[no-untyped-def]
        """
        With C{mailsuite_scope = session} the tests share one server and
        still start empty: no mail, no fault, nothing that was in flight.
        """
        output, code = yield runPytest("-o", "mailsuite_scope=session", os.path.join(CASES, "shared_cases.py"))
        self.assertEqual(code, 0, output)
        self.assertIn("2 passed", output)

    @defer.inlineCallbacks
    def test_functionScopeIsNotShared(self):  # type: ignore[no-untyped-def]
        """
        The default scope gives each test its own server (the shared cases'
        check of the port fails), so the run above proves sharing.
        """
        output, code = yield runPytest(os.path.join(CASES, "shared_cases.py"))
        self.assertEqual(code, 1, output)
        self.assertIn("PORTS[0]", output)

    @defer.inlineCallbacks
    def test_badScope(self):  # type: ignore[no-untyped-def]
        """
        An unknown C{mailsuite_scope} is a usage error naming the value.
        """
        output, code = yield runPytest("-o", "mailsuite_scope=forever", os.path.join(CASES, "plain_cases.py"))
        self.assertNotEqual(code, 0, output)
        self.assertIn("'forever'", output)

    @defer.inlineCallbacks
    def test_twistedFixtureWithoutPytestTwisted(self):  # type: ignore[no-untyped-def]
        """
        C{mailsuite_twisted} without pytest-twisted fails at once, saying why.
        """
        output, code = yield runPytest("-p", "no:twisted", os.path.join(CASES, "twisted_fixture_cases.py"))
        self.assertEqual(code, 1, output)
        self.assertIn("mailsuite_twisted needs pytest-twisted", output)


def interruptedRun(*arguments: str) -> tuple[str, int, float]:
    """
    Start pytest on the blocking case, wait until the test blocks, send
    SIGINT; return the output, the exit code and the seconds it took to end.
    """
    child = subprocess.Popen(
        [sys.executable, "-m", "pytest", "-q", "-s", "-p", "no:cacheprovider", *arguments,
         os.path.join(CASES, "blocking_cases.py")],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env={**os.environ, "PYTHONPATH": ROOT}, cwd=ROOT,
        preexec_fn=interactiveSignals)
    assert child.stdout is not None
    try:
        output = b""
        while b"waiting for mail" not in output:
            line = child.stdout.readline()
            if not line:
                break
            output += line
        sent = time.monotonic()
        child.send_signal(signal.SIGINT)
        rest, _ = child.communicate(timeout=30)
        return (output + rest).decode("utf-8", "replace"), child.returncode, time.monotonic() - sent
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()


class InterruptTests(TestCase):
    timeout = 120

    @defer.inlineCallbacks
    def test_ctrlCStopsAWaitingTest(self):  # type: ignore[no-untyped-def]
        """
        SIGINT ends a session blocked in C{waitForMessage} (300 s timeout)
        promptly, as pytest's "interrupted" exit, pytest-twisted active.
        """
        output, code, seconds = yield threads.deferToThread(interruptedRun)
        self.assertEqual(code, 2, output)
        self.assertIn("KeyboardInterrupt", output)
        self.assertLess(seconds, 20, output)

    @defer.inlineCallbacks
    def test_ctrlCWithoutPytestTwisted(self):  # type: ignore[no-untyped-def]
        """
        The same without pytest-twisted.
        """
        output, code, seconds = yield threads.deferToThread(interruptedRun, "-p", "no:twisted")
        self.assertEqual(code, 2, output)
        self.assertIn("KeyboardInterrupt", output)
        self.assertLess(seconds, 20, output)
