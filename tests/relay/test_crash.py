# -*- test-case-name: tests.relay.test_crash -*-
"""
Crash safety of the outbound queue with a real C{twistd}: messages
acknowledged (250) for a foreign recipient, then SIGKILL while their
delivery is in flight, then a restart: every one is delivered (at least
once), nothing is left in the queue.
"""
from __future__ import annotations

import os
import shutil
import smtplib
import tempfile
import time
from typing import Any

from twisted.internet import reactor, threads
from twisted.internet.defer import inlineCallbacks
from twisted.trial.unittest import TestCase

from twisted_mail_suite.testing.configfile import prepareDirectory
from twisted_mail_suite.testing.process import SuiteProcess

from ..fakes import ROOT
from .support import ScriptedFactory

COUNT = 5


def _emptied(folder: str, seconds: float) -> bool:
    """
    Blocking (in a thread): wait up to C{seconds} for C{folder} to be empty.
    """
    deadline = time.monotonic() + seconds
    while os.listdir(folder):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


class KillTests(TestCase):
    timeout = 90

    @inlineCallbacks
    def test_sigkillBetween250AndDelivery(self) -> Any:
        """
        Five messages acknowledged, SIGKILL while the smarthost stalls, restart: all five arrive.
        """
        smarthost = ScriptedFactory({b"GREETING": "stall"})
        port = reactor.listenTCP(0, smarthost, interface="127.0.0.1")
        self.addCleanup(port.stopListening)
        work = tempfile.mkdtemp(prefix="ms-crash-")
        self.addCleanup(shutil.rmtree, work, True)
        config = prepareDirectory(work, {"alice": "secret"}, roles=("submission",), sections={"relay": {
            "mode": "smarthost", "smarthost": f"127.0.0.1:{port.getHost().port}", "smarthost_tls": "none",
            "retry_schedule": ["1h"]}})
        child = SuiteProcess(config, pythonPath=ROOT)
        self.addCleanup(child.kill)
        yield threads.deferToThread(child.start)
        submission = child.ports["submission"]

        def send() -> None:
            with smtplib.SMTP("127.0.0.1", submission, timeout=10) as client:
                client.login("alice", "secret")
                for n in range(COUNT):
                    client.sendmail("alice@example.test", [f"user{n}@remote.test"],
                                    f"Subject: token-{n}\r\n\r\nbody {n}\r\n".encode())

        yield threads.deferToThread(send)
        queued = os.listdir(os.path.join(work, "data", "queue", "active"))
        self.assertEqual(len(queued), COUNT)
        child.kill()                                   # SIGKILL: the deliveries were stalled, in flight
        del smarthost.replies[b"GREETING"]
        yield threads.deferToThread(child.start)
        messages = yield smarthost.whenMessages(COUNT)
        subjects = {line for text in messages for line in text.split(b"\r\n") if line.startswith(b"Subject:")}
        self.assertEqual(subjects, {f"Subject: token-{n}".encode() for n in range(COUNT)})
        active = os.path.join(work, "data", "queue", "active")
        drained = yield threads.deferToThread(_emptied, active, 20.0)
        yield threads.deferToThread(child.terminate)
        self.assertTrue(drained, os.listdir(active))
        self.assertEqual(os.listdir(os.path.join(work, "data", "queue", "tmp")), [])
