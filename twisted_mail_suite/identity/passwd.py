# -*- test-case-name: tests.identity.test_passwd -*-
"""
The users database (Dovecot passwd-file format) and the one credential
checker every protocol logs in through.
"""
from __future__ import annotations

import hashlib
import hmac
import os
import tempfile
from dataclasses import dataclass
from typing import Callable, Iterable, Mapping

from twisted.cred.checkers import ICredentialsChecker
from twisted.cred.credentials import IUsernameHashedPassword, IUsernamePassword
from twisted.cred.error import UnauthorizedLogin
from twisted.internet.defer import Deferred, fail, succeed
from twisted.internet.interfaces import IReactorThreads
from twisted.internet.threads import deferToThreadPool
from twisted.logger import Logger
from zope.interface import implementer

from . import hashing
from ..interfaces import IUserDatabase


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
        scheme, hashed = ("SHA512-CRYPT", password) if password.startswith("$6$") else ("", password)
    if scheme == "BLF-CRYPT" or scheme in hashing.SCHEMES or scheme in ("CLEARTEXT", "ARGON2I"):
        return UserEntry(normalizeName(name), scheme, hashed)
    raise ValueError(f"unsupported password scheme {scheme or '(none)'!r}")


@implementer(IUserDatabase)
class PasswdFile:
    """
    A Dovecot passwd-file, re-read when its mtime or size changes (checked at
    each lookup and by L{reloadIfChanged}).  Malformed lines are logged with
    file and line number and skipped.
    """

    log = Logger()

    def __init__(self, path: str) -> None:
        self.path = path
        self._stamp: tuple[float, int] | None = None
        self._entries: dict[str, UserEntry] = {}       # read at the first look-up, not here

    def _currentStamp(self) -> tuple[float, int] | None:
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            return None
        return (st.st_mtime_ns, st.st_size)

    def reloadIfChanged(self) -> bool:
        """
        @return: C{True} if the file was (re)read.
        """
        stamp = self._currentStamp()
        if stamp == self._stamp and stamp is not None:
            return False
        self.reload()
        return True

    def reload(self) -> None:
        stamp = self._currentStamp()
        entries: dict[str, UserEntry] = {}
        if stamp is not None:
            with open(self.path, encoding="utf-8", errors="replace") as f:
                for number, line in enumerate(f, 1):
                    try:
                        entry = parseEntry(line)
                    except ValueError as e:
                        self.log.warn("{path}:{line}: skipped: {error}",
                                      path=self.path, line=number, error=str(e))
                        continue
                    if entry is None:
                        continue
                    if entry.scheme in ("PLAIN", "CLEARTEXT"):
                        self.log.warn("{path}:{line}: user {user} has a PLAIN password; "
                                      "set a hashed one with mailsuite-admin users passwd",
                                      path=self.path, line=number, user=entry.name)
                    entries[entry.name] = entry
        self._entries = entries
        self._stamp = stamp

    def lookup(self, name: str) -> UserEntry | None:
        self.reloadIfChanged()
        return self._entries.get(normalizeName(name))

    def names(self) -> list[str]:
        self.reloadIfChanged()
        return sorted(self._entries)


@implementer(IUserDatabase)
class InMemoryUsers:
    """
    Users held in memory (for embedding and tests): name -> clear password,
    stored hashed with C{scheme}.
    """

    def __init__(self, users: Mapping[str, str] | None = None, scheme: str = "PLAIN") -> None:
        self._scheme = scheme
        self._entries: dict[str, UserEntry] = {}
        for name, password in (users or {}).items():
            self.setPassword(name, password)

    def setPassword(self, name: str, password: str) -> None:
        stored = hashing.hashPassword(password, self._scheme)
        entry = parseEntry(f"{name}:{stored}")
        assert entry is not None
        self._entries[entry.name] = entry

    def remove(self, name: str) -> None:
        self._entries.pop(normalizeName(name), None)

    def lookup(self, name: str) -> UserEntry | None:
        return self._entries.get(normalizeName(name))

    def names(self) -> list[str]:
        return sorted(self._entries)


def inThreadPool(reactor: IReactorThreads) -> Callable[..., Deferred]:
    """
    A C{runInThread} for L{PasswordChecker}: C{f(*args)} in C{reactor}'s
    thread pool, the result delivered in the reactor thread.
    """

    def runInThread(f: Callable[..., object], *args: object) -> Deferred:
        return deferToThreadPool(reactor, reactor.getThreadPool(), f, *args)

    return runInThread


