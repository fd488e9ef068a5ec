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


class LibpassSchemeTests(SynchronousTestCase):
    """
    The legacy Dovecot schemes are libpass's (issue 12, item 1), verified
    against vectors made elsewhere (glibc's crypt, hashlib).
    """

    def test_sha512CryptIsLibpass(self) -> None:
        """
        SHA512-CRYPT is verified by libpass's C{sha512_crypt}, not by code
        of ours.
        """
        from passlib.hash import sha512_crypt

        calls: list[str] = []
        original = sha512_crypt.verify

        def verify(secret: str, stored: str) -> bool:
            calls.append(stored)
            return bool(original(secret, stored))

        self.patch(sha512_crypt, "verify", verify)
        stored = ("$6$saltstring$svn8UoSVapNtMuq1ukKS4tPQd8iKwSMHWjl/O817G3uBnIFNjnQJuesI68u4OTLiBFdcbYEdF"
                  "CoEOfaS35inz1")
        self.assertTrue(hashing.verifyPassword("SHA512-CRYPT", stored, "Hello world!"))
        self.assertEqual(calls, [stored])

    def test_cryptVectors(self) -> None:
        """
        SHA256-CRYPT and MD5-CRYPT verify glibc's hashes, with the scheme
        named or as Dovecot's C{CRYPT}.
        """
        sha256 = "$5$saltstring$5B8vYYiY.CVt1RlTTf8KbXBH3hsxY/GNooZaBBGWEc5"
        md5 = "$1$saltstri$YMyguxXMBpd2TEZ.vS/3q1"
        for scheme, stored in [("SHA256-CRYPT", sha256), ("MD5-CRYPT", md5), ("CRYPT", sha256), ("CRYPT", md5)]:
            self.assertTrue(hashing.verifyPassword(scheme, stored, "Hello world!"), scheme)
            self.assertFalse(hashing.verifyPassword(scheme, stored, "Hello world?"), scheme)
        self.assertFalse(hashing.verifyPassword("SHA256-CRYPT", md5, "Hello world!"))

    def test_ldapSchemes(self) -> None:
        """
        SHA, SSHA, SSHA256 and SSHA512 (base64, and hex with C{.HEX}) verify
        digests computed here with hashlib, as Dovecot stores them.
        """
        import base64
        import hashlib

        salt = b"\x01\x02\x03\x04\x05\x06\x07\x08"
        cases = {
            "SHA": hashlib.sha1(b"pw").digest(),
            "SSHA": hashlib.sha1(b"pw" + salt).digest() + salt,
            "SSHA256": hashlib.sha256(b"pw" + salt).digest() + salt,
            "SSHA512": hashlib.sha512(b"pw" + salt).digest() + salt,
        }
        for scheme, raw in cases.items():
            self.assertTrue(hashing.verifyPassword(scheme, base64.b64encode(raw).decode(), "pw"), scheme)
            self.assertTrue(hashing.verifyPassword(scheme + ".HEX", raw.hex(), "pw"), scheme)
            self.assertFalse(hashing.verifyPassword(scheme, base64.b64encode(raw).decode(), "pw2"), scheme)

    def test_oversizedSecretNotHashed(self) -> None:
        """
        A password over L{hashing.MAX_SECRET_BYTES} fails before any hash
        function sees it, whatever the scheme.
        """
        import bcrypt
        from passlib.hash import sha512_crypt

        def hashed(*args: object) -> bool:
            raise AssertionError("hashed")

        self.patch(sha512_crypt, "verify", hashed)
        self.patch(bcrypt, "checkpw", hashed)
        huge = "x" * 40_000
        for scheme in ("SHA512-CRYPT", "BLF-CRYPT", "ARGON2ID", "PLAIN"):
            self.assertFalse(hashing.verifyPassword(scheme, "$6$salt$hash", huge), scheme)

    def test_sha512CryptSalted(self) -> None:
        """
        New SHA512-CRYPT and SHA256-CRYPT hashes carry a random 16-character
        salt and glibc's default rounds (issue 12, item 7: not C{$6$$}).
        """
        import re

        for scheme, ident in [("SHA512-CRYPT", "6"), ("SHA256-CRYPT", "5")]:
            first = hashing.hashPassword("same", scheme)
            second = hashing.hashPassword("same", scheme)
            self.assertNotEqual(first, second)
            self.assertRegex(first, r"^\{%s\}\$%s\$[./0-9A-Za-z]{16}\$[./0-9A-Za-z]+$" % (re.escape(scheme), ident))
            self.assertTrue(hashing.verifyPassword(scheme, first.split("}", 1)[1], "same"))

    def test_bcryptLongPassword(self) -> None:
        """
        BLF-CRYPT reads the first 72 bytes of a longer password, as
        Dovecot's does (bcrypt 5 would refuse it).
        """
        password = "p" * 100
        stored = hashing.hashPassword(password, "BLF-CRYPT").split("}", 1)[1]
        self.assertTrue(hashing.verifyPassword("BLF-CRYPT", stored, password))
        self.assertFalse(hashing.verifyPassword("BLF-CRYPT", stored, "q" * 100))

    def test_padding(self) -> None:
        """
        A cheap stored scheme is padded with one verification of the slow
        default; a slow one is not.
        """
        calls: list[str] = []
        original = hashing.verifyPassword
        self.patch(hashing, "verifyPassword", lambda scheme, *rest: calls.append(scheme) or original(scheme, *rest))
        self.assertTrue(hashing.verifyAtLeast("PLAIN", "pw", "pw", "BLF-CRYPT"))
        self.assertEqual(calls, ["PLAIN", "BLF-CRYPT"])
        self.assertFalse(hashing.needsPadding("ARGON2ID", "BLF-CRYPT"))
        self.assertTrue(hashing.needsPadding("SHA512-CRYPT", "ARGON2ID"))
