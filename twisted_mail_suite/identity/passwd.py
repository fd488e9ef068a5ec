# -*- test-case-name: tests.identity.test_passwd -*-
"""
The users database (Dovecot passwd-file format) and the one credential
checker every protocol logs in through.

The file is parsed, and indexed once per change (the names, and whether
any stored password allows APOP), in the thread given as C{runInThread}:
a change is noticed by its mtime and size at a look-up (with a clock, at
most once per L{PasswdFile.checkInterval}: a C{stat} per RCPT is a system
call per message on the reactor thread), every few seconds by the
service, and always at a login, which waits for the re-read
(L{PasswdFile.refresh}); so a changed file is picked up at the next login
and never parsed on the reactor thread after the first read.
"""
from __future__ import annotations

import hashlib
import hmac
import os
from dataclasses import dataclass, field
from typing import Callable, Iterable, Mapping

from twisted.cred.checkers import ICredentialsChecker
from twisted.cred.credentials import IUsernameHashedPassword, IUsernamePassword
from twisted.cred.error import UnauthorizedLogin
from twisted.internet.defer import CancelledError, Deferred, fail, succeed
from twisted.internet.interfaces import IReactorThreads, IReactorTime
from twisted.internet.threads import deferToThreadPool
from twisted.logger import Logger
from twisted.python.failure import Failure
from zope.interface import implementer

from . import hashing
from ..interfaces import IUserDatabase
from .entries import UserEntry, normalizeName, parseEntry, validUserName
from .usersfile import addUser, deleteUser, lockedUsersFile, setUserPassword, writeFileAtomically

__all__ = [
    "InMemoryUsers", "PasswdFile", "PasswordChecker", "UserEntry", "addUser", "deleteUser", "inThreadPool",
    "lockedUsersFile", "normalizeName", "parseEntry", "setUserPassword", "validUserName", "writeFileAtomically",
]

@dataclass(frozen=True)
class Generation:
    """
    One reading of the users file: its stamp (mtime, size, inode) when read, the
    entries by name, whether any allows hashed credentials (APOP), and the
    warnings to log (emitted in the reactor thread, where it is installed).
    """

    stamp: tuple[int, int, int] | None
    entries: Mapping[str, UserEntry]
    anyAllowsHashed: bool
    warnings: tuple[tuple[str, dict], ...] = field(default=(), repr=False)


def _stampOf(path: str) -> tuple[int, int, int] | None:
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return None
    return (st.st_mtime_ns, st.st_size, st.st_ino)   # an atomic replace is a new inode


def readGeneration(path: str) -> Generation:
    """
    Read and index C{path} (blocking: the service runs it in a thread).
    A missing file is no users.

    @raise OSError: if the file exists but cannot be read.
    """
    stamp = _stampOf(path)
    entries: dict[str, UserEntry] = {}
    warnings: list[tuple[str, dict]] = []
    if stamp is not None:
        with open(path, encoding="utf-8", errors="replace") as f:
            for number, line in enumerate(f, 1):
                try:
                    entry = parseEntry(line)
                except ValueError as e:
                    warnings.append(("{path}:{line}: skipped: {error}", {"line": number, "error": str(e)}))
                    continue
                if entry is None:
                    continue
                if entry.allowsHashedCredentials:
                    warnings.append(("{path}:{line}: user {user} has a PLAIN password; "
                                     "set a hashed one with mailsuite-admin users passwd",
                                     {"line": number, "user": entry.name}))
                entries[entry.name] = entry
    anyAllowsHashed = any(entry.allowsHashedCredentials for entry in entries.values())
    return Generation(stamp, entries, anyAllowsHashed, tuple(warnings))


