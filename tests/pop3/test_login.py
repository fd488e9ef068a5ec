# -*- test-case-name: tests.pop3.test_login -*-
"""
Tests for logging in to the POP3 server: USER/PASS, APOP, AUTH PLAIN, the
shared failure policy, the plaintext rule and one session per maildrop.
"""
from __future__ import annotations

import base64
import hashlib
import re
from typing import Any

from twisted.cred.credentials import IUsernamePassword
from twisted.internet.defer import succeed
from twisted.mail.pop3 import APOPCredentials
from twisted.trial.unittest import SynchronousTestCase
from zope.interface import implementer

from twisted_mail_suite.identity.passwd import parseEntry
from twisted_mail_suite.identity.hashing import hashPassword
from twisted_mail_suite.interfaces import IUserDatabase
from twisted_mail_suite.identity.policy import LoginOutcome
from twisted_mail_suite.identity.sasl import Credentials, SASLExchange, SASLMalformed
from twisted_mail_suite.pop3.actions import Login
from twisted_mail_suite.pop3.commands import MECHANISMS, saslFailure
from twisted_mail_suite.pop3.login import LOGIN_REPLIES, apopChallenge, credentialsFor, listMaildrop
from twisted_mail_suite.pop3.session import POP3Error

from .support import APOP_ON, REMOTE, Client, deliver, holdPasswordChecks, newSuite, plain


class UserPassTests(SynchronousTestCase):
    """
    USER and PASS.
    """

    def test_login(self) -> None:
        """
        USER and PASS log in and report the maildrop.
        """
        suite = newSuite(self)
        deliver(suite, "alice", b"Subject: x\r\n\r\nhi\r\n")
        client = Client(suite)
        self.assertEqual(client.send(b"USER alice"), b"+OK Send your password.\r\n")
        self.assertEqual(client.send(b"PASS secret"), b"+OK Logged in: 1 messages (18 octets).\r\n")

    def test_loginWithDomain(self) -> None:
        """
        A login name may carry a local domain.
        """
        self.assertTrue(Client(newSuite(self)).login(b"alice@example.test").endswith(b"+OK Logged in: 0 messages (0 octets).\r\n"))

    def test_passwordWithSpaces(self) -> None:
        """
        PASS takes the rest of the line as the password.
        """
        client = Client(newSuite(self))
        client.suite.portal.checker.users.setPassword("carol", "two words")
        client.send(b"USER carol")
        self.assertTrue(client.send(b"PASS two words").startswith(b"+OK Logged in"))

    def test_passwordKeepsOuterSpaces(self) -> None:
        """
        Leading and trailing spaces are part of the password.
        """
        client = Client(newSuite(self))
        client.suite.portal.checker.users.setPassword("carol", " padded ")
        client.send(b"USER carol")
        self.assertTrue(client.send(b"PASS  padded ").startswith(b"+OK Logged in"))

    def test_userWithoutName(self) -> None:
        """
        USER needs a name.
        """
        self.assertEqual(Client(newSuite(self)).send(b"USER"), b"-ERR Usage: USER name.\r\n")

    def test_passWithoutUser(self) -> None:
        """
        PASS before USER is refused.
        """
        self.assertEqual(Client(newSuite(self)).send(b"PASS secret"), b"-ERR No username given.\r\n")

    def test_wrongPasswordIsDelayed(self) -> None:
        """
        A wrong password is answered C{-ERR [AUTH]} after the shared
        policy's delay; commands sent meanwhile wait their turn.
        """
        suite = newSuite(self)
        client = Client(suite)
        self.assertEqual(client.send(b"USER alice", b"PASS wrong", b"CAPA"), b"+OK Send your password.\r\n")
        suite.reactor.advance(suite.config.auth.failure_delay)
        output = client.take()
        self.assertTrue(output.startswith(b"-ERR [AUTH] Authentication failed.\r\n+OK Capability list"))
        self.assertFalse(client.closed)

    def test_unknownUser(self) -> None:
        """
        An unknown user gets the same reply as a wrong password.
        """
        suite = newSuite(self)
        client = Client(suite)
        client.login(b"nobody", b"secret")
        suite.reactor.advance(60)
        self.assertEqual(client.take(), b"-ERR [AUTH] Authentication failed.\r\n")

    def test_disconnectAfterFailures(self) -> None:
        """
        After C{max_failures_per_connection} failures the connection closes.
        """
        suite = newSuite(self, **{"auth.max_failures_per_connection": 2})
        client = Client(suite)
        output = b""
        for _ in range(2):
            output += client.login(b"alice", b"wrong")
            suite.reactor.advance(60)
        output += client.take()
        self.assertEqual(output.count(b"-ERR [AUTH] Authentication failed.\r\n"), 2)
        self.assertTrue(client.closed)

    def test_refusedAddress(self) -> None:
        """
        An address past the failure limit is refused at once and
        disconnected.
        """
        suite = newSuite(self, **{"auth.max_failures": 1})
        first = Client(suite)
        first.login(b"alice", b"wrong")
        suite.reactor.advance(60)
        client = Client(suite)
        self.assertEqual(client.login(), b"+OK Send your password.\r\n-ERR [AUTH] Authentication failed.\r\n")
        self.assertTrue(client.closed)

    def test_plaintextRefusedOnRemoteConnection(self) -> None:
        """
        From a non-loopback address without TLS, USER is refused with
        C{[AUTH]} (Dovecot's text) and not offered in CAPA.
        """
        client = Client(newSuite(self), host=REMOTE)
        self.assertEqual(client.send(b"USER alice"),
                         b"-ERR [AUTH] Plaintext authentication disallowed on non-secure (SSL/TLS) connections.\r\n")
        self.assertTrue(client.send(b"PASS secret").startswith(b"-ERR [AUTH] Plaintext"))
        capabilities = client.send(b"CAPA")
        self.assertNotIn(b"\r\nUSER\r\n", capabilities)
        self.assertNotIn(b"SASL", capabilities)

    def test_plaintextAllowedByConfig(self) -> None:
        """
        C{allow_plaintext_auth} lifts the rule for every address.
        """
        client = Client(newSuite(self, allow_plaintext_auth=True), host=REMOTE)
        self.assertTrue(client.login().endswith(b"+OK Logged in: 0 messages (0 octets).\r\n"))

    def test_plaintextAllowedOverImplicitTLS(self) -> None:
        """
        Over implicit TLS (995-style) plaintext logins work from anywhere and
        STLS is not offered.
        """
        client = Client(newSuite(self), host=REMOTE, secure=True)
        self.assertNotIn(b"STLS", client.send(b"CAPA"))
        self.assertTrue(client.login().endswith(b"+OK Logged in: 0 messages (0 octets).\r\n"))


