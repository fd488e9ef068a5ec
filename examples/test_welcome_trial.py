"""
Testing sendWelcome with trial and the in-process suite.

    python -m twisted.trial examples.test_welcome_trial
"""
from twisted.internet import defer
from twisted.mail.smtp import SMTPDeliveryError
from twisted.trial.unittest import TestCase

from twisted_mail_suite.testing import startHarness

from .welcome import sendWelcome


class WelcomeTests(TestCase):
    @defer.inlineCallbacks
    def setUp(self):
        self.mail = yield startHarness(self, users={"alice": "secret"})

    @defer.inlineCallbacks
    def test_welcomeArrives(self):
        """The welcome mail reaches the user's mailbox."""
        yield sendWelcome(self.mail.address("alice"), smtpPort=self.mail.smtpPort)
        message = yield self.mail.waitForMessage(to="alice", subject="Welcome aboard", timeout=5)
        self.assertIn("your account is ready", message.message.get_content())

    @defer.inlineCallbacks
    def test_retriesTemporaryFailure(self):
        """One temporary failure is retried: the mail still arrives."""
        self.mail.failDeliveries(1, code=451)
        yield sendWelcome(self.mail.address("alice"), smtpPort=self.mail.smtpPort)
        yield self.mail.waitForMessage(to="alice", timeout=5)

    @defer.inlineCallbacks
    def test_givesUpAfterTwoFailures(self):
        """Two temporary failures in a row are reported to the caller."""
        self.mail.failDeliveries(2, code=451)
        error = yield self.assertFailure(
            sendWelcome(self.mail.address("alice"), smtpPort=self.mail.smtpPort), SMTPDeliveryError)
        self.assertEqual(error.code, 451)
        self.assertEqual(self.mail.messagesFor("alice"), [])