@implementer(IUserDatabase)
class PasswdFile:
    """
    A Dovecot passwd-file, re-read when its mtime, size or inode changes (checked
    at each look-up, at L{refresh} and by L{reloadIfChanged}).  Malformed
    lines are logged with file and line number and skipped.

    @param runInThread: C{runInThread(f, *args) -> Deferred} reads the file
        off the reactor thread; L{None} (tools, tests) reads it in the
        caller's thread, at once.  The very first read is always done at
        once, in the caller's thread (the service does it at start).
    @param clock: with a clock, a look-up checks the file's stamp only if
        L{checkInterval} seconds passed since the last check; without
        (tools), at every look-up.
    """

    log = Logger()
    checkInterval = 1.0

    def __init__(self, path: str, runInThread: Callable[..., Deferred] | None = None,
                 clock: IReactorTime | None = None) -> None:
        self.path = path
        self._runInThread = runInThread
        self._clock = clock
        self._nextCheck = 0.0
        self._generation: Generation | None = None   # read at the first look-up, not here
        self._reading = False
        self._again = False
        self._failedStamp: object = object()          # a stamp whose read failed: not retried by itself
        self._waiting: list[Deferred] = []

    # -- reading ---------------------------------------------------------------

    def _install(self, generation: Generation) -> None:
        for text, fields in generation.warnings:
            self.log.warn(text, path=self.path, **fields)
        self._generation = generation

    def _changed(self) -> bool:
        if self._generation is None:
            return True
        stamp = _stampOf(self.path)
        return stamp != self._generation.stamp and stamp != self._failedStamp

    def _loaded(self) -> Generation:
        """
        The current generation, read at once if there is none yet; a
        change starts a re-read (in the thread) and the old one is served
        until it is done.
        """
        if self._generation is None:
            self._install(readGeneration(self.path))
        elif self._due() and self._changed():
            self._startReading()
        assert self._generation is not None
        return self._generation

    def _due(self) -> bool:
        """
        Is a look-up to check the file's stamp now (always without a
        clock; else once per L{checkInterval})?
        """
        clock = self._clock
        if clock is None:
            return True
        now = clock.seconds()
        if now < self._nextCheck:
            return False
        self._nextCheck = now + self.checkInterval
        return True

    def _startReading(self) -> Deferred:
        """
        Read the file (again), in the thread.

        @return: a Deferred firing once a read that began after this call
            is installed (or has failed: the old generation stays).
        """
        if self._runInThread is None:
            self._install(readGeneration(self.path))
            return succeed(None)
        waiter: Deferred = Deferred()
        self._waiting.append(waiter)
        if self._reading:
            self._again = True          # the read in flight may predate the change
        else:
            self._readInThread()
        return waiter

    def _readInThread(self) -> None:
        self._reading = True
        self._again = False
        stamp = _stampOf(self.path)
        self._runInThread(readGeneration, self.path).addCallbacks(self._read, self._readFailed,
                                                                  errbackArgs=(stamp,))

    def _read(self, generation: Generation) -> None:
        self._reading = False
        self._install(generation)
        self._finish()

    def _readFailed(self, failure: Failure, stamp: object) -> None:
        self._reading = False
        if failure.check(CancelledError):      # the workers stopped: shutting down
            self._again = False
            self._finish()
            return
        self._failedStamp = stamp
        self.log.failure("{path}: cannot read; keeping the users read before (fix it, then SIGHUP)",
                         failure, path=self.path)
        self._finish()

    def _finish(self) -> None:
        if self._again:
            self._readInThread()
            return
        waiting, self._waiting = self._waiting, []
        for waiter in waiting:
            waiter.callback(None)

    def reloadIfChanged(self) -> bool:
        """
        Notice a change (the service asks every few seconds).

        @return: C{True} if the file was (re)read or a re-read started.
        """
        if not self._changed():
            return False
        self._loaded()
        return True

    def reload(self) -> Deferred:
        """
        Read the file again whatever its stamp (SIGHUP).

        @return: a Deferred firing once it is read.
        """
        self._failedStamp = object()
        if self._generation is None:
            self._install(readGeneration(self.path))
            return succeed(None)
        return self._startReading()

    def refresh(self) -> Deferred:
        """
        For a login: a Deferred firing once what is loaded is the file as
        it is now (at once when it has not changed).
        """
        if self._generation is None or not self._changed():
            self._loaded()
            return succeed(None)
        return self._startReading()

    # -- IUserDatabase ------------------------------------------------------------

    def lookup(self, name: str) -> UserEntry | None:
        return self._loaded().entries.get(normalizeName(name))

    def names(self) -> list[str]:
        return sorted(self._loaded().entries)

    def anyAllowsHashedCredentials(self) -> bool:
        """
        Does some user's stored password permit hashed credentials (APOP)?
        Indexed once per reading of the file.
        """
        return self._loaded().anyAllowsHashed