@implementer(ICredentialsChecker)
class PasswordChecker:
    """
    The one checker: C{IUsernamePassword} against any scheme (verified in a
    thread), C{IUsernameHashedPassword} (APOP) only for PLAIN entries.

    A login name may carry a local domain (C{alice@example.test}); the
    avatar ID is the bare user name.

    @param runInThread: C{runInThread(f, *args) -> Deferred} runs the slow
        password hashes off the reactor thread (L{inThreadPool}).
    """

    credentialInterfaces = (IUsernamePassword, IUsernameHashedPassword)

    def __init__(self, users: IUserDatabase, localDomains: Iterable[str],
                 runInThread: Callable[..., Deferred]) -> None:
        self.users = users
        self._domains = {d.lower() for d in localDomains}
        self._runInThread = runInThread

    def allowsHashedCredentials(self, name: str) -> bool:
        """
        May C{name} log in with hashed credentials (POP3's APOP)?  Only
        where the clear password is stored.
        """
        entry = self.users.lookup(name)
        return entry is not None and entry.allowsHashedCredentials

    def anyAllowsHashedCredentials(self) -> bool:
        """
        Does some user's stored password permit hashed credentials (so APOP
        is worth offering)?
        """
        return any(self.allowsHashedCredentials(name) for name in self.users.names())

    def userName(self, login: str) -> str | None:
        """
        The user a login name refers to, or L{None} for a foreign domain.
        """
        name, at, domain = login.rpartition("@") if "@" in login else (login, "", "")
        if at and domain.lower() not in self._domains:
            return None
        return normalizeName(name)

    def requestAvatarId(self, credentials: object) -> Deferred:
        login = credentials.username  # type: ignore[attr-defined]
        if isinstance(login, bytes):
            login = login.decode("utf-8", "replace")
        name = self.userName(login)
        entry = self.users.lookup(name) if name else None
        if IUsernamePassword.providedBy(credentials):
            password = credentials.password  # type: ignore[attr-defined]
            if isinstance(password, bytes):
                password = password.decode("utf-8", "replace")
            if entry is None:
                d = self._runInThread(hashing.burnTime, password)
                d.addCallback(lambda _: _unauthorized())
                return d
            d = self._runInThread(entry.verify, password)
            return d.addCallback(_avatarIdIf, entry.name)
        if entry is not None and entry.allowsHashedCredentials:
            if _checkHashed(credentials, entry.hashed.encode("utf-8")):
                return succeed(entry.name)
        return fail(UnauthorizedLogin())


def _asBytes(value: object) -> bytes:
    return value.encode("utf-8") if isinstance(value, str) else bytes(value)  # type: ignore[arg-type]


def _checkHashed(credentials: object, password: bytes) -> bool:
    """
    APOP (RFC 1939 §7) in constant time; Twisted's C{APOPCredentials}
    compares a str digest with bytes on Python 3, so it is checked here.
    """
    magic = getattr(credentials, "magic", None)
    digest = getattr(credentials, "digest", None)
    if magic is not None and digest is not None:
        expected = hashlib.md5(_asBytes(magic) + password).hexdigest().encode("ascii")  # noqa: S324
        return hmac.compare_digest(expected, _asBytes(digest).lower())
    return bool(credentials.checkPassword(password))  # type: ignore[attr-defined]


def _unauthorized() -> None:
    raise UnauthorizedLogin()


def _avatarIdIf(ok: bool, name: str) -> str:
    if not ok:
        raise UnauthorizedLogin()
    return name


# Rewriting the file (mailsuite-admin): atomic, keeps comments and unknown lines.

def _readLines(path: str) -> list[str]:
    try:
        with open(path, encoding="utf-8") as f:
            return f.readlines()
    except FileNotFoundError:
        return []


def _lineUser(line: str) -> str | None:
    try:
        entry = parseEntry(line)
    except ValueError:
        name = line.split(":", 1)[0].strip()
        return normalizeName(name) if ":" in line and name and not name.startswith("#") else None
    return entry.name if entry else None


def writeFileAtomically(path: str, text: str, mode: int = 0o600) -> None:
    """
    Replace C{path} with C{text}: temp file in the same folder, fsync,
    C{os.replace}, fsync the folder.
    """
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".users.", dir=folder)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    dirfd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(dirfd)
    finally:
        os.close(dirfd)


def setUserPassword(path: str, name: str, stored: str, create: bool = True) -> bool:
    """
    Set C{name}'s stored password (C{{SCHEME}hash}), keeping the line's
    extra fields, every other line and every comment.

    @return: C{True} if the user existed before.
    """
    name = normalizeName(name)
    lines = _readLines(path)
    existed = False
    for index, line in enumerate(lines):
        if _lineUser(line) == name:
            fields = line.rstrip("\r\n").split(":")
            fields[1] = stored
            lines[index] = ":".join(fields) + "\n"
            existed = True
    if not existed:
        if not create:
            return False
        if lines and not lines[-1].endswith("\n"):
            lines[-1] += "\n"
        lines.append(f"{name}:{stored}\n")
    writeFileAtomically(path, "".join(lines))
    return existed


def deleteUser(path: str, name: str) -> bool:
    """
    @return: C{True} if the user was there.
    """
    name = normalizeName(name)
    lines = _readLines(path)
    kept = [line for line in lines if _lineUser(line) != name]
    if len(kept) == len(lines):
        return False
    writeFileAtomically(path, "".join(kept))
    return True


def validUserName(name: str) -> bool:
    """
    Names usable as a mailbox folder, a chat nick and an address local part.
    """
    return (0 < len(name) <= 32 and name == name.strip() and name not in (".", "..")
            and all(c.isalnum() or c in "._-+" for c in name))
