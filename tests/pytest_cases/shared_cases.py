# -*- test-case-name: tests.test_pytest_plugin -*-
"""
A shared C{mailsuite} (run with C{-o mailsuite_scope=session} by
L{tests.test_pytest_plugin}): every test still starts with empty mailboxes,
no faults, and never sees mail an earlier test left in flight.  The tests
run in file order and depend on it.
"""
from __future__ import annotations

import socket
import smtplib

from twisted_mail_suite.testing import MessageTimeout, ThreadedHarness

PORTS: list[int] = []


def test_first(mailsuite: ThreadedHarness) -> None:
    """
    Leave mail delivered, a fault set and a message still in flight.
    """
    PORTS.append(mailsuite.smtpPort)
    with smtplib.SMTP("127.0.0.1", mailsuite.smtpPort, timeout=10) as client:
        client.sendmail("app@example.test", [mailsuite.address("bob")], b"Subject: Welcome\r\n\r\nold\r\n")
    mailsuite.delayDeliveries(0.3)      # lands during the next test's wait, unless dropped
    inFlight = socket.create_connection(("127.0.0.1", mailsuite.smtpPort), timeout=10)
    replies = inFlight.makefile("rb")
    inFlight.sendall(b"EHLO x\r\nMAIL FROM:<a@example.test>\r\nRCPT TO:<bob@example.test>\r\nDATA\r\n")
    while not replies.readline().startswith(b"354"):
        pass
    inFlight.sendall(b"Subject: Welcome\r\n\r\nin flight\r\n.\r\nNOOP\r\n")
    mailsuite.rejectRecipients("alice@*")


def test_second(mailsuite: ThreadedHarness) -> None:
    """
    Same server, nothing of the first test: no mail (not even the one that
    was in flight), no fault.
    """
    assert mailsuite.smtpPort == PORTS[0]
    assert mailsuite.messagesFor("bob") == []
    try:
        message = mailsuite.waitForMessage(to="bob", subject="Welcome", timeout=0.5)
    except MessageTimeout:
        pass
    else:
        raise AssertionError(f"an earlier test's mail: {message.raw!r}")
    with smtplib.SMTP("127.0.0.1", mailsuite.smtpPort, timeout=10) as client:
        client.sendmail("app@example.test", [mailsuite.address("alice")], b"Subject: new\r\n\r\nnew\r\n")
    assert [m.subject for m in mailsuite.messagesFor("alice")] == ["new"]
