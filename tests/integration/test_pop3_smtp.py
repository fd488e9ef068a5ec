# -*- test-case-name: tests.integration.test_pop3_smtp -*-
"""
Mail accepted by our SMTP server and fetched by POP3, over loopback, with
Python's C{smtplib} and C{poplib} as the clients: the message comes out
byte for byte (after the trace headers the SMTP server adds).
"""
from __future__ import annotations

import importlib
import poplib
import smtplib
from typing import Any

from twisted.internet.defer import inlineCallbacks
from twisted.internet.threads import deferToThread
from twisted.trial.unittest import SkipTest, TestCase

from twisted_mail_suite.testing import startHarness

# The harness makes random passwords unless given; these tests log in with known ones.
KNOWN_USERS = {"alice": "secret", "bob": "hunter2"}

MESSAGE = (b"From: Bob <bob@example.test>\r\n"
           b"To: Alice <alice@example.test>\r\n"
           b"Subject: across the suite\r\n"
           b"Message-ID: <pop3-smtp-1@example.test>\r\n"
           b"\r\n"
           b"First line.\r\n"
           b".A line that starts with a dot.\r\n"
           b"..Two dots.\r\n"
           b"\r\n"
           b"Last line.\r\n")


def smtpAvailable() -> bool:
    try:
        importlib.import_module("twisted_mail_suite.smtp.protocol")
    except ImportError:
        return False
    return True


class SMTPToPOP3Tests(TestCase):
    """
    SMTP in, POP3 out.
    """

    timeout = 30

    @inlineCallbacks
    def setUp(self) -> Any:
        if not smtpAvailable():
            raise SkipTest("the SMTP server (twisted_mail_suite.smtp.protocol) is not there yet")
        self.harness = yield startHarness(self, users=KNOWN_USERS)

    @inlineCallbacks
    def test_sentBySMTPFetchedByPOP3(self) -> Any:
        """
        A message sent with smtplib is listed by POP3 with its exact size
        and retrieved byte for byte; deleting it at QUIT empties the
        maildrop.
        """
        def send() -> None:
            with smtplib.SMTP("127.0.0.1", self.harness.smtpPort, timeout=10) as client:
                client.sendmail("bob@example.test", ["alice@example.test"], MESSAGE)

        yield deferToThread(send)
        yield self.harness.waitForMessage(to="alice", subject="across the suite")

        def fetch() -> bytes:
            client = poplib.POP3("127.0.0.1", self.harness.pop3Port, timeout=10)
            try:
                client.user("alice")
                client.pass_("secret")
                (number, size), = [tuple(map(int, line.split())) for line in client.list()[1]]
                response, lines, _ = client.retr(number)
                received = b"\r\n".join(lines) + b"\r\n"
                self.assertEqual(len(received), size)
                self.assertEqual(response, b"+OK %d octets" % size)
                client.dele(number)
                client.quit()
                return received
            finally:
                client.close()

        received = yield deferToThread(fetch)
        self.assertTrue(received.endswith(MESSAGE), received)
        header = received[:-len(MESSAGE)]
        self.assertIn(b"Received: ", header)
        self.assertEqual(self.successResultOf(self.harness.store.listMessages("alice")), [])