@implementer(IUserDatabase)
class MixedUsers:
    """
    alice with a PLAIN password, bob with a hashed one.
    """

    def __init__(self) -> None:
        self.entries = {"alice": parseEntry("alice:{PLAIN}secret"),
                        "bob": parseEntry("bob:" + hashPassword("hunter2", "SHA512-CRYPT"))}

    def lookup(self, name: str) -> Any:
        return self.entries.get(name.lower())

    def names(self) -> list[str]:
        return sorted(self.entries)


class APOPTests(SynchronousTestCase):
    """
    APOP (RFC 1939 §7), where configured (C{pop3.apop}).
    """

    def digest(self, client: Client, password: bytes) -> bytes:
        timestamp = re.search(rb"<[^>]+>", client.greeting).group(0)  # type: ignore[union-attr]
        return hashlib.md5(timestamp + password).hexdigest().encode()

    def test_apop(self) -> None:
        """
        The right digest of timestamp and password logs in, even from a
        remote address without TLS (no password crosses the wire).
        """
        client = Client(newSuite(self, **APOP_ON), host=REMOTE)
        self.assertEqual(client.send(b"APOP alice " + self.digest(client, b"secret")),
                         b"+OK Logged in: 0 messages (0 octets).\r\n")

    def test_wrongDigest(self) -> None:
        """
        A wrong digest fails like a wrong password.
        """
        suite = newSuite(self, **APOP_ON)
        client = Client(suite)
        client.send(b"APOP alice " + self.digest(client, b"nope"))
        suite.reactor.advance(60)
        self.assertEqual(client.take(), b"-ERR [AUTH] Authentication failed.\r\n")

    def test_malformed(self) -> None:
        """
        APOP needs a name and a 32-digit hex digest.
        """
        client = Client(newSuite(self, **APOP_ON))
        self.assertEqual(client.send(b"APOP alice xyz"), b"-ERR Usage: APOP name digest.\r\n")

    def test_hashedUserCannotUseAPOP(self) -> None:
        """
        A user whose password is stored hashed cannot log in with APOP.
        """
        suite = newSuite(self, **APOP_ON)
        users = MixedUsers()
        suite.portal.checker.users = users
        client = Client(suite)
        client.send(b"APOP bob " + self.digest(client, b"hunter2"))
        suite.reactor.advance(60)
        self.assertEqual(client.take(), b"-ERR [AUTH] Authentication failed.\r\n")


