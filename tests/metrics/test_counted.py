# -*- test-case-name: tests.metrics.test_counted -*-
"""
Each metric moves when its event really happens: real clients (smtplib,
poplib, imaplib, a chat socket) over loopback against a suite on its own
reactor thread (L{ThreadedHarness}), read back from the suite's own
Prometheus registry.
"""
from __future__ import annotations

import imaplib
import poplib
import smtplib
import socket

from prometheus_client import generate_latest
from twisted.trial.unittest import SynchronousTestCase

from twisted_mail_suite.testing import ThreadedHarness

FAST_FAILURES = {"auth.failure_delay": 0.0, "auth.max_delay": 0.0}
MESSAGE = b"Subject: counted\r\n\r\nbody\r\n"


def readUntil(sock: socket.socket, marker: bytes) -> bytes:
    data = b""
    while marker not in data:
        chunk = sock.recv(4096)
        if not chunk:
            raise AssertionError(f"closed before {marker!r}: {data!r}")
        data += chunk
    return data


class CountedTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.mail = ThreadedHarness(overrides=FAST_FAILURES).start()
        self.addCleanup(self.mail.stop)

    def gone(self, role: str) -> None:
        """
        Wait until every connection of C{role} is released.
        """
        self.mail.callInReactor(lambda: self.mail.harness.suite.factories[role].manager.registry.whenEmpty())

    def test_smtpMessageAccepted(self) -> None:
        """
        A message sent with smtplib counts once as accepted, its commit in
        the delivery histogram and its fsyncs in the fsync histogram; its
        connection counts as accepted, and is no longer open once closed.
        """
        self.assertEqual(self.mail.metric("mailsuite_smtp_messages_accepted_total"), 0.0)
        with smtplib.SMTP("127.0.0.1", self.mail.smtpPort, timeout=10) as client:
            self.assertEqual(self.mail.metric("mailsuite_connections_open", protocol="smtp"), 1.0)
            client.sendmail("someone@outside.test", [self.mail.address("alice")], MESSAGE)
        self.assertEqual(self.mail.metric("mailsuite_smtp_messages_accepted_total"), 1.0)
        self.assertEqual(self.mail.metric("mailsuite_delivery_seconds_count"), 1.0)
        self.assertGreaterEqual(self.mail.metric("mailsuite_fsync_seconds_count"), 1.0)
        self.assertGreater(self.mail.metric("mailsuite_delivery_seconds_sum"), 0.0)
        self.assertEqual(self.mail.metric("mailsuite_connections_total", protocol="smtp", result="accepted"), 1.0)
        self.gone("smtp")
        self.assertEqual(self.mail.metric("mailsuite_connections_open", protocol="smtp"), 0.0)
        self.assertIsNone(self.mail.metric("mailsuite_smtp_messages_rejected_total", reason="unknown_user"))

    def test_scrapedOverHTTP(self) -> None:
        """
        The suite's own counters are what the web listener's C{/metrics}
        serves: a message sent over SMTP moves them in the scrape.
        """
        import urllib.request

        def scrape() -> str:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.mail.httpPort}/metrics", timeout=10) as reply:
                return reply.read().decode()

        self.assertIn("mailsuite_smtp_messages_accepted_total 0.0", scrape())
        with smtplib.SMTP("127.0.0.1", self.mail.smtpPort, timeout=10) as client:
            client.sendmail("someone@outside.test", [self.mail.address("alice")], MESSAGE)
        text = scrape()
        self.assertIn("mailsuite_smtp_messages_accepted_total 1.0", text)
        self.assertIn('mailsuite_connections_total{protocol="http",result="accepted"}', text)

    def test_smtpRejectedWithReason(self) -> None:
        """
        A 550 for an unknown recipient counts as rejected with reason
        C{unknown_user}; a message over the size limit as C{too_big}.
        """
        with smtplib.SMTP("127.0.0.1", self.mail.smtpPort, timeout=10) as client:
            client.ehlo()
            client.mail("someone@outside.test")
            code, _ = client.rcpt(f"nobody@{self.mail.domain}")
            self.assertEqual(code, 550)
            client.rset()
            client.mail("someone@outside.test")
            client.rcpt(self.mail.address("alice"))
            size = self.mail.callInReactor(lambda: self.mail.harness.config.smtp.max_message_size)
            code, _ = client.data(b"Subject: big\r\n\r\n" + (b"x" * 998 + b"\r\n") * (size // 1000 + 2))
            self.assertEqual(code, 552)
        self.assertEqual(self.mail.metric("mailsuite_smtp_messages_rejected_total", reason="unknown_user"), 1.0)
        self.assertEqual(self.mail.metric("mailsuite_smtp_messages_rejected_total", reason="too_big"), 1.0)
        self.assertEqual(self.mail.metric("mailsuite_smtp_messages_accepted_total"), 0.0)

    def test_storeFailureRejected(self) -> None:
        """
        A message the store could not keep (451) counts as rejected with
        reason C{delivery_failed}, not as accepted, and not in the
        delivery histogram.
        """
        self.mail.failDeliveries(1, code=451)
        with smtplib.SMTP("127.0.0.1", self.mail.smtpPort, timeout=10) as client:
            with self.assertRaises(smtplib.SMTPDataError) as raised:
                client.sendmail("someone@outside.test", [self.mail.address("alice")], MESSAGE)
        self.assertEqual(raised.exception.smtp_code, 451)
        self.assertEqual(self.mail.metric("mailsuite_smtp_messages_rejected_total", reason="delivery_failed"), 1.0)
        self.assertEqual(self.mail.metric("mailsuite_smtp_messages_accepted_total"), 0.0)
        self.assertEqual(self.mail.metric("mailsuite_delivery_seconds_count"), 0.0)

    def test_refusedAtTheLimit(self) -> None:
        """
        A connection over C{max_connections} is refused (421) and counted
        as refused, not as open.
        """
        limited = ThreadedHarness(overrides={"smtp.max_connections": 1}).start()
        self.addCleanup(limited.stop)
        with smtplib.SMTP("127.0.0.1", limited.smtpPort, timeout=10):
            with socket.create_connection(("127.0.0.1", limited.smtpPort), timeout=10) as second:
                self.assertTrue(readUntil(second, b"\r\n").startswith(b"421 "))
            self.assertEqual(limited.metric("mailsuite_connections_total", protocol="smtp", result="refused"), 1.0)
            self.assertEqual(limited.metric("mailsuite_connections_total", protocol="smtp", result="accepted"), 1.0)
            self.assertEqual(limited.metric("mailsuite_connections_open", protocol="smtp"), 1.0)

    def test_pop3FailedLoginAndSession(self) -> None:
        """
        A wrong POP3 password counts as a failed login of POP3 with outcome
        C{failed}; a right one is a POP3 session until QUIT.
        """
        client = poplib.POP3("127.0.0.1", self.mail.pop3Port, timeout=10)
        client.user("alice")
        with self.assertRaises(poplib.error_proto):
            client.pass_("wrong")
        client.quit()
        self.assertEqual(self.mail.metric("mailsuite_login_failures_total", protocol="pop3", outcome="failed"), 1.0)
        client = poplib.POP3("127.0.0.1", self.mail.pop3Port, timeout=10)
        client.user("alice")
        client.pass_(self.mail.users["alice"])
        self.assertEqual(self.mail.metric("mailsuite_sessions", protocol="pop3"), 1.0)
        client.quit()
        self.gone("pop3")
        self.assertEqual(self.mail.metric("mailsuite_sessions", protocol="pop3"), 0.0)
        self.assertEqual(self.mail.metric("mailsuite_connections_total", protocol="pop3", result="accepted"), 2.0)

    def test_imapSession(self) -> None:
        """
        An IMAP login is an IMAP session until LOGOUT; a wrong password a
        failed IMAP login.
        """
        client = imaplib.IMAP4("127.0.0.1", self.mail.imapPort, timeout=10)
        with self.assertRaises(imaplib.IMAP4.error):
            client.login("alice", "wrong")
        client.login("alice", self.mail.users["alice"])
        self.assertEqual(self.mail.metric("mailsuite_sessions", protocol="imap"), 1.0)
        client.logout()
        self.gone("imap")
        self.assertEqual(self.mail.metric("mailsuite_sessions", protocol="imap"), 0.0)
        self.assertEqual(self.mail.metric("mailsuite_login_failures_total", protocol="imap", outcome="failed"), 1.0)

    def test_submissionLoginFailure(self) -> None:
        """
        A failed AUTH on the submission port counts under C{submission}
        (one AUTH PLAIN: smtplib's C{login} would try every mechanism).
        """
        with smtplib.SMTP("127.0.0.1", self.mail.submissionPort, timeout=10) as client:
            client.ehlo()
            client.user, client.password = "alice", "wrong"
            with self.assertRaises(smtplib.SMTPAuthenticationError):
                client.auth("PLAIN", client.auth_plain)
        self.assertEqual(
            self.mail.metric("mailsuite_login_failures_total", protocol="submission", outcome="failed"), 1.0)

    def test_chatMembersAndLines(self) -> None:
        """
        A chat client is a member while connected; each line it says counts.
        """
        with socket.create_connection(("127.0.0.1", self.mail.chatPort), timeout=10) as chat:
            readUntil(chat, b"joined #lobby")
            self.assertEqual(self.mail.metric("mailsuite_chat_members"), 1.0)
            chat.sendall(b"hello\n/me waves\n/who\n")
            readUntil(chat, b"who #lobby")
            self.assertEqual(self.mail.metric("mailsuite_chat_lines_total"), 2.0)
        self.gone("chat")
        self.assertEqual(self.mail.metric("mailsuite_chat_members"), 0.0)

    def test_exposition(self) -> None:
        """
        The text exposition (what C{/metrics} serves) carries the counts
        and the process metrics.
        """
        with smtplib.SMTP("127.0.0.1", self.mail.smtpPort, timeout=10) as client:
            client.sendmail("someone@outside.test", [self.mail.address("bob")], MESSAGE)
        text = self.mail.callInReactor(lambda: generate_latest(self.mail.harness.metrics.registry)).decode()
        self.assertIn("mailsuite_smtp_messages_accepted_total 1.0", text)
        self.assertIn('mailsuite_connections_total{protocol="smtp",result="accepted"} 1.0', text)
        self.assertIn("process_cpu_seconds_total", text)

    def test_twoSuitesApart(self) -> None:
        """
        Two suites in one process keep their own counts.
        """
        other = ThreadedHarness().start()
        self.addCleanup(other.stop)
        with smtplib.SMTP("127.0.0.1", other.smtpPort, timeout=10) as client:
            client.sendmail("someone@outside.test", [other.address("alice")], MESSAGE)
            client.sendmail("someone@outside.test", [other.address("bob")], MESSAGE)
        with smtplib.SMTP("127.0.0.1", self.mail.smtpPort, timeout=10) as client:
            client.sendmail("someone@outside.test", [self.mail.address("alice")], MESSAGE)
        self.assertEqual(other.metric("mailsuite_smtp_messages_accepted_total"), 2.0)
        self.assertEqual(self.mail.metric("mailsuite_smtp_messages_accepted_total"), 1.0)
        self.assertIsNot(other.harness.metrics.registry, self.mail.harness.metrics.registry)


class RelayCountedTests(SynchronousTestCase):
    def test_relayDeliveryAndQueue(self) -> None:
        """
        A message relayed to another suite (the smarthost) counts as
        C{sent} once recorded, and leaves the queue empty again.
        """
        world = ThreadedHarness(domain="world.test").start()
        self.addCleanup(world.stop)
        mail = ThreadedHarness(relay={"mode": "smarthost", "smarthost": f"127.0.0.1:{world.smtpPort}",
                                      "smarthost_tls": "none"}).start()
        self.addCleanup(mail.stop)
        with smtplib.SMTP("127.0.0.1", mail.submissionPort, timeout=10) as client:
            client.login("alice", mail.users["alice"])
            client.sendmail(mail.address("alice"), [world.address("bob")], MESSAGE)
        world.waitForMessage(to=world.address("bob"))
        mail.callInReactor(lambda: mail.harness.suite.relay.scheduler.whenIdle())
        self.assertEqual(mail.metric("mailsuite_relay_deliveries_total", result="sent"), 1.0)
        self.assertEqual(mail.metric("mailsuite_relay_queue_size"), 0.0)
        self.assertEqual(world.metric("mailsuite_smtp_messages_accepted_total"), 1.0)
