# -*- test-case-name: tests.relay.test_dsn -*-
"""
Tests for L{twisted_mail_suite.relay.dsn}: bounces with the structure
of RFC 3464 (and RFC 6522's multipart/report).
"""
from __future__ import annotations

import email
import email.policy

from twisted.trial.unittest import SynchronousTestCase

from twisted_mail_suite.relay.dsn import BOUNCE_SUBJECT, composeBounce, dsnStatus
from twisted_mail_suite.relay.entry import FAILED, QueueEntry, Recipient

HEAD = b"From: alice@example.test\r\nTo: x@remote.test\r\nSubject: Report\r\nMessage-ID: <m1@example.test>\r\n"


class ComposeTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.entry = QueueEntry.new("Q123", "alice@example.test", ["x@remote.test", "y@remote.test"], 1e9)
        failed = [Recipient("x@remote.test", FAILED, "RCPT TO: 550 5.1.1 <x@remote.test>: no such user",
                            "mx.remote.test[192.0.2.1]:25"),
                  Recipient("y@remote.test", FAILED, "451 4.4.1 connection refused (delivery time expired after 9 "
                            "attempts)", "")]
        subject, data = composeBounce("mail.example.test", self.entry, failed, HEAD, 1e9 + 3600)
        self.assertEqual(subject, BOUNCE_SUBJECT)
        self.data = data
        self.message = email.message_from_bytes(data, policy=email.policy.default)

    def test_envelopeOfTheReport(self) -> None:
        """
        From MAILER-DAEMON at our hostname to the sender; a multipart/report of report-type delivery-status.
        """
        self.assertEqual(self.message["From"].addresses[0].addr_spec, "MAILER-DAEMON@mail.example.test")
        self.assertEqual(self.message["To"].addresses[0].addr_spec, "alice@example.test")
        self.assertEqual(self.message["Auto-Submitted"], "auto-replied")
        self.assertEqual(self.message.get_content_type(), "multipart/report")
        self.assertEqual(self.message.get_param("report-type"), "delivery-status")
        self.assertNotIn(b"\n", self.data.replace(b"\r\n", b""))

    def test_threeParts(self) -> None:
        """
        A human-readable part, a message/delivery-status part, and the original headers.
        """
        parts = list(self.message.iter_parts())
        self.assertEqual([p.get_content_type() for p in parts],
                         ["text/plain", "message/delivery-status", "text/rfc822-headers"])
        self.assertIn("<x@remote.test>: (host mx.remote.test said) 550 5.1.1", parts[0].get_content())
        self.assertIn(b"Subject: Report\r\nMessage-ID: <m1@example.test>", self.data)

    def test_perRecipientBlocks(self) -> None:
        """
        Per-message fields, then one block per failed recipient with RFC 3464's fields.
        """
        report = self.data.split(b"message/delivery-status\r\n\r\n", 1)[1].split(b"\r\n--", 1)[0].decode()
        blocks = report.strip().split("\r\n\r\n")
        self.assertEqual(len(blocks), 3)
        self.assertIn("Reporting-MTA: dns; mail.example.test", blocks[0])
        self.assertIn("Arrival-Date: ", blocks[0])
        first = dict(line.split(": ", 1) for line in blocks[1].split("\r\n"))
        self.assertEqual((first["Final-Recipient"], first["Action"], first["Status"], first["Remote-MTA"],
                          first["Diagnostic-Code"]),
                         ("rfc822; x@remote.test", "failed", "5.1.1", "dns; mx.remote.test",
                          "smtp; 550 5.1.1 <x@remote.test>: no such user"))
        second = dict(line.split(": ", 1) for line in blocks[2].split("\r\n"))
        self.assertEqual((second["Status"], "Remote-MTA" in second), ("5.4.7", False))

    def test_status(self) -> None:
        """
        The status is the reply's 5.x.x, 5.4.7 for expiry, else 5.0.0.
        """
        self.assertEqual([dsnStatus(r) for r in ("550 5.7.1 no", "554 no", "451 4.4.1 x", "421 later")],
                         ["5.7.1", "5.0.0", "5.4.7", "5.4.7"])
