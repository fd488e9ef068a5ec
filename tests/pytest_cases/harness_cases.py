# -*- test-case-name: tests.test_pytest_plugin -*-
"""
The pytest-twisted side of the harness: the C{mailsuite_twisted} fixture
of our pytest11 plugin (the Deferred API on the global reactor), next to a
plain C{mailsuite} test in the same session.  pytest-twisted runs the
reactor in a greenlet, which trial's own TestCases cannot share, so these
cases run in a pytest child process started by L{tests.test_pytest_plugin}
(the file name keeps the main runs from collecting it).
"""
from __future__ import annotations

import smtplib

import pytest
import pytest_twisted
from twisted.mail.smtp import sendmail

from twisted_mail_suite.testing import MailSuiteHarness, MessageTimeout, ThreadedHarness


@pytest_twisted.inlineCallbacks
def test_fixtureGivesStartedHarness(mailsuite_twisted: MailSuiteHarness):  # type: ignore[no-untyped-def]
    """
    The fixture is a started harness with users alice and bob whose
    passwords are in its C{users} dict; Twisted's own client delivers to it.
    """
    assert set(mailsuite_twisted.users) == {"alice", "bob"}
    waiting = mailsuite_twisted.waitForMessage(to="bob", subject="from pytest")
    yield sendmail("127.0.0.1", "app@example.test", [mailsuite_twisted.address("bob")],
                   b"Subject: from pytest\n\nhi\n", port=mailsuite_twisted.smtpPort)
    message = yield waiting
    assert message.message.get_content() == "hi\n"


@pytest_twisted.inlineCallbacks
def test_fixtureIsFresh(mailsuite_twisted: MailSuiteHarness):  # type: ignore[no-untyped-def]
    """
    Each test gets its own harness: nothing from the previous test is
    there, and faults start cleared.
    """
    assert mailsuite_twisted.messagesFor("bob") == []
    mailsuite_twisted.failDeliveries(1, code=451)
    with pytest.raises(Exception) as info:
        yield sendmail("127.0.0.1", "app@example.test", [mailsuite_twisted.address("alice")],
                       b"Subject: x\n\nx\n", port=mailsuite_twisted.smtpPort)
    assert "451" in str(info.value)


@pytest_twisted.inlineCallbacks
def test_waitTimesOut(mailsuite_twisted: MailSuiteHarness):  # type: ignore[no-untyped-def]
    """
    C{waitForMessage} fails cleanly after its timeout.
    """
    with pytest.raises(MessageTimeout):
        yield mailsuite_twisted.waitForMessage(to="alice", timeout=0.05)


def test_plainTestInTheSameSession(mailsuite: ThreadedHarness) -> None:
    """
    With pytest-twisted active, a plain test blocking in smtplib is served
    by the threaded harness while the global reactor sits in its greenlet.
    """
    with smtplib.SMTP("127.0.0.1", mailsuite.smtpPort, timeout=10) as client:
        client.sendmail("app@example.test", [mailsuite.address("alice")], b"Subject: plain\r\n\r\nhi\r\n")
    assert mailsuite.waitForMessage(to="alice", subject="plain", timeout=5).subject == "plain"


def test_sessionHarnessShared(mailsuite_session: ThreadedHarness, request: pytest.FixtureRequest) -> None:
    """
    The session variant is one harness for the whole run.
    """
    again = request.getfixturevalue("mailsuite_session")
    assert again is mailsuite_session
    assert mailsuite_session.smtpPort > 0
