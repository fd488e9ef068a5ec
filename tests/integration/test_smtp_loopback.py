# -*- test-case-name: tests.integration.test_smtp_loopback -*-
"""
The SMTP server over real loopback sockets, with independent clients:
Python's C{smtplib} (plain, STARTTLS, implicit TLS, AUTH), Twisted's own
ESMTP client, and C{swaks} when it is installed.
"""
from __future__ import annotations

import shutil
import smtplib
import socket
import subprocess
from io import BytesIO
from typing import Any

from twisted.internet import defer, reactor
from twisted.internet.threads import deferToThread
from twisted.mail.smtp import ESMTPSenderFactory, sendmail
from twisted.trial.unittest import SkipTest, TestCase

from twisted_mail_suite.testing import startHarness

# The harness makes random passwords unless given; these tests log in with known ones.
KNOWN_USERS = {"alice": "secret", "bob": "hunter2"}

MESSAGE = (b"From: Bob <bob@example.test>\r\n"
           b"To: Alice <alice@example.test>\r\n"
           b"Subject: over loopback\r\n"
           b"Message-ID: <loopback-1@example.test>\r\n"
           b"\r\n"
           b"Hello Alice.\r\n"
           b".A line that starts with a dot.\r\n"
           b"..Two dots.\r\n"
           b"\r\n"
           b"Bye.\r\n")

LF_MESSAGE = MESSAGE.replace(b"\r\n", b"\n")


class LoopbackTestsMixin:
    """
    Shared checks; C{self.harness} is a started harness.
    """

    harness: Any

    def storedFor(self, user: str) -> list[bytes]:
        return [message.raw for message in self.harness.messagesFor(user)]

    exactEnd = True

    def assertDelivered(self, user: str, message: bytes = MESSAGE, count: int = 1) -> bytes:
        stored = self.storedFor(user)
        self.assertEqual(len(stored), count)                                     # type: ignore[attr-defined]
        last = stored[-1]
        expected = message.replace(b"\r\n", b"\n")
        if not self.exactEnd:                     # the client adds a final newline of its own
            last = last.rstrip(b"\n") + b"\n"
        self.assertTrue(last.endswith(b"\n\n" + expected.split(b"\n\n", 1)[1]), last)  # type: ignore[attr-defined]
        self.assertIn(expected.split(b"\n\n", 1)[0], last)                  # type: ignore[attr-defined]
        self.assertTrue(last.startswith(b"Return-Path: <"), last)              # type: ignore[attr-defined]
        self.assertIn(b"\nReceived: from ", last)                               # type: ignore[attr-defined]
        return last


class SmtplibTests(LoopbackTestsMixin, TestCase):
    timeout = 30

    @defer.inlineCallbacks
    def setUp(self) -> Any:
        self.harness = yield startHarness(self, tls=True, users=KNOWN_USERS)

    @defer.inlineCallbacks
    def test_plainMX(self) -> Any:
        """
        smtplib delivers over plain MX without AUTH; the stored message is
        the sent one byte for byte after the trace fields.
        """
        def send() -> None:
            with smtplib.SMTP("127.0.0.1", self.harness.smtpPort, timeout=10) as client:
                client.sendmail("bob@example.test", ["alice@example.test"], MESSAGE)

        yield deferToThread(send)
        stored = self.assertDelivered("alice")
        self.assertIn(b"with ESMTP\n", stored)

    @defer.inlineCallbacks
    def test_startTLSAndAuthOnSubmission(self) -> Any:
        """
        On submission, smtplib upgrades with STARTTLS (verifying the
        self-signed certificate), logs in and sends.
        """
        context = self.harness.sslContext()

        def send() -> tuple:
            with smtplib.SMTP("127.0.0.1", self.harness.submissionPort, timeout=10) as client:
                client.ehlo()
                code = client.mail("alice@example.test")[0]
                client.rset()
                client.starttls(context=context)
                client.login("alice", "secret")
                client.sendmail("alice@example.test", ["bob@example.test"], MESSAGE)
                return code, client.sock.version()

        refused, version = yield deferToThread(send)
        self.assertEqual(refused, 530)
        stored = self.assertDelivered("bob")
        self.assertIn(b"with ESMTPSA", stored)
        self.assertIn(b"(authenticated as alice)", stored)
        self.assertIn(version.encode(), stored)

    @defer.inlineCallbacks
    def test_implicitTLS(self) -> Any:
        """
        smtplib's SMTP_SSL delivers over the implicit-TLS submission port
        with AUTH.
        """
        context = self.harness.sslContext()

        def send() -> list:
            with smtplib.SMTP_SSL("127.0.0.1", self.harness.submissionsPort, timeout=10, context=context) as client:
                client.ehlo()
                features = sorted(client.esmtp_features)
                client.login("alice", "secret")
                client.sendmail("alice@example.test", ["bob@example.test"], MESSAGE)
                return features

        features = yield deferToThread(send)
        self.assertNotIn("starttls", features)
        self.assertIn("auth", features)
        self.assertDelivered("bob")

    @defer.inlineCallbacks
    def test_wrongPassword(self) -> Any:
        """
        A wrong password is refused with 535.
        """
        def login() -> Any:
            with smtplib.SMTP("127.0.0.1", self.harness.submissionPort, timeout=10) as client:
                client.login("alice", "nope")

        self.harness.suite.portal.policy.config = type(self.harness.suite.portal.policy.config)(failure_delay=0)
        failure = yield self.assertFailure(deferToThread(login), smtplib.SMTPAuthenticationError)
        self.assertEqual(failure.smtp_code, 535)

    @defer.inlineCallbacks
    def test_abuseThenNextClient(self) -> Any:
        """
        After a client smuggles commands behind an over-long text line, the
        message is refused, nothing is executed, and the next client is
        served normally.
        """
        port = self.harness.smtpPort

        def abuse() -> bytes:
            with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
                sock.sendall(b"EHLO evil.test\r\nMAIL FROM:<e@x.test>\r\nRCPT TO:<alice@example.test>\r\nDATA\r\n")
                data = b""
                while data.count(b"\r\n") < 12:   # greeting, 9 EHLO lines, 250, 250, 354
                    chunk = sock.recv(4096)
                    if not chunk:
                        break
                    data += chunk
                    if b"354 " in data:
                        break
                sock.sendall(b"x" * 2000 + b"\r\nRCPT TO:<bob@example.test>\r\n.\r\nQUIT\r\n")
                while not data.endswith(b"221 2.0.0 mail.example.test closing connection\r\n"):
                    chunk = sock.recv(4096)
                    if not chunk:
                        break
                    data += chunk
                return data

        def send() -> None:
            with smtplib.SMTP("127.0.0.1", port, timeout=10) as client:
                client.sendmail("bob@example.test", ["alice@example.test"], MESSAGE)

        transcript = yield deferToThread(abuse)
        self.assertIn(b"\r\n500 5.5.2 ", transcript)
        self.assertEqual(self.storedFor("alice") + self.storedFor("bob"), [])
        yield deferToThread(send)
        self.assertDelivered("alice")


