# -*- test-case-name: tests.identity.test_hashing -*-
"""
Tests for L{twisted_mail_suite.identity.hashing}.
"""
from __future__ import annotations

from twisted.trial.unittest import SynchronousTestCase

from twisted_mail_suite.identity import hashing


class SchemeTests(SynchronousTestCase):
    def test_roundTrip(self) -> None:
        """
        Each scheme verifies its own hash and refuses another password.
        """
        for scheme in hashing.SCHEMES:
            stored = hashing.hashPassword("s3cret", scheme)
            self.assertTrue(stored.startswith("{" + scheme + "}"))
            hashed = stored.split("}", 1)[1]
            self.assertTrue(hashing.verifyPassword(scheme, hashed, "s3cret"), scheme)
            self.assertFalse(hashing.verifyPassword(scheme, hashed, "s3cret!"), scheme)

    def test_blowfishDovecotPrefix(self) -> None:
        """
        New BLF-CRYPT entries use Dovecot's C{$2y$} prefix.
        """
        self.assertTrue(hashing.hashPassword("x").startswith("{BLF-CRYPT}$2y$10$"))

    def test_sha512CryptVectors(self) -> None:
        """
        SHA512-CRYPT matches the test vectors of Drepper's specification.
        """
        self.assertEqual(
            hashing.sha512Crypt(b"Hello world!", b"$6$saltstring"),
            "$6$saltstring$svn8UoSVapNtMuq1ukKS4tPQd8iKwSMHWjl/O817G3uBnIFNjnQJuesI68u4OTLiBFdcbYEdF"
            "CoEOfaS35inz1")
        self.assertEqual(
            hashing.sha512Crypt(b"Hello world!", b"$6$rounds=10000$saltstringsaltstring"),
            "$6$rounds=10000$saltstringsaltst$OW1/O6BYHV6BcXZu8QVeXbDWra3Oeqh0sbHbbMCVNSnCM/UrjmM0"
            "Dp8vOuZeHBy/YTBmSK6H9qs/y3RnOaw5v.")

    def test_malformedHash(self) -> None:
        """
        A malformed stored hash is a failed check, not an exception.
        """
        self.assertFalse(hashing.verifyPassword("BLF-CRYPT", "garbage", "x"))
        self.assertFalse(hashing.verifyPassword("ARGON2ID", "$argon2id$nonsense", "x"))
        self.assertFalse(hashing.verifyPassword("SHA512-CRYPT", "$5$abc$def", "x"))
        self.assertFalse(hashing.verifyPassword("MD5", "whatever", "x"))

    def test_unknownScheme(self) -> None:
        """
        Hashing with an unknown scheme is refused.
        """
        self.assertRaises(ValueError, hashing.hashPassword, "x", "ROT13")
