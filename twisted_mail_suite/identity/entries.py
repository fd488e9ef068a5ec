# -*- test-case-name: tests.identity.test_passwd -*-
"""
One line of a Dovecot passwd-file: L{parseEntry} -> L{UserEntry}, and the
one normalisation of user names (L{normalizeName}) that the users
database, the checker and the failed-login policy share.
"""
from __future__ import annotations

from dataclasses import dataclass

from . import hashing

__all__ = ["UserEntry", "normalizeName", "parseEntry", "validUserName"]


@dataclass(frozen=True)
class UserEntry:
    """
    One user: the name and the stored password, split into scheme and hash.
    """

    name: str
    scheme: str
    hashed: str

    @property
    def allowsHashedCredentials(self) -> bool:
        """
        APOP and other challenge-response logins need the clear password.
        """
        return self.scheme in ("PLAIN", "CLEARTEXT")

    def verify(self, password: str) -> bool:
        """
        Blocking: run it off the reactor thread.
        """
        return hashing.verifyPassword(self.scheme, self.hashed, password)


def normalizeName(name: str) -> str:
    return name.strip().lower()


def parseEntry(line: str) -> UserEntry | None:
    """
    Parse one passwd-file line (C{name:{SCHEME}hash[:extra fields]}).

    @return: L{None} for blank and comment lines.
    @raise ValueError: for a malformed line.
    """
    text = line.rstrip("\r\n")
    if not text.strip() or text.lstrip().startswith("#"):
        return None
    name, sep, rest = text.partition(":")
    if not sep or not name or any(c.isspace() for c in name):
        raise ValueError("expected name:{SCHEME}hash")
    password = rest.split(":", 1)[0]
    if password.startswith("{") and "}" in password:
        scheme, hashed = password[1:].split("}", 1)
        scheme = scheme.upper()
    else:
        # Dovecot's default scheme for a passwd-file without a prefix is CRYPT.
        scheme, hashed = hashing.cryptScheme(password) or "", password
    if scheme == "CRYPT":
        scheme = hashing.cryptScheme(hashed) or ""
    if scheme in hashing.VERIFIABLE:
        return UserEntry(normalizeName(name), scheme, hashed)
    raise ValueError(f"unsupported password scheme {scheme or '(none)'!r}")


def validUserName(name: str) -> bool:
    """
    Names usable as a mailbox folder, a chat nick and an address local part.
    """
    return (0 < len(name) <= 32 and name == name.strip() and name not in (".", "..")
            and all(c.isalnum() or c in "._-+" for c in name))
