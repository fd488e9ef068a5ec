# -*- test-case-name: tests.identity.test_sasl -*-
"""
The PLAIN and LOGIN exchanges, without any I/O, and the replies SMTP and
POP3 map their failures to.
"""
from __future__ import annotations

import base64

from twisted.trial.unittest import SynchronousTestCase

from twisted_mail_suite.identity.sasl import (
    Challenge, Credentials, SASLAuthzMismatch, SASLBadEncoding, SASLCancelled, SASLError, SASLExchange,
    SASLMalformed, SASLUnknownMechanism,
)
from twisted_mail_suite.pop3 import commands as pop3
from twisted_mail_suite.smtp import auth as smtp


def b64(data: bytes) -> bytes:
    return base64.b64encode(data)


def smtpExchange(mechanism: bytes) -> SASLExchange:
    return SASLExchange(mechanism, lenientMarkers=True)


class PlainTests(SynchronousTestCase):
    def test_initialResponse(self) -> None:
        """
        PLAIN with an initial response gives the credentials at once.
        """
        step = SASLExchange(b"plain").begin(b64(b"\0alice\0secret"))
        self.assertEqual(step, Credentials(b"alice", b"secret"))

    def test_challengeThenResponse(self) -> None:
        """
        PLAIN without an initial response sends an empty challenge first.
        """
        exchange = SASLExchange(b"PLAIN")
        self.assertEqual(exchange.begin(None), Challenge(b""))
        self.assertEqual(exchange.respond(b64(b"alice\0alice\0secret")), Credentials(b"alice", b"secret"))

    def test_otherAuthorizationIdentity(self) -> None:
        """
        Acting as someone else is refused (SMTP: 535 5.7.8).
        """
        with self.assertRaises(SASLAuthzMismatch) as caught:
            smtpExchange(b"PLAIN").begin(b64(b"bob\0alice\0secret"))
        self.assertEqual(smtp.saslFailure(caught.exception).code, b"535 5.7.8")

    def test_malformed(self) -> None:
        """
        A PLAIN message without two NULs, or with an empty user, is
        malformed (SMTP: 501 5.5.2).
        """
        for message in (b"alice secret", b"\0\0secret", b"a\0b\0c\0d"):
            with self.assertRaises(SASLMalformed) as caught:
                smtpExchange(b"PLAIN").begin(b64(message))
            self.assertEqual(smtp.saslFailure(caught.exception).code, b"501 5.5.2", message)

    def test_emptyInitialResponse(self) -> None:
        """
        C{=} (an empty initial response) is malformed for PLAIN (SMTP: 501 5.5.2).
        """
        with self.assertRaises(SASLMalformed) as caught:
            smtpExchange(b"PLAIN").begin(b"=")
        self.assertEqual(smtp.saslFailure(caught.exception).code, b"501 5.5.2")

    def test_badBase64(self) -> None:
        """
        A response that is not base64 is a bad encoding (SMTP: 501 5.5.2).
        """
        with self.assertRaises(SASLBadEncoding) as caught:
            smtpExchange(b"PLAIN").begin(b"not*base64!")
        self.assertEqual(smtp.saslFailure(caught.exception).code, b"501 5.5.2")

    def test_cancel(self) -> None:
        """
        C{*} cancels the exchange (SMTP: 501 5.0.0, RFC 4954 §4).
        """
        exchange = smtpExchange(b"PLAIN")
        exchange.begin(None)
        with self.assertRaises(SASLCancelled) as caught:
            exchange.respond(b"*")
        self.assertEqual(smtp.saslFailure(caught.exception).code, b"501 5.0.0")


class LoginTests(SynchronousTestCase):
    def test_twoChallenges(self) -> None:
        """
        LOGIN asks for the user name, then the password (raw challenges:
        the protocol encodes them).
        """
        exchange = SASLExchange(b"LOGIN")
        self.assertEqual(exchange.begin(None), Challenge(b"Username:"))
        self.assertEqual(exchange.respond(b64(b"alice")), Challenge(b"Password:"))
        self.assertEqual(exchange.respond(b64(b"secret")), Credentials(b"alice", b"secret"))

    def test_initialResponse(self) -> None:
        """
        LOGIN's initial response is the user name.
        """
        exchange = SASLExchange(b"LOGIN")
        self.assertEqual(exchange.begin(b64(b"alice")), Challenge(b"Password:"))
        self.assertEqual(exchange.respond(b64(b"secret")), Credentials(b"alice", b"secret"))


class MechanismTests(SynchronousTestCase):
    def test_unknown(self) -> None:
        """
        An unknown mechanism is refused (SMTP: 504 5.5.4).
        """
        with self.assertRaises(SASLUnknownMechanism) as caught:
            smtpExchange(b"CRAM-MD5")
        self.assertEqual(smtp.saslFailure(caught.exception).code, b"504 5.5.4")

    def test_notOffered(self) -> None:
        """
        A mechanism the protocol does not offer is unknown to it.
        """
        self.assertRaises(SASLUnknownMechanism, SASLExchange, b"LOGIN", (b"PLAIN",))
        self.assertEqual(SASLExchange(b"plain", (b"PLAIN",)).mechanism, b"PLAIN")


class MarkerTests(SynchronousTestCase):
    """
    C{*} and C{=}: by the RFCs' letter (POP3), C{*} cancels only after a
    challenge and C{=} is empty only as the initial response; SMTP has
    always taken both anywhere.
    """

    def test_strictCancelInitial(self) -> None:
        """
        A strict exchange takes an initial C{*} as bad base64.
        """
        self.assertRaises(SASLBadEncoding, SASLExchange(b"PLAIN").begin, b"*")

    def test_strictEmptyResponse(self) -> None:
        """
        A strict exchange takes C{=} after a challenge as bad base64.
        """
        exchange = SASLExchange(b"LOGIN")
        exchange.begin(None)
        self.assertRaises(SASLBadEncoding, exchange.respond, b"=")

    def test_lenientCancelInitial(self) -> None:
        """
        SMTP's exchange takes an initial C{*} as a cancel.
        """
        self.assertRaises(SASLCancelled, smtpExchange(b"PLAIN").begin, b"*")

    def test_lenientEmptyResponse(self) -> None:
        """
        SMTP's exchange takes C{=} after a challenge as an empty response.
        """
        exchange = smtpExchange(b"LOGIN")
        exchange.begin(None)
        self.assertEqual(exchange.respond(b"="), Challenge(b"Password:"))


class ReplyTableTests(SynchronousTestCase):
    """
    Each protocol maps every SASL failure to a reply.
    """

    FAILURES = (SASLCancelled, SASLMalformed, SASLBadEncoding, SASLUnknownMechanism, SASLAuthzMismatch)

    def test_allSubclassesOfSASLError(self) -> None:
        """
        Every failure is a L{SASLError}.
        """
        for failure in self.FAILURES:
            self.assertTrue(issubclass(failure, SASLError), failure)

    def test_smtpTable(self) -> None:
        """
        SMTP has a reply for every failure, and no other.
        """
        self.assertEqual(set(smtp.SASL_REPLIES), set(self.FAILURES))

    def test_pop3Table(self) -> None:
        """
        POP3 has a C{-ERR} text for every failure, and no other; the
        reason goes to the log only.
        """
        self.assertEqual(set(pop3.SASL_REPLIES), set(self.FAILURES))
        error = pop3.saslFailure(SASLBadEncoding("bad base64"))
        self.assertEqual((error.reply, error.reason),
                         (b"-ERR Invalid base64 data in the SASL response.\r\n", "bad base64"))
