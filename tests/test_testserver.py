# -*- test-case-name: tests.test_testserver -*-
"""
C{mailsuite-testserver}, run as a child process the way a test in another
language runs it: read the JSON line, send and fetch mail with the printed
ports and passwords, stop it with a signal.
"""
from __future__ import annotations

import configparser
import io
import json
import os
import poplib
import signal
import smtplib
import socket
import subprocess
import sys
from typing import Any

from twisted.internet import defer, threads
from twisted.trial.unittest import SynchronousTestCase, TestCase

from twisted_mail_suite.testing.server import parseArguments

from .fakes import ROOT, interactiveSignals


class ServerChild:
    """
    One C{mailsuite-testserver} child (as C{python -m}, which is what the
    console script runs).
    """

    def __init__(self, *arguments: str) -> None:
        self.child = subprocess.Popen(
            [sys.executable, "-m", "twisted_mail_suite.testing.server", *arguments],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env={**os.environ, "PYTHONPATH": ROOT}, cwd=ROOT,
            preexec_fn=interactiveSignals)

    def ready(self) -> dict[str, Any]:
        assert self.child.stdout is not None
        line = self.child.stdout.readline()
        if not line:
            raise AssertionError(f"no ready line; stderr: {self.child.stderr.read()!r}")  # type: ignore[union-attr]
        return json.loads(line)  # type: ignore[no-any-return]

    def stop(self, signalNumber: int) -> tuple[int, str]:
        self.child.send_signal(signalNumber)
        out, _ = self.child.communicate(timeout=30)
        return self.child.returncode, out.decode("utf-8", "replace")

    def kill(self) -> None:
        if self.child.poll() is None:
            self.child.kill()
        self.child.communicate()


def freePort() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]  # type: ignore[no-any-return]


class TestServerTests(TestCase):
    timeout = 90

    @defer.inlineCallbacks
    def test_mailRoundTripThenSIGTERM(self):  # type: ignore[no-untyped-def]
        """
        The JSON line gives ports and passwords that work: a message sent over
        SMTP is read back over POP3; SIGTERM then stops the server with
        status 0 and removes its temporary folder.
        """
        server = ServerChild("--user", "carol")
        self.addCleanup(server.kill)
        ready = yield threads.deferToThread(server.ready)
        self.assertEqual(set(ready["users"]), {"carol"})
        self.assertEqual(ready["event"], "ready")

        def roundTrip() -> int:
            with smtplib.SMTP(ready["host"], ready["ports"]["smtp"], timeout=10) as client:
                client.sendmail("tool@outside.test", [f"carol@{ready['domain']}"], b"Subject: hi\r\n\r\nhi\r\n")
            pop = poplib.POP3(ready["host"], ready["ports"]["pop3"], timeout=10)
            pop.user("carol")
            pop.pass_(ready["users"]["carol"])
            count = pop.stat()[0]
            pop.quit()
            return count  # type: ignore[no-any-return]

        count = yield threads.deferToThread(roundTrip)
        self.assertEqual(count, 1)
        code, out = yield threads.deferToThread(server.stop, signal.SIGTERM)
        self.assertEqual(code, 0, out)
        self.assertFalse(os.path.exists(ready["dataDir"]))

    @defer.inlineCallbacks
    def test_fixedPortsTLSAndSIGINT(self):  # type: ignore[no-untyped-def]
        """
        A fixed port is used as given, C{--tls} adds implicit-TLS ports with a
        CA file that verifies, and SIGINT stops the server.
        """
        port = freePort()
        server = ServerChild("--port", f"smtp={port}", "--tls")
        self.addCleanup(server.kill)
        ready = yield threads.deferToThread(server.ready)
        self.assertEqual(ready["ports"]["smtp"], port)
        self.assertEqual(set(ready["users"]), {"alice", "bob"})

        def overTLS() -> None:
            import ssl

            context = ssl.create_default_context(cafile=ready["caFile"])
            with smtplib.SMTP_SSL(ready["host"], ready["ports"]["smtps"], context=context, timeout=10) as client:
                client.noop()

        yield threads.deferToThread(overTLS)
        code, out = yield threads.deferToThread(server.stop, signal.SIGINT)
        self.assertEqual(code, 0, out)

    @defer.inlineCallbacks
    def test_portInUse(self):  # type: ignore[no-untyped-def]
        """
        A port that cannot be bound ends the server with status 1 and says so.
        """
        taken = socket.socket()
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        self.addCleanup(taken.close)
        server = ServerChild("--port", f"smtp={taken.getsockname()[1]}")
        self.addCleanup(server.kill)

        def wait() -> tuple[int, bytes]:
            _, err = server.child.communicate(timeout=30)
            return server.child.returncode, err

        code, err = yield threads.deferToThread(wait)
        self.assertEqual(code, 1)
        self.assertIn(b"cannot start", err)


class ArgumentTests(SynchronousTestCase):
    def test_ports(self) -> None:
        """
        C{--port ROLE=PORT} takes protocol roles and their implicit-TLS forms.
        """
        self.assertEqual(parseArguments(["--port", "smtp=2525", "--port", "pop3s=1995"]).port,
                         [("smtp", 2525), ("pop3s", 1995)])

    def test_badPort(self) -> None:
        """
        An unknown role or a bad number is a usage error (exit status 2).
        """
        self.patch(sys, "stderr", io.StringIO())
        for bad in ("gopher=70", "smtp", "smtp=x", "smtp=70000"):
            with self.assertRaises(SystemExit) as raised:
                parseArguments(["--port", bad])
            self.assertEqual(raised.exception.code, 2, bad)

    def test_consoleScript(self) -> None:
        """
        setup.cfg installs the C{mailsuite-testserver} command.
        """
        config = configparser.ConfigParser()
        config.read(os.path.join(ROOT, "setup.cfg"))
        scripts = config["options.entry_points"]["console_scripts"]
        self.assertIn("mailsuite-testserver = twisted_mail_suite.testing.server:main", scripts)
