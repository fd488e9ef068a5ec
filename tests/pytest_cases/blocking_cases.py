# -*- test-case-name: tests.test_pytest_plugin -*-
"""
A test blocked in C{waitForMessage} for a long time: L{tests.test_pytest_plugin}
interrupts it with SIGINT and expects the session to end promptly.
"""
from __future__ import annotations

from twisted_mail_suite.testing import ThreadedHarness


def test_waitsLong(mailsuite: ThreadedHarness) -> None:
    print("waiting for mail", flush=True)
    mailsuite.waitForMessage(to="bob", subject="never sent", timeout=300)
