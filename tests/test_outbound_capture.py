# -*- test-case-name: tests.test_outbound_capture -*-
"""
The harness keeps mail for other domains instead of sending it
(L{twisted_mail_suite.testing.outbound}), for tests to assert on, over
real sockets with smtplib (the threaded harness) and with C{sendMail}.
"""
from __future__ import annotations

import re
import smtplib

from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase, TestCase

from twisted_mail_suite.testing import OutboundTimeout, ThreadedHarness
from twisted_mail_suite.testing.outbound import OutboundCapture

MESSAGE = b"From: alice@example.test\r\nTo: carol@elsewhere.test\r\nSubject: Invoice 7\r\n\r\nhello\r\n"


def commit(capture: OutboundCapture, sender: str, recipients: list[str], data: bytes) -> None:
    pending = capture.outbox.begin(sender, recipients)
    pending.write(data)
    pending.commit()


class CaptureTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.clock = Clock()
        self.capture = OutboundCapture(self.clock)

    def test_waitForNext(self) -> None:
        """
        A wait fires with the next committed message that matches, not an
        earlier or a non-matching one.
        """
        commit(self.capture, "alice@example.test", ["dave@elsewhere.test"], MESSAGE)
        d = self.capture.waitFor(to="carol@elsewhere.test", subject=re.compile("Invoice"))
        self.assertNoResult(d)
        commit(self.capture, "alice@example.test", ["carol@elsewhere.test"], MESSAGE)
        message = self.successResultOf(d)
        self.assertEqual((message.recipients, message.subject), (("carol@elsewhere.test",), "Invoice 7"))

    def test_timeoutSaysWhatWasKept(self) -> None:
        """
        No match within the timeout fails with what was awaited and kept.
        """
        commit(self.capture, "alice@example.test", ["dave@elsewhere.test"], MESSAGE)
        d = self.capture.waitFor(to="carol@elsewhere.test", timeout=5)
        self.clock.advance(5)
        error = self.failureResultOf(d, OutboundTimeout).value
        self.assertIn("carol@elsewhere.test", str(error))
        self.assertIn("dave@elsewhere.test: 'Invoice 7'", str(error))

    def test_clear(self) -> None:
        """
        Clearing forgets the kept mail and cancels pending waits.
        """
        commit(self.capture, "alice@example.test", ["dave@elsewhere.test"], MESSAGE)
        d = self.capture.waitFor(to="carol@elsewhere.test")
        self.capture.clear()
        self.assertEqual(self.capture.messages(), [])
        self.failureResultOf(d)


class ThreadedHarnessOutboundTests(SynchronousTestCase):
    """
    Over real sockets: an authenticated client's mail to another domain
    is kept, not sent, and local recipients of the same message get theirs.
    """

    def setUp(self) -> None:
        self.harness = ThreadedHarness()
        self.harness.start()
        self.addCleanup(self.harness.stop)

    def test_submittedMailKept(self) -> None:
        """
        smtplib submits to a foreign and a local address: the foreign copy
        is kept (waitForOutbound), the local one delivered, nothing leaves.
        """
        password = self.harness.users["alice"]
        with smtplib.SMTP("127.0.0.1", self.harness.submissionPort, timeout=10) as client:
            client.login("alice", password)
            client.sendmail("alice@example.test", ["carol@elsewhere.test", "bob@example.test"], MESSAGE)
        kept = self.harness.waitForOutbound(to="carol@elsewhere.test", subject="Invoice 7", timeout=5)
        self.assertEqual(kept.sender, "alice@example.test")
        self.assertIn(b"hello", kept.data)
        self.assertEqual([m.subject for m in self.harness.outboundMessages()], ["Invoice 7"])
        self.assertEqual(self.harness.waitForMessage(to="bob", timeout=5).subject, "Invoice 7")

    def test_mxStillRefusesForeign(self) -> None:
        """
        Without AUTH the MX port still refuses other domains (no open relay).
        """
        with smtplib.SMTP("127.0.0.1", self.harness.smtpPort, timeout=10) as client:
            with self.assertRaises(smtplib.SMTPRecipientsRefused):
                client.sendmail("x@outside.test", ["carol@elsewhere.test"], MESSAGE)
        self.assertEqual(self.harness.outboundMessages(), [])

    def test_clearedBetweenTests(self) -> None:
        """
        clear() forgets the kept outbound mail.
        """
        password = self.harness.users["alice"]
        with smtplib.SMTP("127.0.0.1", self.harness.submissionPort, timeout=10) as client:
            client.login("alice", password)
            client.sendmail("alice@example.test", ["carol@elsewhere.test"], MESSAGE)
        self.harness.waitForOutbound(to="carol@elsewhere.test", timeout=5)
        self.harness.clear()
        self.assertEqual(self.harness.outboundMessages(), [])


class SendMailTests(TestCase):
    def test_sendMailKept(self):  # type: ignore[no-untyped-def]
        """
        An application's C{suite.sendMail} to another domain is kept too.
        """
        from twisted_mail_suite.testing import startHarness

        def check(harness):  # type: ignore[no-untyped-def]
            d = harness.suite.sendMail("alice@example.test", ["carol@elsewhere.test"], MESSAGE)
            d.addCallback(lambda _: harness.waitForOutbound(to="carol@elsewhere.test"))
            return d.addCallback(lambda kept: self.assertEqual(kept.subject, "Invoice 7"))

        return startHarness(self).addCallback(check)