class TwistedClientTests(LoopbackTestsMixin, TestCase):
    """
    Twisted's client takes LF-ended text and sends CRLF itself.
    """

    timeout = 30

    @defer.inlineCallbacks
    def setUp(self) -> Any:
        self.harness = yield startHarness(self, users=KNOWN_USERS)

    @defer.inlineCallbacks
    def test_sendmail(self) -> Any:
        """
        Twisted's C{sendmail} delivers to the MX listener.
        """
        result = yield sendmail("127.0.0.1", "bob@example.test", ["alice@example.test"], LF_MESSAGE,
                                port=self.harness.smtpPort, requireTransportSecurity=False)
        self.assertEqual(result[0], 1)
        self.assertDelivered("alice")

    @defer.inlineCallbacks
    def test_esmtpSenderWithAuth(self) -> Any:
        """
        Twisted's C{ESMTPSenderFactory} logs in on submission (loopback:
        plaintext AUTH allowed) and delivers to two recipients.
        """
        done: defer.Deferred = defer.Deferred()
        factory = ESMTPSenderFactory(b"alice", b"secret", "alice@example.test",
                                     ["bob@example.test", "alice@example.test"], BytesIO(LF_MESSAGE), done,
                                     requireTransportSecurity=False, requireAuthentication=True)
        reactor.connectTCP("127.0.0.1", self.harness.submissionPort, factory)
        result = yield done
        self.assertEqual(result[0], 2)
        self.assertDelivered("bob")
        self.assertDelivered("alice")


class SwaksTests(LoopbackTestsMixin, TestCase):
    """
    swaks (installed from Debian by C{.ci/run}) as a third independent client.
    """

    exactEnd = False

    timeout = 60

    @defer.inlineCallbacks
    def setUp(self) -> Any:
        self.swaks = shutil.which("swaks")
        if self.swaks is None:
            raise SkipTest("swaks is not installed")
        self.harness = yield startHarness(self, tls=True, users=KNOWN_USERS)

    def swaksRun(self, *arguments: str, sender: str = "bob@example.test") -> defer.Deferred:
        body = MESSAGE.decode()

        def run() -> subprocess.CompletedProcess:
            return subprocess.run([self.swaks, "--server", "127.0.0.1", "--from", sender,
                                   "--data", "-", "--suppress-data", "--timeout", "10", *arguments],
                                  input=body.encode(), capture_output=True, timeout=30)

        return deferToThread(run)

    @defer.inlineCallbacks
    def test_plain(self) -> Any:
        """
        swaks delivers over plain MX.
        """
        result = yield self.swaksRun("--port", str(self.harness.smtpPort), "--to", "alice@example.test")
        self.assertEqual(result.returncode, 0, result.stdout + result.stderr)
        self.assertDelivered("alice")

    @defer.inlineCallbacks
    def test_startTLSAuth(self) -> Any:
        """
        swaks upgrades with STARTTLS and logs in on submission.
        """
        result = yield self.swaksRun("--port", str(self.harness.submissionPort), "--to", "bob@example.test",
                                     "--tls", "--auth", "PLAIN", "--auth-user", "alice",
                                     "--auth-password", "secret", sender="alice@example.test")
        self.assertEqual(result.returncode, 0, result.stdout + result.stderr)
        self.assertIn(b"with ESMTPSA", self.assertDelivered("bob"))

    @defer.inlineCallbacks
    def test_implicitTLSLogin(self) -> Any:
        """
        swaks delivers over implicit TLS with AUTH LOGIN.
        """
        result = yield self.swaksRun("--port", str(self.harness.submissionsPort), "--to", "bob@example.test",
                                     "--tlsc", "--auth", "LOGIN", "--auth-user", "alice",
                                     "--auth-password", "secret", sender="alice@example.test")
        self.assertEqual(result.returncode, 0, result.stdout + result.stderr)
        self.assertDelivered("bob")

    @defer.inlineCallbacks
    def test_authRequired(self) -> Any:
        """
        Without AUTH, submission refuses the sender with 530.
        """
        result = yield self.swaksRun("--port", str(self.harness.submissionPort), "--to", "bob@example.test")
        self.assertNotEqual(result.returncode, 0)
        self.assertIn(b"530 5.7.0", result.stdout)
