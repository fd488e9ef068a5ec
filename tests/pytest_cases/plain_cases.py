# -*- test-case-name: tests.test_pytest_plugin -*-
"""
Plain synchronous tests with the C{mailsuite} fixture: blocking clients,
blocking methods, faults in force at once.  Run in a pytest child process
by L{tests.test_pytest_plugin}, with and without pytest-twisted active.
"""
from __future__ import annotations

import poplib
import smtplib

import pytest

from twisted_mail_suite.testing import MessageTimeout, ThreadedHarness


def send(mailsuite: ThreadedHarness, to: str, subject: str) -> None:
    with smtplib.SMTP("127.0.0.1", mailsuite.smtpPort, timeout=10) as client:
        client.sendmail("app@example.test", [mailsuite.address(to)], f"Subject: {subject}\r\n\r\nhi\r\n".encode())


def test_issueExample(mailsuite: ThreadedHarness) -> None:
    """
    The first test most people write: smtplib in the test, then wait.
    """
    with smtplib.SMTP("127.0.0.1", mailsuite.smtpPort) as s:
        s.sendmail("app@example.test", [mailsuite.address("bob")], b"Subject: Welcome\r\n\r\nhi\r\n")
    message = mailsuite.waitForMessage(to="bob", subject="Welcome", timeout=5)
    assert message.message.get_content() == "hi\n"
    assert [m.subject for m in mailsuite.messagesFor("bob")] == ["Welcome"]


def test_randomPasswordsLogIn(mailsuite: ThreadedHarness) -> None:
    """
    The default users have random passwords, in C{users}, that work over POP3.
    """
    assert set(mailsuite.users) == {"alice", "bob"}
    assert "secret" not in mailsuite.users.values()
    send(mailsuite, "alice", "for pop3")
    client = poplib.POP3("127.0.0.1", mailsuite.pop3Port, timeout=10)
    client.user("alice")
    client.pass_(mailsuite.users["alice"])
    assert client.stat()[0] == 1
    client.quit()


def test_faultsApplyAtOnce(mailsuite: ThreadedHarness) -> None:
    """
    A fault set by a blocking call is in force for the next connection.
    """
    mailsuite.rejectRecipients("bob@*", code=550)
    with pytest.raises(smtplib.SMTPRecipientsRefused):
        send(mailsuite, "bob", "refused")
    mailsuite.reset()
    mailsuite.failDeliveries(1, code=451)
    with pytest.raises(smtplib.SMTPDataError) as info:
        send(mailsuite, "bob", "failed")
    assert info.value.smtp_code == 451
    send(mailsuite, "bob", "kept")
    assert [m.subject for m in mailsuite.messagesFor("bob")] == ["kept"]


def test_waitTimesOutSayingWhat(mailsuite: ThreadedHarness) -> None:
    """
    A wait for mail that never comes fails within its timeout, saying what
    it waited for and what came.
    """
    send(mailsuite, "alice", "something else")
    with pytest.raises(MessageTimeout) as info:
        mailsuite.waitForMessage(to="alice", subject="Welcome", timeout=0.2)
    assert "alice@example.test" in str(info.value)
    assert "'Welcome'" in str(info.value)
    assert "'something else'" in str(info.value)
