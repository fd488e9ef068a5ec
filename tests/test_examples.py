# -*- test-case-name: tests.test_examples -*-
"""
The examples run, so the docs that show them stay true: every recipe of
docs/testing.md is copied out of the page, verbatim, into a fresh folder
laid out as the page says, and its commands run there in a child process;
examples/embed.tac serves mail next to its web page.
"""
from __future__ import annotations

import os
import re
import smtplib
import sys
from dataclasses import dataclass

from twisted.internet import defer, reactor, threads, utils
from twisted.trial.unittest import SynchronousTestCase, TestCase
from twisted.web.client import Agent, readBody

from twisted_mail_suite.testing.process import SuiteProcess

from .fakes import ROOT

FILE_LINE = re.compile(r"^`([\w./-]+\.(?:py|ini|toml|cfg))`:\s*$")


@dataclass(frozen=True)
class Run:
    """
    One command of a recipe, with the files the page showed before it in
    the same section.
    """

    section: str
    command: str
    files: tuple[tuple[str, str], ...]


def recipeRuns(markdown: str) -> list[Run]:
    """
    Each C{python -m ...} line of a C{sh} block, in a C{##} section that
    shows files (a line C{`name.py`:} before a code block).
    """
    runs: list[Run] = []
    section, files, pending = "", {}, None
    lines = iter(markdown.splitlines())
    for line in lines:
        if line.startswith("## "):
            section, files, pending = line[3:].strip(), {}, None
        elif FILE_LINE.match(line):
            pending = FILE_LINE.match(line).group(1)  # type: ignore[union-attr]
        elif line.startswith("```"):
            language = line[3:].strip()
            block = []
            for inner in lines:
                if inner.startswith("```"):
                    break
                block.append(inner)
            if pending is not None:
                files[pending] = "\n".join(block) + "\n"
                pending = None
            elif language == "sh" and files:
                for command in block:
                    if command.startswith("python -m "):
                        runs.append(Run(section, command, tuple(files.items())))
    return runs


def readTestingPage() -> str:
    with open(os.path.join(ROOT, "docs", "testing.md"), encoding="utf-8") as f:
        return f.read()


RECIPES = [
    ("pytest with smtplib", "python -m pytest -q"),
    ("Django", "python -m django test --settings=settings"),
    ("Django", "python -m pytest -q tests"),
    ("Flask-Mail", "python -m pytest -q"),
    ("Twisted code: pytest-twisted and trial", "python -m pytest -q test_welcome_pytest.py"),
    ("Twisted code: pytest-twisted and trial", "python -m twisted.trial test_welcome_trial"),
]


class RecipeParsingTests(SynchronousTestCase):
    def test_pageHasTheRecipes(self) -> None:
        """
        The page's runnable recipes are exactly the ones run below, so a new
        recipe cannot go untested.
        """
        self.assertEqual([(run.section, run.command) for run in recipeRuns(readTestingPage())], RECIPES)

    def test_filesAndCommands(self) -> None:
        """
        A file block belongs to the section's later commands, not to other
        sections; sh lines that are not C{python -m} are not run.
        """
        page = ("## One\n\n`a.py`:\n\n```python\nA = 1\n```\n\n```sh\npip install x\npython -m pytest\n```\n"
                "## Two\n\n```sh\npython -m nothing\n```\n`b/c.py`:\n```python\nB = 2\n```\n```sh\npython -m b\n```\n")
        self.assertEqual(recipeRuns(page), [Run("One", "python -m pytest", (("a.py", "A = 1\n"),)),
                                            Run("Two", "python -m b", (("b/c.py", "B = 2\n"),))])


