# -*- test-case-name: tests.test_pytest_plugin -*-
"""
The pytest side of the harness: the C{mailsuite} fixture of our pytest11
plugin, driven with pytest-twisted.  pytest-twisted runs the reactor in a
greenlet, which trial's own TestCases cannot share, so these cases run in a
pytest child process started by L{tests.test_pytest_plugin} (the file name
keeps the main runs from collecting it).
"""
from __future__ import annotations

import pytest
import pytest_twisted
from twisted.internet import defer
from twisted.mail.smtp import sendmail

from twisted_mail_suite.testing import MailSuiteHarness, MessageTimeout


@pytest_twisted.inlineCallbacks
def test_fixtureGivesStartedHarness(mailsuite: MailSuiteHarness):  # type: ignore[no-untyped-def]
    """
    The fixture is a started harness with users alice and bob whose
    passwords are in its C{users} dict; Twisted's own client delivers to it.
    """
    assert set(mailsuite.users) == {"alice", "bob"}
    waiting = mailsuite.waitForMessage(to="bob", subject="from pytest")
    yield sendmail("127.0.0.1", "app@example.test", [mailsuite.address("bob")],
                   b"Subject: from pytest\n\nhi\n", port=mailsuite.smtpPort)
    message = yield waiting
    assert message.message.get_content() == "hi\n"


@pytest_twisted.inlineCallbacks
def test_fixtureIsFresh(mailsuite: MailSuiteHarness):  # type: ignore[no-untyped-def]
    """
    Each test gets its own harness (function scope by default): nothing
    from the previous test is there, and faults start cleared.
    """
    assert mailsuite.messagesFor("bob") == []
    mailsuite.failDeliveries(1, code=451)
    with pytest.raises(Exception) as info:
        yield sendmail("127.0.0.1", "app@example.test", [mailsuite.address("alice")],
                       b"Subject: x\n\nx\n", port=mailsuite.smtpPort)
    assert "451" in str(info.value)


@pytest_twisted.inlineCallbacks
def test_waitTimesOut(mailsuite: MailSuiteHarness):  # type: ignore[no-untyped-def]
    """
    C{waitForMessage} fails cleanly after its timeout.
    """
    with pytest.raises(MessageTimeout):
        yield mailsuite.waitForMessage(to="alice", timeout=0.05)


def test_sessionHarnessShared(mailsuite_session: MailSuiteHarness, request: pytest.FixtureRequest) -> None:
    """
    The session variant is one harness for the whole run.
    """
    again = request.getfixturevalue("mailsuite_session")
    assert again is mailsuite_session
    assert mailsuite_session.smtpPort > 0
    assert isinstance(defer.succeed(None), defer.Deferred)
