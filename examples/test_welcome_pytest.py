"""
Testing sendWelcome with pytest: installing twisted-mail-suite provides the
`mailsuite` fixture (users alice and bob, passwords in mailsuite.users).

    python -m pytest examples/test_welcome_pytest.py
"""
import pytest
import pytest_twisted
from twisted.mail.smtp import SMTPDeliveryError

from .welcome import sendWelcome


@pytest_twisted.inlineCallbacks
def test_welcomeArrives(mailsuite):
    yield sendWelcome(mailsuite.address("bob"), smtpPort=mailsuite.smtpPort)
    message = yield mailsuite.waitForMessage(to="bob", subject="Welcome aboard", timeout=5)
    assert "your account is ready" in message.message.get_content()


@pytest_twisted.inlineCallbacks
def test_rejectedRecipientIsReported(mailsuite):
    mailsuite.rejectRecipients("bob@*", code=550)
    with pytest.raises(SMTPDeliveryError) as failure:
        yield sendWelcome(mailsuite.address("bob"), smtpPort=mailsuite.smtpPort)
    assert failure.value.code == 550