@implementer(IUserDatabase)
class InMemoryUsers:
    """
    Users held in memory (for embedding and tests): name -> clear password,
    stored hashed with C{scheme}.
    """

    def __init__(self, users: Mapping[str, str] | None = None, scheme: str = "PLAIN") -> None:
        self._scheme = scheme
        self._entries: dict[str, UserEntry] = {}
        self._anyAllowsHashed = False
        for name, password in (users or {}).items():
            self.setPassword(name, password)

    def setPassword(self, name: str, password: str) -> None:
        self.setStored(name, hashing.hashPassword(password, self._scheme))

    def setStored(self, name: str, stored: str) -> None:
        """
        Add or change user C{name} with a password already hashed
        (C{{SCHEME}hash}).
        """
        entry = parseEntry(f"{name}:{stored}")
        assert entry is not None
        self._entries[entry.name] = entry
        self._index()

    def remove(self, name: str) -> None:
        self._entries.pop(normalizeName(name), None)
        self._index()

    def _index(self) -> None:
        self._anyAllowsHashed = any(entry.allowsHashedCredentials for entry in self._entries.values())

    def lookup(self, name: str) -> UserEntry | None:
        return self._entries.get(normalizeName(name))

    def names(self) -> list[str]:
        return sorted(self._entries)

    def anyAllowsHashedCredentials(self) -> bool:
        return self._anyAllowsHashed


def inThreadPool(reactor: IReactorThreads, pool: object = None) -> Callable[..., Deferred]:
    """
    A C{runInThread} for L{PasswordChecker} and L{PasswdFile}: C{f(*args)}
    in C{pool} (default: C{reactor}'s own thread pool), the result
    delivered in the reactor thread.
    """

    def runInThread(f: Callable[..., object], *args: object) -> Deferred:
        return deferToThreadPool(reactor, pool if pool is not None else reactor.getThreadPool(), f, *args)

    return runInThread


@implementer(ICredentialsChecker)
class PasswordChecker:
    """
    The one checker: C{IUsernamePassword} against any scheme (verified in a
    thread), C{IUsernameHashedPassword} (APOP) only for PLAIN entries.

    A login name may carry a local domain (C{alice@example.test}); the
    avatar ID is the bare user name.

    Every password check costs at least one verification of
    C{defaultScheme} (the slow scheme new users get): an unknown user gets
    a dummy one (L{hashing.burnTime}), and a user whose password is stored
    in a cheaper scheme (PLAIN, SHA512-CRYPT...) gets one after the real
    check (L{hashing.verifyAtLeast}), so timing tells none of them apart.

    @param runInThread: C{runInThread(f, *args) -> Deferred} runs the slow
        password hashes off the reactor thread (L{inThreadPool}).
    """

    credentialInterfaces = (IUsernamePassword, IUsernameHashedPassword)

    def __init__(self, users: IUserDatabase, localDomains: Iterable[str],
                 runInThread: Callable[..., Deferred], defaultScheme: str = hashing.DEFAULT_SCHEME) -> None:
        self.users = users
        self.defaultScheme = defaultScheme
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
        is worth offering)?  Answered from the users database's index when
        it keeps one (L{PasswdFile}, L{InMemoryUsers}: once per change).
        """
        indexed = getattr(self.users, "anyAllowsHashedCredentials", None)
        if indexed is not None:
            return bool(indexed())
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
        refresh = getattr(self.users, "refresh", None)
        current = refresh() if refresh is not None else succeed(None)
        return current.addCallback(lambda _: self._check(credentials))

    def _check(self, credentials: object) -> Deferred:
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
                d = self._runInThread(hashing.burnTime, password, self.defaultScheme)
                d.addCallback(lambda _: _unauthorized())
                return d
            if hashing.needsPadding(entry.scheme, self.defaultScheme):
                d = self._runInThread(hashing.verifyAtLeast, entry.scheme, entry.hashed, password,
                                      self.defaultScheme)
            else:
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
