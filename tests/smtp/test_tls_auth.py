# -*- test-case-name: tests.smtp.test_tls_auth -*-
"""
STARTTLS (RFC 3207) and AUTH PLAIN/LOGIN (RFC 4954) on the SMTP server.
"""
from __future__ import annotations

import base64

from twisted.mail.smtp import SMTPBadSender
from twisted.trial.unittest import SynchronousTestCase

from twisted_mail_suite.smtp.adapter import twistedAddress
from twisted_mail_suite.smtp.delivery import LocalDelivery

from .helpers import Client, TLSStringTransport, newSuite, storedMessages

PLAIN_OK = b"AUTH PLAIN " + base64.b64encode(b"\0alice\0secret") + b"\r\n"
PLAIN_BAD = b"AUTH PLAIN " + base64.b64encode(b"\0alice\0wrong") + b"\r\n"


class StartTLSTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.suite = newSuite(self)
        self.client = Client(self.suite, transport=TLSStringTransport("192.0.2.7"))
        self.client.greet()

    def test_pipelinedPlaintextDiscarded(self) -> None:
        """
        Commands pipelined behind STARTTLS in the same plaintext segment
        are dropped, never executed inside TLS (CVE-2011-0411).
        """
        lines = self.client.send(b"STARTTLS\r\nMAIL FROM:<evil@x.test>\r\nRCPT TO:<alice@example.test>\r\n")
        self.assertEqual(lines, [b"220 2.0.0 Ready to start TLS"])
        self.assertIs(self.client.transport.tlsContext, self.suite.tlsOptions)
        self.assertEqual(self.client.codes(b"RCPT TO:<alice@example.test>\r\n"), [b"503 5.5.1"])

    def test_sessionReset(self) -> None:
        """
        After the handshake a new EHLO is needed; MAIL before it is 503.
        """
        self.client.send(b"STARTTLS\r\n")
        self.assertEqual(self.client.codes(b"MAIL FROM:<a@b.test>\r\n"), [b"503 5.5.1"])

    def test_notOfferedInsideTLS(self) -> None:
        """
        Inside TLS, EHLO no longer lists STARTTLS but lists AUTH, and
        STARTTLS is refused.
        """
        self.client.send(b"STARTTLS\r\n")
        lines = self.client.send(b"EHLO client.test\r\n")
        self.assertNotIn(b"250-STARTTLS", lines)
        self.assertEqual(lines[-1], b"250 AUTH PLAIN LOGIN")
        self.assertEqual(self.client.codes(b"STARTTLS\r\n"), [b"503 5.5.1"])

    def test_authForgotten(self) -> None:
        """
        A login made before STARTTLS does not survive it.
        """
        client = Client(self.suite)              # loopback: AUTH allowed in plaintext
        client.greet()
        self.assertEqual(client.codes(PLAIN_OK), [b"235 2.7.0"])
        client.send(b"STARTTLS\r\n")
        client.send(b"EHLO client.test\r\n")
        self.assertEqual(client.codes(PLAIN_OK), [b"235 2.7.0"])     # not "503 already authenticated"

    def test_receivedNotesTLS(self) -> None:
        """
        A message received after STARTTLS is marked ESMTPS.
        """
        self.client.send(b"STARTTLS\r\n")
        self.client.send(b"EHLO c.test\r\nMAIL FROM:<a@b.test>\r\nRCPT TO:<alice@example.test>\r\nDATA\r\n"
                         b"Subject: s\r\n\r\nx\r\n.\r\n")
        stored = storedMessages(self.suite, "alice")[0]
        self.assertIn(b"with ESMTPS", stored)
        self.assertIn(b"(using TLS)", stored)

    def test_startTLSOff(self) -> None:
        """
        With C{tls.starttls: false} STARTTLS is neither offered nor accepted.
        """
        suite = newSuite(self, **{"tls.starttls": False})
        client = Client(suite)
        self.assertNotIn(b"250-STARTTLS", client.greet())
        self.assertEqual(client.codes(b"STARTTLS\r\n")[0][:3], b"454")


class AuthTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.suite = newSuite(self)
        self.clock = self.suite.reactor
        self.client = Client(self.suite)
        self.client.greet()

    def test_plain(self) -> None:
        """
        AUTH PLAIN with the right password gets 235 2.7.0; the Received
        field then names the user.
        """
        self.assertEqual(self.client.codes(PLAIN_OK), [b"235 2.7.0"])
        self.client.send(b"MAIL FROM:<alice@example.test>\r\nRCPT TO:<bob@example.test>\r\nDATA\r\nx\r\n.\r\n")
        stored = storedMessages(self.suite, "bob")[0]
        self.assertIn(b"(authenticated as alice)", stored)
        self.assertIn(b"with ESMTPA", stored)

    def test_plainChallenge(self) -> None:
        """
        AUTH PLAIN without an initial response gets an empty 334 first.
        """
        self.assertEqual(self.client.send(b"AUTH PLAIN\r\n"), [b"334 "])
        self.assertEqual(self.client.codes(base64.b64encode(b"\0alice\0secret") + b"\r\n"), [b"235 2.7.0"])

    def test_login(self) -> None:
        """
        AUTH LOGIN asks for user and password in base64.
        """
        self.assertEqual(self.client.send(b"AUTH LOGIN\r\n"), [b"334 VXNlcm5hbWU6"])
        self.assertEqual(self.client.send(base64.b64encode(b"alice") + b"\r\n"), [b"334 UGFzc3dvcmQ6"])
        self.assertEqual(self.client.codes(base64.b64encode(b"secret") + b"\r\n"), [b"235 2.7.0"])

    def test_loginWithDomain(self) -> None:
        """
        A login name may carry a local domain.
        """
        line = b"AUTH PLAIN " + base64.b64encode(b"\0alice@example.test\0secret") + b"\r\n"
        self.assertEqual(self.client.codes(line), [b"235 2.7.0"])

    def test_wrongPasswordDelayed(self) -> None:
        """
        A wrong password gets 535 5.7.8 only after the policy's delay; the
        commands pipelined behind it are answered after it, in order.
        """
        self.assertEqual(self.client.send(PLAIN_BAD + b"NOOP\r\nMAIL FROM:<a@b.test>\r\n"), [])
        self.clock.advance(self.suite.config.auth.failure_delay)
        self.assertEqual([line[:9] for line in self.client.replies()], [b"535 5.7.8", b"250 2.0.0", b"250 2.1.0"])

    def test_disconnectAfterFailures(self) -> None:
        """
        After the configured number of failures on one connection, the
        server answers 535 and closes.
        """
        for _ in range(self.suite.config.auth.max_failures_per_connection):
            self.client.send(PLAIN_BAD)
            self.clock.advance(60)
        replies = self.client.replies()
        self.assertTrue(all(line.startswith(b"535 5.7.8") for line in replies))
        self.assertTrue(self.client.closed)

    def test_cancel(self) -> None:
        """
        C{*} cancels the exchange with 501 5.0.0; the session goes on.
        """
        self.client.send(b"AUTH LOGIN\r\n")
        self.assertEqual(self.client.codes(b"*\r\nNOOP\r\n"), [b"501 5.0.0", b"250 2.0.0"])

    def test_malformedBase64(self) -> None:
        """
        A response that is not base64 gets 501 5.5.2.
        """
        self.assertEqual(self.client.codes(b"AUTH PLAIN %%%\r\n"), [b"501 5.5.2"])
        self.client.send(b"AUTH PLAIN\r\n")
        self.assertEqual(self.client.codes(b"not base64!\r\n"), [b"501 5.5.2"])

    def test_unknownMechanism(self) -> None:
        """
        An unknown mechanism gets 504 5.5.4.
        """
        self.assertEqual(self.client.codes(b"AUTH CRAM-MD5\r\n"), [b"504 5.5.4"])

    def test_twice(self) -> None:
        """
        A second AUTH in the same session is a bad sequence.
        """
        self.client.send(PLAIN_OK)
        self.assertEqual(self.client.codes(PLAIN_OK), [b"503 5.5.1"])

    def test_plaintextRefusedFromAfar(self) -> None:
        """
        A password over plaintext from a non-loopback address gets 538 5.7.11.
        """
        client = Client(self.suite, transport=TLSStringTransport("192.0.2.7"))
        client.greet()
        self.assertEqual(client.codes(PLAIN_OK), [b"538 5.7.11"])

    def test_plaintextAllowedByConfig(self) -> None:
        """
        C{allow_plaintext_auth} lifts the rule for every address.
        """
        suite = newSuite(self, allow_plaintext_auth=True)
        client = Client(suite, transport=TLSStringTransport("192.0.2.7"))
        self.assertEqual(client.greet()[-1], b"250 AUTH PLAIN LOGIN")
        self.assertEqual(client.codes(PLAIN_OK), [b"235 2.7.0"])

    def test_refusedAddress(self) -> None:
        """
        An address past the failure limit is refused with 421 and disconnected.
        """
        policy = self.suite.portal.policy
        for _ in range(policy.config.max_failures):
            policy.recordFailure("mallory", self.client.protocol.peerHost)
        self.assertEqual(self.client.codes(PLAIN_OK), [b"421 4.7.0"])
        self.assertTrue(self.client.closed)


class SubmissionTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.suite = newSuite(self)
        self.client = Client(self.suite, role="submission")
        self.client.greet()

    def test_authRequired(self) -> None:
        """
        On submission, MAIL before AUTH gets 530 5.7.0.
        """
        self.assertEqual(self.client.codes(b"MAIL FROM:<alice@example.test>\r\n"), [b"530 5.7.0"])

    def test_afterAuth(self) -> None:
        """
        After AUTH the message goes through.
        """
        codes = self.client.codes(PLAIN_OK + b"MAIL FROM:<alice@example.test>\r\nRCPT TO:<bob@example.test>\r\n"
                                  b"DATA\r\nSubject: s\r\n\r\nhi\r\n.\r\n")
        self.assertEqual(codes, [b"235 2.7.0", b"250 2.1.0", b"250 2.1.5", b"354", b"250 2.0.0"])
        self.assertEqual(len(storedMessages(self.suite, "bob")), 1)

    def test_noOpenRelayWithAuth(self) -> None:
        """
        With C{relay.mode: off}, foreign recipients are refused even after AUTH.
        """
        client = Client(newSuite(self, **{"relay.mode": "off"}), role="submission")
        client.greet()
        codes = client.codes(PLAIN_OK + b"MAIL FROM:<alice@example.test>\r\nRCPT TO:<x@elsewhere.test>\r\n")
        self.assertEqual(codes[-1], b"550 5.7.1")

    def test_relayWithAuth(self) -> None:
        """
        After AUTH, a foreign recipient is accepted for the outbound queue.
        """
        codes = self.client.codes(PLAIN_OK + b"MAIL FROM:<alice@example.test>\r\nRCPT TO:<x@elsewhere.test>\r\n")
        self.assertEqual(codes[-1], b"250 2.1.5")


class SenderLoginTests(SynchronousTestCase):
    """
    An authenticated user may send only as their own addresses (Postfix's
    C{reject_sender_login_mismatch}), unless configured otherwise.
    """

    def setUp(self) -> None:
        self.suite = newSuite(self, aliases={"sales": ["alice", "bob"], "boss@example.test": ["bob"]},
                              catch_all=None)

    def mailCodes(self, sender: bytes, role: str = "submission", suite: object = None) -> list[bytes]:
        client = Client(suite or self.suite, role=role)
        client.greet()
        return client.codes(PLAIN_OK + b"MAIL FROM:<" + sender + b">\r\n")

    def test_othersRefused(self) -> None:
        """
        Another user's address, an alias not listing the user, an unknown
        local address and a foreign one get 553 5.7.1.
        """
        for sender in [b"bob@example.test", b"Bob@Localhost", b"boss@example.test", b"carol@example.test",
                       b"alice@elsewhere.test"]:
            client = Client(self.suite, role="submission")
            client.greet()
            self.assertEqual(client.codes(PLAIN_OK), [b"235 2.7.0"])
            self.assertEqual(client.send(b"MAIL FROM:<" + sender + b">\r\n"),
                             [b"553 5.7.1 Sender address rejected: not owned by authenticated user"], sender)
            self.assertEqual(client.codes(b"RCPT TO:<bob@example.test>\r\n"), [b"503 5.5.1"])

    def test_ownAddresses(self) -> None:
        """
        The user's name at every local domain (any case), a subaddress, an
        alias listing the user and the null sender are accepted.
        """
        for sender in [b"alice@example.test", b"ALICE@localhost", b"alice+lists@example.test",
                       b"sales@example.test", b""]:
            self.assertEqual(self.mailCodes(sender), [b"235 2.7.0", b"250 2.1.0"], sender)

    def test_mxWithAuth(self) -> None:
        """
        The rule holds for AUTH on the MX port too; anonymous MX clients
        may use any sender.
        """
        self.assertEqual(self.mailCodes(b"bob@example.test", role="smtp"), [b"235 2.7.0", b"553 5.7.1"])
        client = Client(self.suite)
        client.greet()
        self.assertEqual(client.codes(b"MAIL FROM:<bob@example.test>\r\n"), [b"250 2.1.0"])

    def test_allow(self) -> None:
        """
        C{submission.sender_login_mismatch: allow} lets authenticated users
        use any sender.
        """
        suite = newSuite(self, **{"submission.sender_login_mismatch": "allow"})
        self.assertEqual(self.mailCodes(b"bob@example.test", suite=suite), [b"235 2.7.0", b"250 2.1.0"])
        self.assertEqual(self.mailCodes(b"x@elsewhere.test", suite=suite), [b"235 2.7.0", b"250 2.1.0"])

    def test_validateFrom(self) -> None:
        """
        Twisted's C{validateFrom} applies the same rule, refusing with
        C{SMTPBadSender} (553).
        """
        avatar = LocalDelivery(self.suite.config, self.suite.store, self.suite.users, "alice")
        helo = (b"c.test", b"127.0.0.1")
        self.assertEqual(avatar.validateFrom(helo, twistedAddress(b"sales@example.test")).addrstr,
                         b"sales@example.test")
        failure = self.assertRaises(SMTPBadSender, avatar.validateFrom, helo, twistedAddress(b"bob@example.test"))
        self.assertEqual(failure.code, 553)
        anonymous = LocalDelivery(self.suite.config, self.suite.store, self.suite.users, None)
        anonymous.validateFrom(helo, twistedAddress(b"bob@example.test"))
