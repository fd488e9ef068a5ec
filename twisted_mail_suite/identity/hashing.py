# -*- test-case-name: tests.identity.test_hashing -*-
"""
Password schemes of Dovecot's passwd-file.

Written by C{mailsuite-admin} (L{SCHEMES}): C{{ARGON2ID}} and C{{BLF-CRYPT}}
(the slow ones, one of which is the default for new entries),
C{{SHA512-CRYPT}}, C{{SHA256-CRYPT}} and C{{PLAIN}}.  Also verified, so
existing Dovecot files work unchanged (L{VERIFIABLE}): C{{MD5-CRYPT}},
C{{SSHA}}, C{{SHA}}, C{{SSHA256}}, C{{SSHA512}} (base64, or hex with a
C{.HEX} suffix), C{{CRYPT}} of the C{$1$ $5$ $6$ $2y$} kinds, C{{ARGON2I}}
and C{{CLEARTEXT}}.

The legacy schemes are libpass's (the maintained passlib fork, imported as
C{passlib}); bcrypt and argon2-cffi do the slow ones.  Nothing here hashes
a secret longer than L{MAX_SECRET_BYTES}: the login path refuses long
credentials before they get here (C{auth.max_password_length}), and this
is the backstop.

Every function here is blocking (the slow hashes are meant to be slow): call
them off the reactor thread.
"""
from __future__ import annotations

import base64
import binascii
import hmac
import os
from typing import Any

import bcrypt
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from passlib import hash as _libpass

DEFAULT_SCHEME = "BLF-CRYPT"
SCHEMES = ("ARGON2ID", "BLF-CRYPT", "SHA512-CRYPT", "SHA256-CRYPT", "PLAIN")
SLOW_SCHEMES = frozenset({"ARGON2ID", "ARGON2I", "BLF-CRYPT"})
BCRYPT_ROUNDS = 10
CRYPT_ROUNDS = 5000          # glibc's and Dovecot's default for $5$ and $6$
BCRYPT_MAX_BYTES = 72        # bcrypt reads no further (Dovecot truncates too)
MAX_SECRET_BYTES = 4096      # libpass's own limit; the config's cap is lower

_argon2 = PasswordHasher()

_CRYPT = {
    "SHA512-CRYPT": _libpass.sha512_crypt,
    "SHA256-CRYPT": _libpass.sha256_crypt,
    "MD5-CRYPT": _libpass.md5_crypt,
}
_LDAP = {
    "SHA": _libpass.ldap_sha1,
    "SHA1": _libpass.ldap_sha1,
    "SSHA": _libpass.ldap_salted_sha1,
    "SSHA256": _libpass.ldap_salted_sha256,
    "SSHA512": _libpass.ldap_salted_sha512,
}
_CRYPT_PREFIXES = {"$6$": "SHA512-CRYPT", "$5$": "SHA256-CRYPT", "$1$": "MD5-CRYPT",
                   "$2y$": "BLF-CRYPT", "$2b$": "BLF-CRYPT", "$2a$": "BLF-CRYPT"}

VERIFIABLE = frozenset(SCHEMES) | frozenset(_CRYPT) | frozenset(_LDAP) \
    | frozenset(name + ".HEX" for name in _LDAP) | frozenset(name + ".B64" for name in _LDAP) \
    | {"ARGON2I", "CLEARTEXT", "CRYPT"}


def cryptScheme(hashed: str) -> str | None:
    """
    The scheme of a crypt(3) string (C{$6$...} is SHA512-CRYPT), as
    Dovecot's C{CRYPT} reads it; L{None} for kinds we do not verify (DES).
    """
    for prefix, scheme in _CRYPT_PREFIXES.items():
        if hashed.startswith(prefix):
            return scheme
    return None


def _bcryptSecret(password: str) -> bytes:
    return password.encode("utf-8")[:BCRYPT_MAX_BYTES]


def hashPassword(password: str, scheme: str = DEFAULT_SCHEME) -> str:
    """
    @return: the stored form, C{{SCHEME}hash}, salted for every scheme but
        PLAIN.
    """
    if len(password.encode("utf-8")) > MAX_SECRET_BYTES:
        raise ValueError(f"password longer than {MAX_SECRET_BYTES} bytes")
    if scheme == "BLF-CRYPT":
        # Dovecot writes $2y$; bcrypt's $2b$ is the same algorithm.
        digest = bcrypt.hashpw(_bcryptSecret(password), bcrypt.gensalt(BCRYPT_ROUNDS)).decode("ascii")
        return "{BLF-CRYPT}$2y$" + digest[4:]
    if scheme == "ARGON2ID":
        return "{ARGON2ID}" + _argon2.hash(password)
    if scheme in ("SHA512-CRYPT", "SHA256-CRYPT"):
        return "{" + scheme + "}" + _CRYPT[scheme].using(rounds=CRYPT_ROUNDS).hash(password)
    if scheme == "PLAIN":
        return "{PLAIN}" + password
    raise ValueError(f"unknown scheme {scheme!r}")


