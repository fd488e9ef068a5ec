# -*- test-case-name: tests.test_examples -*-
"""
The examples run, so the docs that show them stay true: the trial and
pytest examples of docs/testing.md pass, and examples/embed.tac serves mail
next to its web page.
"""
from __future__ import annotations

import os
import re
import signal
import smtplib
import sys

from twisted.internet import defer, reactor, threads, utils
from twisted.trial.unittest import TestCase
from twisted.web.client import Agent, readBody

from twisted_mail_suite.testing.process import SuiteProcess

from .fakes import ROOT


def runPython(*arguments: str) -> defer.Deferred:
    return utils.getProcessOutputAndValue(sys.executable, arguments, env={**os.environ, "PYTHONPATH": ROOT},
                                          path=ROOT)


class ExampleTests(TestCase):
    timeout = 120

    @defer.inlineCallbacks
    def test_trialExample(self):  # type: ignore[no-untyped-def]
        """
        The trial example of docs/testing.md passes.
        """
        out, err, code = yield runPython("-m", "twisted.trial", "examples.test_welcome_trial")
        self.assertEqual(code, 0, (out + err).decode("utf-8", "replace"))
        self.assertIn(b"PASSED (successes=3)", out)

    @defer.inlineCallbacks
    def test_pytestExample(self):  # type: ignore[no-untyped-def]
        """
        The pytest example of docs/testing.md passes with the installed
        plugin's fixture.
        """
        out, err, code = yield runPython("-m", "pytest", "-q", "-p", "no:cacheprovider",
                                         "examples/test_welcome_pytest.py")
        self.assertEqual(code, 0, (out + err).decode("utf-8", "replace"))
        self.assertIn(b"2 passed", out)

    def test_docsShowTheExamples(self) -> None:
        """
        docs/testing.md quotes the example files as they are.
        """
        with open(os.path.join(ROOT, "docs", "testing.md"), encoding="utf-8") as f:
            doc = f.read()
        for name in ("welcome.py", "test_welcome_trial.py", "test_welcome_pytest.py"):
            with open(os.path.join(ROOT, "examples", name), encoding="utf-8") as f:
                self.assertIn(f.read().strip(), doc, name)

    @defer.inlineCallbacks
    def test_embedTac(self):  # type: ignore[no-untyped-def]
        """
        examples/embed.tac runs SMTP next to a web page in one process: a
        message sent over SMTP is counted on the page.
        """
        data = os.path.abspath(self.mktemp())
        child = SuiteProcess(
            None, application=["-y", "examples/embed.tac"], cwd=ROOT, pythonPath=ROOT, ready=b"Site starting on",
            env={"EMBED_DATA": data, "EMBED_WEB": "tcp:0:interface=127.0.0.1",
                 "EMBED_SMTP": "tcp:0:interface=127.0.0.1", "EMBED_POP3": "tcp:0:interface=127.0.0.1"})
        self.addCleanup(child.kill)
        yield threads.deferToThread(child.start)
        smtpPort = child.ports["smtp"]
        webPort = int(re.search(rb"Site starting on (\d+)", child.output).group(1))

        def send() -> None:
            with smtplib.SMTP("127.0.0.1", smtpPort, timeout=10) as client:
                client.sendmail("x@outside.test", ["alice@example.test"], b"Subject: hi\r\n\r\nhi\r\n")

        yield threads.deferToThread(send)
        response = yield Agent(reactor).request(b"GET", f"http://127.0.0.1:{webPort}/".encode())
        body = yield readBody(response)
        self.assertIn(b"<li>alice: 1</li>", body)
        self.assertIn(b"<li>bob: 0</li>", body)
