# -*- test-case-name: tests.imap.test_login -*-
"""
Tests for L{twisted_mail_suite.imap.login}: LOGIN, AUTHENTICATE PLAIN,
LOGINDISABLED off loopback, STARTTLS and the shared failed-login policy's
replies.
"""
from __future__ import annotations

from twisted.trial.unittest import SynchronousTestCase

from .support import REMOTE, Client, newSuite, plain


class LoginTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.suite = newSuite(self)
        self.client = Client(self.suite)

    def test_login(self) -> None:
        """
        LOGIN with the right password answers OK with the capabilities of
        the authenticated state.
        """
        status = self.client.login()
        self.assertTrue(status.startswith(b"OK [CAPABILITY IMAP4rev1 "))
        self.assertNotIn(b"AUTH=", status)
        self.assertNotIn(b"STARTTLS", status)

    def test_loginQuoted(self) -> None:
        self.assertTrue(self.client.command(b'LOGIN "alice" "secret"')[1].startswith(b"OK"))

    def test_wrongPassword(self) -> None:
        """
        A wrong password is NO [AUTHENTICATIONFAILED], after the policy's
        delay; the client may try again.
        """
        out = self.client.send(b"a1 LOGIN alice wrong")
        self.assertEqual(out, b"")
        self.suite.reactor.advance(1.0)
        self.assertEqual(self.client.take(), b"a1 NO [AUTHENTICATIONFAILED] Authentication failed.\r\n")
        self.assertTrue(self.client.login().startswith(b"OK"))

    def test_unknownUser(self) -> None:
        self.client.send(b"a1 LOGIN nobody x")
        self.suite.reactor.advance(10)
        self.assertEqual(self.client.take(), b"a1 NO [AUTHENTICATIONFAILED] Authentication failed.\r\n")

    def test_commandsWaitForTheCheck(self) -> None:
        """
        Commands sent during a login check wait for its answer.
        """
        self.client.raw(b"a1 LOGIN alice wrong\r\na2 NOOP\r\n")
        self.assertEqual(self.client.take(), b"")
        self.suite.reactor.advance(1.0)
        self.assertEqual(self.client.take(), b"a1 NO [AUTHENTICATIONFAILED] Authentication failed.\r\n"
                                             b"a2 OK NOOP completed.\r\n")

    def test_disconnectAfterFailures(self) -> None:
        """
        After the per-connection limit of failures the client is told BYE.
        """
        for i in range(3):
            self.client.send(b"a%d LOGIN alice wrong" % i)
            self.suite.reactor.advance(10)
        out = self.client.take()
        self.assertTrue(out.endswith(b"a2 NO [AUTHENTICATIONFAILED] Authentication failed.\r\n"
                                     b"* BYE Too many login attempts.\r\n"), out)
        self.assertTrue(self.client.closed)

    def test_refusedAddress(self) -> None:
        """
        An address with too many failures is refused: NO [UNAVAILABLE], BYE.
        """
        suite = newSuite(self, **{"auth.max_failures": 1})
        first = Client(suite)
        first.send(b"a1 LOGIN alice wrong")
        suite.reactor.advance(10)
        client = Client(suite)
        out = client.send(b"a1 LOGIN alice secret")
        self.assertEqual(out, b"a1 NO [UNAVAILABLE] Too many login attempts, try again later.\r\n"
                              b"* BYE Too many login attempts.\r\n")

    def test_loginDisabledOffLoopback(self) -> None:
        """
        Off loopback without TLS: LOGINDISABLED, no AUTH=PLAIN, and LOGIN
        and AUTHENTICATE are refused with PRIVACYREQUIRED.
        """
        client = Client(self.suite, host=REMOTE)
        self.assertIn(b"LOGINDISABLED", client.greeting)
        self.assertNotIn(b"AUTH=PLAIN", client.greeting)
        self.assertIn(b"STARTTLS", client.greeting)
        refused = b"NO [PRIVACYREQUIRED] Plaintext authentication disallowed on non-secure connections."
        self.assertEqual(client.command(b"LOGIN alice secret")[1], refused)
        self.assertEqual(client.command(b"AUTHENTICATE PLAIN " + plain(b"alice", b"secret"))[1], refused)

    def test_secureRemote(self) -> None:
        """
        Over TLS a remote client may log in; STARTTLS is not offered.
        """
        client = Client(self.suite, host=REMOTE, secure=True)
        self.assertIn(b"AUTH=PLAIN", client.greeting)
        self.assertNotIn(b"STARTTLS", client.greeting)
        self.assertTrue(client.login().startswith(b"OK"))

    def test_allowPlaintext(self) -> None:
        client = Client(newSuite(self, allow_plaintext_auth=True), host=REMOTE)
        self.assertTrue(client.login().startswith(b"OK"))


class AuthenticateTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.suite = newSuite(self)
        self.client = Client(self.suite)

    def test_initialResponse(self) -> None:
        """
        AUTHENTICATE PLAIN with SASL-IR logs in in one round trip.
        """
        status = self.client.command(b"AUTHENTICATE PLAIN " + plain(b"alice", b"secret"))[1]
        self.assertTrue(status.startswith(b"OK [CAPABILITY"))

    def test_continuation(self) -> None:
        """
        Without an initial response the server asks with an empty C{+}.
        """
        self.assertEqual(self.client.send(b"a1 AUTHENTICATE plain"), b"+ \r\n")
        self.assertTrue(self.client.send(plain(b"alice", b"secret")).startswith(b"a1 OK [CAPABILITY"))

    def test_pipelinedResponse(self) -> None:
        """
        The response line sent with the command is read as the response,
        not as a command.
        """
        out = self.client.raw(b"a1 AUTHENTICATE PLAIN\r\n" + plain(b"alice", b"secret") + b"\r\na2 NOOP\r\n")
        self.assertTrue(out.startswith(b"+ \r\na1 OK [CAPABILITY"))
        self.assertTrue(out.endswith(b"a2 OK NOOP completed.\r\n"))

    def test_cancel(self) -> None:
        self.client.send(b"a1 AUTHENTICATE PLAIN")
        self.assertEqual(self.client.send(b"*"), b"a1 BAD Authentication cancelled.\r\n")

    def test_badBase64(self) -> None:
        self.client.send(b"a1 AUTHENTICATE PLAIN")
        self.assertEqual(self.client.send(b"!!!"), b"a1 BAD Invalid SASL response.\r\n")

    def test_wrongPassword(self) -> None:
        self.client.send(b"a1 AUTHENTICATE PLAIN " + plain(b"alice", b"bad"))
        self.suite.reactor.advance(10)
        self.assertEqual(self.client.take(), b"a1 NO [AUTHENTICATIONFAILED] Authentication failed.\r\n")

    def test_unknownMechanism(self) -> None:
        self.assertEqual(self.client.command(b"AUTHENTICATE CRAM-MD5")[1], b"NO Unsupported authentication mechanism.")


class StartTLSTests(SynchronousTestCase):
    def test_startTLS(self) -> None:
        """
        STARTTLS answers OK, then starts TLS with the suite's options;
        what was pipelined after it is dropped; LOGIN is then allowed
        from a remote address.
        """
        suite = newSuite(self)
        client = Client(suite, host=REMOTE)
        out = client.raw(b"a1 STARTTLS\r\na2 LOGIN alice secret\r\n")
        self.assertEqual(out, b"a1 OK Begin TLS negotiation now.\r\n")
        self.assertIs(client.transport.tlsOptions, suite.tls.options)
        lines, status = client.command(b"CAPABILITY")
        self.assertNotIn(b"STARTTLS", lines[0])
        self.assertIn(b"AUTH=PLAIN", lines[0])
        self.assertTrue(client.login().startswith(b"OK"))

    def test_notTwice(self) -> None:
        client = Client(newSuite(self), secure=True)
        self.assertEqual(client.command(b"STARTTLS")[1], b"BAD TLS is already active or not available.")

    def test_afterLogin(self) -> None:
        client = Client(newSuite(self))
        client.login()
        self.assertEqual(client.command(b"STARTTLS")[1], b"BAD Command not valid in this state.")


class RepliesTests(SynchronousTestCase):
    def test_everyOutcomeAnswered(self) -> None:
        """
        Every outcome of the shared policy but success has an IMAP reply.
        """
        from twisted_mail_suite.identity.policy import LoginOutcome
        from twisted_mail_suite.imap.login import LOGIN_REPLIES

        self.assertEqual(set(LOGIN_REPLIES), set(LoginOutcome) - {LoginOutcome.SUCCEEDED})