def verifyPassword(scheme: str, stored: str, password: str) -> bool:
    """
    Check C{password} against C{stored} (the part after C{{SCHEME}}), in
    time that does not depend on where the two differ.  A malformed stored
    hash, an unknown scheme or a password over L{MAX_SECRET_BYTES} is a
    failed check (the last without any hashing).
    """
    secret = password.encode("utf-8")
    if len(secret) > MAX_SECRET_BYTES:
        return False
    scheme = scheme.upper()
    try:
        if scheme == "CRYPT":
            scheme = cryptScheme(stored) or ""
        if scheme == "BLF-CRYPT":
            if stored.startswith("$2y$"):
                stored = "$2b$" + stored[4:]
            return bcrypt.checkpw(secret[:BCRYPT_MAX_BYTES], stored.encode("ascii"))
        if scheme in ("ARGON2ID", "ARGON2I"):
            return _argon2.verify(stored, password)
        if scheme in _CRYPT:
            return bool(_CRYPT[scheme].verify(password, stored))
        family, _, encoding = scheme.partition(".")
        if family in _LDAP and encoding in ("", "B64", "HEX"):
            if encoding == "HEX":
                stored = base64.b64encode(binascii.unhexlify(stored.strip())).decode("ascii")
            return bool(_LDAP[family].verify(password, _LDAP[family].ident + stored))
        if scheme in ("PLAIN", "CLEARTEXT"):
            return hmac.compare_digest(secret, stored.encode("utf-8"))
    except (ValueError, TypeError, UnicodeError, binascii.Error, VerificationError, InvalidHashError):
        return False
    return False


def isSlow(scheme: str) -> bool:
    """
    Is C{scheme} one of the deliberately slow hashes?
    """
    return scheme.upper() in SLOW_SCHEMES


_dummies: dict[str, str] = {
    "BLF-CRYPT": "$2b$%02d$" % BCRYPT_ROUNDS + "N9qo8uLOickgx2ZMRZoMyeIjZAgcfl7p92ldGxad68LJZdL17lhWy",
}


def _dummyHash(scheme: str) -> str:
    """
    A stored hash of C{scheme} with the parameters L{hashPassword} uses,
    made once (of a random password nobody knows).
    """
    dummy = _dummies.get(scheme)
    if dummy is None:
        dummy = _dummies[scheme] = hashPassword(os.urandom(16).hex(), scheme).split("}", 1)[1]
    return dummy


def burnTime(password: str, scheme: str = DEFAULT_SCHEME) -> None:
    """
    Spend what verifying against C{scheme} (the default for new entries)
    costs, so an unknown user cannot be told from a wrong password by
    timing.
    """
    verifyPassword(scheme, _dummyHash(scheme), password)


def verifyAtLeast(scheme: str, stored: str, password: str, floorScheme: str) -> bool:
    """
    L{verifyPassword}, then, if C{scheme} is cheaper than C{floorScheme}
    (say PLAIN or SHA512-CRYPT against BLF-CRYPT), one dummy verification
    of C{floorScheme}: a user whose password is stored cheaply answers as
    slowly as an unknown user (L{burnTime}) and a BLF-CRYPT user.
    """
    result = verifyPassword(scheme, stored, password)
    if needsPadding(scheme, floorScheme):
        burnTime(password, floorScheme)
    return result


def needsPadding(scheme: str, floorScheme: str) -> bool:
    """
    Does verifying C{scheme} cost less than verifying C{floorScheme}?
    (The slow schemes count as one cost class; the others as cheaper.)
    """
    return isSlow(floorScheme) and not isSlow(scheme)


def sha512Crypt(password: bytes, setting: bytes) -> str:
    """
    The SHA-512 crypt of Ulrich Drepper's specification (glibc's C{$6$}),
    computed by libpass.

    @param setting: C{$6$salt} or C{$6$rounds=N$salt} (a trailing C{$hash}
        is ignored).
    """
    parts = setting.decode("ascii").split("$")
    rest = parts[2:]
    options: dict[str, Any] = {"rounds": CRYPT_ROUNDS}
    if rest and rest[0].startswith("rounds="):
        options["rounds"] = max(1000, min(999_999_999, int(rest[0][7:])))
        rest = rest[1:]
    options["salt"] = (rest[0] if rest else "")[:16]
    return str(_CRYPT["SHA512-CRYPT"].using(**options).hash(password.decode("utf-8")))
