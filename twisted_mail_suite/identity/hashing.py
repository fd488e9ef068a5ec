# -*- test-case-name: tests.identity.test_hashing -*-
"""
Password schemes of Dovecot's passwd-file: C{{ARGON2ID}}, C{{BLF-CRYPT}}
(the default for new entries), C{{SHA512-CRYPT}} and C{{PLAIN}}.

Every function here is blocking (the slow hashes are meant to be slow): call
them off the reactor thread.
"""
from __future__ import annotations

import hashlib
import hmac
import os

import bcrypt
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

DEFAULT_SCHEME = "BLF-CRYPT"
SCHEMES = ("ARGON2ID", "BLF-CRYPT", "SHA512-CRYPT", "PLAIN")
BCRYPT_ROUNDS = 10

_argon2 = PasswordHasher()


def hashPassword(password: str, scheme: str = DEFAULT_SCHEME) -> str:
    """
    @return: the stored form, C{{SCHEME}hash}.
    """
    secret = password.encode("utf-8")
    if scheme == "BLF-CRYPT":
        # Dovecot writes $2y$; bcrypt's $2b$ is the same algorithm.
        digest = bcrypt.hashpw(secret, bcrypt.gensalt(BCRYPT_ROUNDS)).decode("ascii")
        return "{BLF-CRYPT}$2y$" + digest[4:]
    if scheme == "ARGON2ID":
        return "{ARGON2ID}" + _argon2.hash(password)
    if scheme == "SHA512-CRYPT":
        salt = _b64(os.urandom(12), 16)
        return "{SHA512-CRYPT}" + sha512Crypt(secret, salt.encode("ascii"))
    if scheme == "PLAIN":
        return "{PLAIN}" + password
    raise ValueError(f"unknown scheme {scheme!r}")


def verifyPassword(scheme: str, stored: str, password: str) -> bool:
    """
    Check C{password} against C{stored} (the part after C{{SCHEME}}), in
    time that does not depend on where the two differ.
    """
    secret = password.encode("utf-8")
    try:
        if scheme == "BLF-CRYPT":
            if stored.startswith("$2y$"):
                stored = "$2b$" + stored[4:]
            return bcrypt.checkpw(secret, stored.encode("ascii"))
        if scheme in ("ARGON2ID", "ARGON2I"):
            return _argon2.verify(stored, password)
        if scheme == "SHA512-CRYPT":
            parts = stored.split("$")
            if len(parts) < 4 or parts[1] != "6":
                return False
            setting = "$".join(parts[:-1]).encode("ascii")
            return hmac.compare_digest(sha512Crypt(secret, setting).encode("ascii"),
                                       stored.encode("ascii"))
        if scheme in ("PLAIN", "CLEARTEXT"):
            return hmac.compare_digest(secret, stored.encode("utf-8"))
    except (ValueError, UnicodeError, VerificationError, InvalidHashError):
        return False
    return False


def burnTime(password: str) -> None:
    """
    Spend what verifying against the default scheme costs, so an unknown
    user cannot be told from a wrong password by timing.
    """
    verifyPassword("BLF-CRYPT", _DUMMY, password)


_ITOA64 = b"./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


def _b64(data: bytes, length: int) -> str:
    return "".join(chr(_ITOA64[b % 64]) for b in data)[:length]


def _b64triple(b2: int, b1: int, b0: int, n: int) -> bytes:
    w = (b2 << 16) | (b1 << 8) | b0
    out = bytearray()
    for _ in range(n):
        out.append(_ITOA64[w & 0x3F])
        w >>= 6
    return bytes(out)


_SHA512_ORDER = [
    (0, 21, 42), (22, 43, 1), (44, 2, 23), (3, 24, 45), (25, 46, 4), (47, 5, 26),
    (6, 27, 48), (28, 49, 7), (50, 8, 29), (9, 30, 51), (31, 52, 10), (53, 11, 32),
    (12, 33, 54), (34, 55, 13), (56, 14, 35), (15, 36, 57), (37, 58, 16), (59, 17, 38),
    (18, 39, 60), (40, 61, 19), (62, 20, 41),
]


def sha512Crypt(password: bytes, setting: bytes) -> str:
    """
    The SHA-512 crypt of Ulrich Drepper's specification (glibc's C{$6$}).

    @param setting: C{$6$salt} or C{$6$rounds=N$salt} (a trailing C{$hash}
        is ignored).
    """
    parts = setting.split(b"$")
    rounds = 5000
    explicitRounds = False
    rest = parts[2:]
    if rest and rest[0].startswith(b"rounds="):
        rounds = max(1000, min(999999999, int(rest[0][7:])))
        explicitRounds = True
        rest = rest[1:]
    salt = (rest[0] if rest else b"")[:16]
    plen = len(password)

    b = hashlib.sha512(password + salt + password).digest()
    a = hashlib.sha512(password + salt)
    a.update((b * (plen // 64 + 1))[:plen])
    n = plen
    while n:
        a.update(b if n & 1 else password)
        n >>= 1
    digestA = a.digest()

    dp = hashlib.sha512(password * plen).digest()
    p = (dp * (plen // 64 + 1))[:plen]
    ds = hashlib.sha512(salt * (16 + digestA[0])).digest()
    s = ds[: len(salt)]

    c = digestA
    for i in range(rounds):
        h = hashlib.sha512(p if i & 1 else c)
        if i % 3:
            h.update(s)
        if i % 7:
            h.update(p)
        h.update(c if i & 1 else p)
        c = h.digest()

    encoded = b"".join(_b64triple(c[x], c[y], c[z], 4) for x, y, z in _SHA512_ORDER)
    encoded += _b64triple(0, 0, c[63], 2)
    prefix = b"$6$" + (b"rounds=%d$" % rounds if explicitRounds else b"") + salt
    return (prefix + b"$" + encoded).decode("ascii")


_DUMMY = "$2b$%02d$" % BCRYPT_ROUNDS + "N9qo8uLOickgx2ZMRZoMyeIjZAgcfl7p92ldGxad68LJZdL17lhWy"