class SASLTests(SynchronousTestCase):
    """
    AUTH PLAIN (RFC 5034, RFC 4616).
    """

    def test_initialResponse(self) -> None:
        """
        AUTH PLAIN with an initial response logs in.
        """
        client = Client(newSuite(self))
        self.assertEqual(client.send(b"AUTH PLAIN " + plain(b"alice", b"secret")),
                         b"+OK Logged in: 0 messages (0 octets).\r\n")

    def test_continuation(self) -> None:
        """
        AUTH PLAIN without initial response asks with C{+ } and takes the
        next line as the response.
        """
        client = Client(newSuite(self))
        self.assertEqual(client.send(b"AUTH PLAIN"), b"+ \r\n")
        self.assertEqual(client.send(plain(b"alice", b"secret")), b"+OK Logged in: 0 messages (0 octets).\r\n")

    def test_cancel(self) -> None:
        """
        C{*} cancels the exchange.
        """
        client = Client(newSuite(self))
        client.send(b"AUTH PLAIN")
        self.assertEqual(client.send(b"*"), b"-ERR Authentication cancelled.\r\n")
        self.assertEqual(client.send(b"USER alice"), b"+OK Send your password.\r\n")

    def test_badBase64(self) -> None:
        """
        An undecodable response ends the exchange with C{-ERR}.
        """
        client = Client(newSuite(self))
        client.send(b"AUTH PLAIN")
        self.assertEqual(client.send(b"!!!"), b"-ERR Invalid base64 data in the SASL response.\r\n")
        self.assertEqual(client.send(b"AUTH PLAIN !!!"), b"-ERR Invalid base64 data in the SASL response.\r\n")

    def test_authzidMustMatch(self) -> None:
        """
        Logging in as someone else (an authzid) is refused.
        """
        client = Client(newSuite(self))
        self.assertEqual(client.send(b"AUTH PLAIN " + plain(b"alice", b"secret", b"bob")),
                         b"-ERR [AUTH] Authentication failed.\r\n")

    def test_wrongPassword(self) -> None:
        """
        A wrong password fails with C{[AUTH]} after the delay.
        """
        suite = newSuite(self)
        client = Client(suite)
        client.send(b"AUTH PLAIN " + plain(b"alice", b"nope"))
        suite.reactor.advance(60)
        self.assertEqual(client.take(), b"-ERR [AUTH] Authentication failed.\r\n")

    def test_otherMechanism(self) -> None:
        """
        Mechanisms other than PLAIN are refused.
        """
        self.assertEqual(Client(newSuite(self)).send(b"AUTH CRAM-MD5"),
                         b"-ERR Unsupported authentication mechanism.\r\n")

    def test_listMechanisms(self) -> None:
        """
        AUTH alone lists PLAIN.
        """
        self.assertEqual(Client(newSuite(self)).send(b"AUTH"), b"+OK\r\nPLAIN\r\n.\r\n")

    def test_plaintextRefused(self) -> None:
        """
        AUTH PLAIN is a plaintext password: refused from a remote address
        without TLS.
        """
        client = Client(newSuite(self), host=REMOTE)
        self.assertTrue(client.send(b"AUTH PLAIN " + plain(b"alice", b"secret")).startswith(b"-ERR [AUTH] Plaintext"))

    def test_decodePlain(self) -> None:
        """
        The shared PLAIN exchange returns the user and password; a malformed
        response becomes POP3's C{-ERR Invalid SASL PLAIN response.}
        """
        self.assertEqual(SASLExchange(b"PLAIN", MECHANISMS).begin(plain(b"a", b"b", b"a")), Credentials(b"a", b"b"))
        with self.assertRaises(SASLMalformed) as caught:
            SASLExchange(b"PLAIN", MECHANISMS).begin(base64.b64encode(b"a\0b"))
        error = saslFailure(caught.exception)
        self.assertIsInstance(error, POP3Error)
        self.assertEqual(error.reply, b"-ERR Invalid SASL PLAIN response.\r\n")