class RecipeTests(TestCase):
    timeout = 180

    @defer.inlineCallbacks
    def runRecipe(self, index: int, extra: tuple[str, ...] = ()):  # type: ignore[no-untyped-def]
        """
        Write the files of recipe C{index} into a fresh folder and run its
        command there; fail with the output unless it exits 0.
        """
        run = recipeRuns(readTestingPage())[index]
        self.assertEqual((run.section, run.command), RECIPES[index])
        project = os.path.abspath(self.mktemp())
        for name, text in run.files:
            path = os.path.join(project, name)
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, "w", encoding="utf-8") as f:
                f.write(text)
        arguments = run.command.split()[1:] + list(extra)
        env = {**os.environ, "PYTHONPATH": ROOT, "PYTHONDONTWRITEBYTECODE": "1"}
        out, err, code = yield utils.getProcessOutputAndValue(sys.executable, arguments, env=env, path=project)
        output = (out + err).decode("utf-8", "replace")
        self.assertEqual(code, 0, f"{run.command} in {project}:\n{output}")
        return output

    @defer.inlineCallbacks
    def test_pytestSmtplib(self):  # type: ignore[no-untyped-def]
        """
        The plain pytest + smtplib recipe (the issue's first test) and its
        TLS test pass.
        """
        output = yield self.runRecipe(0)
        self.assertIn("4 passed", output)

    @defer.inlineCallbacks
    def test_pytestSmtplibWithoutPytestTwisted(self):  # type: ignore[no-untyped-def]
        """
        The same recipe passes with pytest-twisted turned off.
        """
        output = yield self.runRecipe(0, ("-p", "no:twisted"))
        self.assertIn("4 passed", output)

    @defer.inlineCallbacks
    def test_djangoTestRunner(self):  # type: ignore[no-untyped-def]
        """
        The Django recipe passes under Django's own test runner, STARTTLS included.
        """
        output = yield self.runRecipe(1)
        self.assertIn("Ran 2 tests", output)
        self.assertIn("OK", output)

    @defer.inlineCallbacks
    def test_djangoPytest(self):  # type: ignore[no-untyped-def]
        """
        The Django recipe passes under pytest with settings overridden in the test.
        """
        output = yield self.runRecipe(2)
        self.assertIn("1 passed", output)

    @defer.inlineCallbacks
    def test_flaskMail(self):  # type: ignore[no-untyped-def]
        """
        The Flask-Mail recipe passes.
        """
        output = yield self.runRecipe(3)
        self.assertIn("2 passed", output)

    @defer.inlineCallbacks
    def test_pytestTwisted(self):  # type: ignore[no-untyped-def]
        """
        The pytest-twisted recipe passes with the Deferred-API fixture.
        """
        output = yield self.runRecipe(4)
        self.assertIn("2 passed", output)

    @defer.inlineCallbacks
    def test_trial(self):  # type: ignore[no-untyped-def]
        """
        The trial recipe passes, STARTTLS with the harness's trust included.
        """
        output = yield self.runRecipe(5)
        self.assertIn("PASSED (successes=4)", output)


def readmeTestingBlocks() -> list[str]:
    """
    The python blocks of the README's testing section.
    """
    with open(os.path.join(ROOT, "README.md"), encoding="utf-8") as f:
        readme = f.read()
    section = readme.split("## Testing your code against it", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```python\n(.*?)```", section, re.S)


class ReadmeTests(TestCase):
    timeout = 120

    @defer.inlineCallbacks
    def test_pytestSnippetRuns(self):  # type: ignore[no-untyped-def]
        """
        The README's pytest snippet, pasted into a file of a fresh folder,
        passes under plain pytest.
        """
        project = os.path.abspath(self.mktemp())
        os.makedirs(project)
        with open(os.path.join(project, "test_readme.py"), "w", encoding="utf-8") as f:
            f.write(readmeTestingBlocks()[0])
        out, err, code = yield utils.getProcessOutputAndValue(
            sys.executable, ["-m", "pytest", "-q", "-p", "no:cacheprovider"],
            env={**os.environ, "PYTHONPATH": ROOT}, path=project)
        self.assertEqual(code, 0, (out + err).decode("utf-8", "replace"))
        self.assertIn(b"1 passed", out)

    def test_trialSnippetImports(self) -> None:
        """
        The README's trial snippet compiles and its imports resolve.
        """
        snippet = readmeTestingBlocks()[1]
        compile(snippet, "README.md", "exec")
        imports = "\n".join(line for line in snippet.splitlines() if line.startswith(("from ", "import ")))
        exec(compile(imports, "README.md", "exec"), {})


class EmbedTests(TestCase):
    timeout = 120

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
