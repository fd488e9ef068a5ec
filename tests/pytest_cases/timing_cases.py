# -*- test-case-name: tests.test_pytest_plugin -*-
"""
Start-up cost of the C{mailsuite} fixture (not run by the suite): each
test sends one message with smtplib and waits for it.  pytest's
durations give each test's setup (the fixture's start, or the clear of a
shared one) and teardown:

    python -m pytest -q -p no:cacheprovider tests/pytest_cases/timing_cases.py \\
        --durations=0 --durations-min=0 [-o mailsuite_scope=session]
"""
from __future__ import annotations

import smtplib

import pytest

from twisted_mail_suite.testing import ThreadedHarness


@pytest.mark.parametrize("n", range(50))
def test_oneMessage(mailsuite: ThreadedHarness, n: int) -> None:
    with smtplib.SMTP("127.0.0.1", mailsuite.smtpPort, timeout=10) as client:
        client.sendmail("app@example.test", [mailsuite.address("bob")], f"Subject: {n}\r\n\r\nhi\r\n".encode())
    assert mailsuite.waitForMessage(to="bob", subject=str(n), timeout=5).subject == str(n)
    assert len(mailsuite.messagesFor("bob")) == 1