class InUseTests(SynchronousTestCase):
    """
    One session per maildrop (RFC 1939 §8, RFC 2449 [IN-USE]).
    """

    def test_secondLoginInUse(self) -> None:
        """
        A second login to a maildrop with a session gets C{[IN-USE]}; the
        client may try again later.
        """
        suite = newSuite(self)
        Client(suite).login()
        second = Client(suite)
        self.assertEqual(second.login(),
                         b"+OK Send your password.\r\n-ERR [IN-USE] Mailbox is locked by another POP3 session.\r\n")
        self.assertFalse(second.closed)

    def test_releasedAfterQuit(self) -> None:
        """
        QUIT releases the maildrop.
        """
        suite = newSuite(self)
        first = Client(suite)
        first.login()
        first.send(b"QUIT")
        self.assertTrue(Client(suite).login().endswith(b"+OK Logged in: 0 messages (0 octets).\r\n"))

    def test_releasedAfterDrop(self) -> None:
        """
        A dropped connection releases the maildrop.
        """
        suite = newSuite(self)
        first = Client(suite)
        first.login()
        first.drop()
        self.assertTrue(Client(suite).login().endswith(b"+OK Logged in: 0 messages (0 octets).\r\n"))

    def test_releasedAfterTimeout(self) -> None:
        """
        An idle timeout releases the maildrop.
        """
        suite = newSuite(self)
        first = Client(suite)
        first.login()
        suite.reactor.advance(suite.config.pop3.idle_timeout)
        first.drop()
        self.assertTrue(Client(suite).login().endswith(b"+OK Logged in: 0 messages (0 octets).\r\n"))

    def test_timeoutDuringLoginCheck(self) -> None:
        """
        A login that completes after the idle timeout closed the connection
        releases the maildrop and writes nothing more.
        """
        suite = newSuite(self)
        checks = holdPasswordChecks(suite)
        client = Client(suite)
        client.login()
        suite.reactor.advance(suite.config.pop3.idle_timeout)
        self.assertTrue(client.take().endswith(b"-ERR Disconnected for inactivity.\r\n"))
        checks[0].callback(True)
        self.assertEqual(client.take(), b"")
        self.assertFalse(suite.maildropLocks.isHeld("alice"))

    def test_dropDuringLoginCheck(self) -> None:
        """
        A client that goes away while its login is being checked leaves no
        session behind: the lock taken by the login is released.
        """
        suite = newSuite(self)
        checks = holdPasswordChecks(suite)
        first = Client(suite)
        first.login()
        first.drop()
        checks[0].callback(True)
        self.assertTrue(Client(suite).login().endswith(b"+OK Logged in: 0 messages (0 octets).\r\n"))


class ListingMailbox:
    """
    Two messages; one unique-id as text, one as bytes.
    """

    def listMessages(self, index: int | None = None) -> Any:
        return succeed([10, 20])

    def getUidl(self, index: int) -> Any:
        return f"uid-{index}" if index else b"raw"


class LoginPieceTests(SynchronousTestCase):
    """
    L{credentialsFor}, L{apopChallenge}, L{listMaildrop}, L{LOGIN_REPLIES}.
    """

    def test_passwordCredentials(self) -> None:
        """
        A password login checks a user name and password.
        """
        credentials = credentialsFor(Login(b"alice", password=b"secret"), b"<1.2@host>")
        self.assertTrue(IUsernamePassword.providedBy(credentials))
        self.assertEqual((credentials.username, credentials.password), (b"alice", b"secret"))

    def test_apopCredentials(self) -> None:
        """
        An APOP login checks the digest against the greeting's timestamp.
        """
        credentials = credentialsFor(Login(b"alice", digest=b"0" * 32), b"<1.2@host>")
        self.assertIsInstance(credentials, APOPCredentials)
        self.assertEqual((credentials.magic, credentials.username, credentials.digest),
                         (b"<1.2@host>", b"alice", b"0" * 32))

    def test_challengesDiffer(self) -> None:
        """
        Each timestamp is new and names the host.
        """
        first, second = apopChallenge(b"host"), apopChallenge(b"host")
        self.assertNotEqual(first, second)
        self.assertRegex(first, rb"^<\d+\.\d+\.[0-9a-f]{12}@host>$")

    def test_listMaildrop(self) -> None:
        """
        The maildrop has each message's size and unique-id, text ids encoded.
        """
        maildrop = self.successResultOf(listMaildrop(ListingMailbox()))
        self.assertEqual((maildrop.sizes, maildrop.uids), ([10, 20], [b"raw", b"uid-1"]))

    def test_everyFailureAnswered(self) -> None:
        """
        Every outcome but success has a C{-ERR} reply.
        """
        failures = set(LoginOutcome) - {LoginOutcome.SUCCEEDED}
        self.assertEqual(set(LOGIN_REPLIES), failures)
        self.assertTrue(all(reply.startswith(b"-ERR ") for reply, _ in LOGIN_REPLIES.values()))
