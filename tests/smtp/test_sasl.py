# -*- test-case-name: tests.smtp.test_sasl -*-
"""
The PLAIN and LOGIN exchanges, without any I/O.
"""
from __future__ import annotations

import base64

from twisted.trial.unittest import SynchronousTestCase

from twisted_mail_suite.errors import ProtocolError
from twisted_mail_suite.smtp.sasl import Challenge, Credentials, SASLExchange


def b64(data: bytes) -> bytes:
    return base64.b64encode(data)


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
        Acting as someone else is refused with 535 5.7.8.
        """
        with self.assertRaises(ProtocolError) as caught:
            SASLExchange(b"PLAIN").begin(b64(b"bob\0alice\0secret"))
        self.assertEqual(caught.exception.code, b"535 5.7.8")

    def test_malformed(self) -> None:
        """
        A PLAIN message without two NULs, or with an empty user, is 501 5.5.2.
        """
        for message in (b"alice secret", b"\0\0secret", b"a\0b\0c\0d"):
            with self.assertRaises(ProtocolError) as caught:
                SASLExchange(b"PLAIN").begin(b64(message))
            self.assertEqual(caught.exception.code, b"501 5.5.2", message)

    def test_emptyInitialResponse(self) -> None:
        """
        C{=} (an empty initial response) is malformed for PLAIN.
        """
        with self.assertRaises(ProtocolError) as caught:
            SASLExchange(b"PLAIN").begin(b"=")
        self.assertEqual(caught.exception.code, b"501 5.5.2")

    def test_badBase64(self) -> None:
        """
        A response that is not base64 is 501 5.5.2.
        """
        with self.assertRaises(ProtocolError) as caught:
            SASLExchange(b"PLAIN").begin(b"not*base64!")
        self.assertEqual(caught.exception.code, b"501 5.5.2")

    def test_cancel(self) -> None:
        """
        C{*} cancels the exchange with 501 5.0.0 (RFC 4954 §4).
        """
        exchange = SASLExchange(b"PLAIN")
        exchange.begin(None)
        with self.assertRaises(ProtocolError) as caught:
            exchange.respond(b"*")
        self.assertEqual(caught.exception.code, b"501 5.0.0")


class LoginTests(SynchronousTestCase):
    def test_twoChallenges(self) -> None:
        """
        LOGIN asks for the user name, then the password.
        """
        exchange = SASLExchange(b"LOGIN")
        self.assertEqual(exchange.begin(None), Challenge(b64(b"Username:")))
        self.assertEqual(exchange.respond(b64(b"alice")), Challenge(b64(b"Password:")))
        self.assertEqual(exchange.respond(b64(b"secret")), Credentials(b"alice", b"secret"))

    def test_initialResponse(self) -> None:
        """
        LOGIN's initial response is the user name.
        """
        exchange = SASLExchange(b"LOGIN")
        self.assertEqual(exchange.begin(b64(b"alice")), Challenge(b64(b"Password:")))
        self.assertEqual(exchange.respond(b64(b"secret")), Credentials(b"alice", b"secret"))


class MechanismTests(SynchronousTestCase):
    def test_unknown(self) -> None:
        """
        An unknown mechanism is 504 5.5.4.
        """
        with self.assertRaises(ProtocolError) as caught:
            SASLExchange(b"CRAM-MD5")
        self.assertEqual(caught.exception.code, b"504 5.5.4")
