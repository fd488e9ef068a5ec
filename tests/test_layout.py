# -*- test-case-name: tests.test_layout -*-
"""
The house rules of docs/architecture.md that a change could quietly break:
the import contracts (import-linter), module size, and every module's
header naming tests that exist.
"""
from __future__ import annotations

import os
import re
import subprocess
import sys

from twisted.trial.unittest import SynchronousTestCase

from .fakes import ROOT

PACKAGE = os.path.join(ROOT, "twisted_mail_suite")
HEADER = re.compile(r"^# -\*- test-case-name: (.+) -\*-$")
MAX_LINES = 500


def modules() -> list[str]:
    found = []
    for folder, _, files in os.walk(PACKAGE):
        found += [os.path.join(folder, name) for name in files if name.endswith(".py")]
    return sorted(found)


class LayoutTests(SynchronousTestCase):
    def test_importContracts(self) -> None:
        """
        The layers, the sans-I/O modules and the no-cycle rule of
        .importlinter hold.
        """
        result = subprocess.run(
            [sys.executable, "-c", "import sys; from importlinter.cli import lint_imports_command; "
                                   "sys.argv[1:] = ['--no-cache']; lint_imports_command()"],
            cwd=ROOT, capture_output=True, text=True, timeout=120)
        self.assertEqual(result.returncode, 0, result.stdout[-3000:] + result.stderr[-2000:])
        self.assertIn("Contracts: 3 kept, 0 broken.", result.stdout)

    def test_moduleSize(self) -> None:
        """
        No module is past 500 lines (one that is has two jobs).
        """
        long = {os.path.relpath(path, ROOT): n for path in modules()
                if (n := sum(1 for _ in open(path, encoding="utf-8"))) > MAX_LINES}
        self.assertEqual(long, {})

    def test_headers(self) -> None:
        """
        Every module starts with a test-case-name naming test modules that
        exist, and uses postponed annotations.
        """
        problems = []
        for path in modules():
            with open(path, encoding="utf-8") as f:
                text = f.read()
            match = HEADER.match(text.split("\n", 1)[0])
            where = os.path.relpath(path, ROOT)
            if match is None:
                problems.append(f"{where}: no test-case-name header")
                continue
            for name in match.group(1).split(","):
                target = os.path.join(ROOT, *name.strip().split("."))
                if not (os.path.isfile(target + ".py") or os.path.isfile(os.path.join(target, "__init__.py"))):
                    problems.append(f"{where}: names {name.strip()}, which does not exist")
            if "from __future__ import annotations" not in text:
                problems.append(f"{where}: no 'from __future__ import annotations'")
        self.assertEqual(problems, [])

    def test_everyPackageShipped(self) -> None:
        """
        Every package of the suite is listed in setup.cfg's C{packages}
        (the development install finds them all anyway; a wheel would not).
        """
        import configparser

        parser = configparser.ConfigParser()
        parser.read(os.path.join(ROOT, "setup.cfg"))
        listed = set(parser["options"]["packages"].split())
        found = {os.path.relpath(folder, ROOT).replace(os.sep, ".")
                 for folder, _, files in os.walk(PACKAGE) if "__init__.py" in files}
        self.assertEqual(found - listed, set())
