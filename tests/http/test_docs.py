# -*- test-case-name: tests.http.test_docs -*-
"""
docs/http-api.md stays true: every C{curl} line of its C{sh} blocks runs,
in order, in one shell, against a harness's real HTTP port (where the
page says C{localhost:8080}), and answers the status its C{# -> NNN}
comment promises.
"""
from __future__ import annotations

import os
import re
import shutil
import smtplib
import subprocess
from typing import Any

from twisted.internet.defer import inlineCallbacks
from twisted.internet.threads import deferToThread
from twisted.trial.unittest import SkipTest, SynchronousTestCase, TestCase

from twisted_mail_suite.testing import startHarness

from ..fakes import ROOT

PAGE = os.path.join(ROOT, "docs", "http-api.md")
EXPECT = re.compile(r"^(curl .*?)\s+#\s*->\s*(\d{3})\s*$")
PRELUDE = """check() {
  expected=$1; shift
  status=$("$@" -o "$BODY" -w '%{http_code}')
  if [ "$status" != "$expected" ]; then
    echo "expected $expected, got $status: $*"; cat "$BODY"; exit 1
  fi
  echo "ok $expected: $*"
}
"""


def script(markdown: str, port: int) -> tuple[str, int]:
    """
    The page's C{sh} blocks as one script: each C{curl ... # -> NNN}
    becomes C{check NNN curl ...}; returns the script and the number of
    checked commands.
    """
    lines, checked, inBlock = [PRELUDE], 0, False
    for line in markdown.splitlines():
        if line.startswith("```"):
            inBlock = line.strip() == "```sh"
            continue
        if not inBlock:
            continue
        line = line.replace("localhost:8080", f"127.0.0.1:{port}")
        match = EXPECT.match(line)
        if match:
            lines.append(f"check {match.group(2)} {match.group(1)}")
            checked += 1
        else:
            lines.append(line)
    return "\n".join(lines) + "\n", checked


class ScriptTests(SynchronousTestCase):
    def test_script(self) -> None:
        """
        Curl lines with a status become checks; the port is the harness's;
        other lines and other blocks are kept or left out as they are.
        """
        text = "```sh\nX=1\ncurl -s localhost:8080/a   # -> 200\n```\n```yaml\ncurl no\n```\n"
        made, checked = script(text, 1234)
        self.assertEqual(checked, 1)
        self.assertIn("X=1\ncheck 200 curl -s 127.0.0.1:1234/a\n", made)
        self.assertNotIn("curl no", made)


class DocsTests(TestCase):
    timeout = 120

    @inlineCallbacks
    def setUp(self) -> Any:
        if shutil.which("curl") is None:
            raise SkipTest("curl is not installed (.ci/run installs it)")
        self.harness = yield startHarness(self, users={"alice": "secret", "bob": "hunter2"},
                                          overrides={"http.admins": ["alice"], "auth.failure_delay": 0.01})

    def test_examples(self) -> Any:
        """
        Every example of docs/http-api.md answers as the page says.
        """
        with open(PAGE, encoding="utf-8") as f:
            text, checked = script(f.read(), self.harness.httpPort)
        self.assertGreater(checked, 20)
        folder = os.path.abspath(self.mktemp())
        os.makedirs(folder)

        def run() -> subprocess.CompletedProcess:
            with smtplib.SMTP("127.0.0.1", self.harness.smtpPort, timeout=10) as smtp:
                smtp.sendmail("bob@example.test", ["alice@example.test"], b"Subject: hi\r\n\r\nhello\r\n")
            return subprocess.run(["bash", "-e", "-c", text], cwd=folder, capture_output=True, text=True,
                                  timeout=90, env={**os.environ, "BODY": os.path.join(folder, "body")})

        def ran(result: subprocess.CompletedProcess) -> None:
            self.assertEqual(result.returncode, 0, result.stdout[-3000:] + result.stderr[-2000:])
            self.assertEqual(result.stdout.count("ok "), checked)

        return deferToThread(run).addCallback(ran)
