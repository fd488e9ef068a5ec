# -*- test-case-name: tests.identity.test_passwd -*-
"""
Tests for the passwd-file users database and the one checker.
"""
from __future__ import annotations

import os

from twisted.cred.credentials import UsernamePassword
from twisted.cred.error import UnauthorizedLogin
from twisted.internet.defer import Deferred, fail
from twisted.internet.task import Clock
from twisted.logger import LogLevel, globalLogPublisher
from twisted.mail.pop3 import APOPCredentials
from twisted.trial.unittest import SynchronousTestCase
from zope.interface.verify import verifyObject

from twisted_mail_suite.identity import hashing, passwd
from twisted_mail_suite.identity.passwd import (
    InMemoryUsers, PasswdFile, PasswordChecker, deleteUser, parseEntry, setUserPassword,
)
from twisted_mail_suite.interfaces import IUserDatabase
from twisted_mail_suite.store.maildir import runSynchronously


def _collectLogs(testCase: SynchronousTestCase) -> list[dict]:
    events: list[dict] = []
    globalLogPublisher.addObserver(events.append)
    testCase.addCleanup(globalLogPublisher.removeObserver, events.append)
    return events


class ParseTests(SynchronousTestCase):
    def test_dovecotLine(self) -> None:
        """
        C{name:{SCHEME}hash} with Dovecot's extra colon fields parses.
        """
        entry = parseEntry("Alice:{PLAIN}pw:1000:1000::/home/alice::\n")
        self.assertEqual((entry.name, entry.scheme, entry.hashed), ("alice", "PLAIN", "pw"))

    def test_commentsAndBlank(self) -> None:
        """
        Comments and blank lines are not entries.
        """
        self.assertIsNone(parseEntry("# a comment\n"))
        self.assertIsNone(parseEntry("   \n"))

    def test_malformed(self) -> None:
        """
        A line without a colon or with an unknown scheme is malformed.
        """
        self.assertRaises(ValueError, parseEntry, "justaname\n")
        self.assertRaises(ValueError, parseEntry, "bob:{ROT13}nope\n")


class PasswdFileTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.path = os.path.join(os.path.abspath(self.mktemp()), "users.passwd")
        os.makedirs(os.path.dirname(self.path))

    def write(self, text: str) -> None:
        with open(self.path, "w") as f:
            f.write(text)

    def test_interface(self) -> None:
        """
        L{PasswdFile} and L{InMemoryUsers} provide L{IUserDatabase}.
        """
        self.write("")
        verifyObject(IUserDatabase, PasswdFile(self.path))
        verifyObject(IUserDatabase, InMemoryUsers())

    def test_malformedLineSkipped(self) -> None:
        """
        A malformed line is logged with file and line number and skipped;
        the lines around it still load.
        """
        events = _collectLogs(self)
        self.write("alice:{PLAIN}a\ngarbage\nbob:{PLAIN}b\n")
        users = PasswdFile(self.path)
        self.assertEqual(users.names(), ["alice", "bob"])
        warnings = [e for e in events if e.get("log_level") == LogLevel.warn and e.get("line") == 2]
        self.assertEqual(len(warnings), 1)
        self.assertEqual(warnings[0]["path"], self.path)

    def test_plainWarns(self) -> None:
        """
        A PLAIN password is accepted with a warning in the log when the
        file is read (at the first look-up: building it reads nothing).
        """
        events = _collectLogs(self)
        self.write("alice:{PLAIN}a\n")
        users = PasswdFile(self.path)
        self.assertFalse(events)
        self.assertIsNotNone(users.lookup("alice"))
        self.assertTrue(any("PLAIN" in e.get("log_format", "") for e in events))

    def test_reloadOnChange(self) -> None:
        """
        A changed file is picked up at the next lookup, without restart.
        """
        self.write("alice:{PLAIN}a\n")
        users = PasswdFile(self.path)
        self.assertIsNone(users.lookup("bob"))
        self.write("alice:{PLAIN}a\nbob:{PLAIN}bb\n")
        os.utime(self.path, ns=(1, 1))
        self.assertEqual(users.lookup("BOB").hashed, "bb")

    def test_reloadOnChangeWithClock(self) -> None:
        """
        With a clock, a look-up checks the file at most once per second
        (not a C{stat} per RCPT): a change within the second is picked up
        by the first look-up after it; a login sees it at once.
        """
        clock = Clock()
        self.write("alice:{PLAIN}a\n")
        os.utime(self.path, ns=(1, 1))
        users = PasswdFile(self.path, clock=clock)
        checker = PasswordChecker(users, ["example.test"], runSynchronously)
        self.assertIsNone(users.lookup("bob"))              # the first read
        self.write("alice:{PLAIN}a\nbob:{PLAIN}bb\n")
        os.utime(self.path, ns=(2, 2))
        self.assertEqual(users.lookup("bob").hashed, "bb")  # checked: the first look-up since the read
        self.write("alice:{PLAIN}a\nbob:{PLAIN}bb\ncarol:{PLAIN}c\n")
        os.utime(self.path, ns=(3, 3))
        clock.advance(0.5)
        self.assertIsNone(users.lookup("carol"))            # within the second: not checked
        clock.advance(0.5)
        self.assertEqual(users.lookup("carol").hashed, "c")
        self.write("dave:{PLAIN}d\n")
        os.utime(self.path, ns=(4, 4))
        self.assertIsNotNone(users.lookup("carol"))         # within the second again
        self.assertEqual(self.successResultOf(checker.requestAvatarId(UsernamePassword(b"dave", b"d"))), "dave")
        self.assertIsNone(users.lookup("carol"))

    def test_missingFile(self) -> None:
        """
        A missing file means no users, not a crash.
        """
        self.assertEqual(PasswdFile(self.path).names(), [])

    def test_rewriteKeepsComments(self) -> None:
        """
        Setting and deleting passwords keeps comments, unknown lines and the
        other users' extra fields.
        """
        self.write("# team\nalice:{PLAIN}a:1000::\n?? odd line\nbob:{PLAIN}b\n")
        self.assertTrue(setUserPassword(self.path, "alice", "{PLAIN}new"))
        self.assertFalse(setUserPassword(self.path, "carol", "{PLAIN}c"))
        self.assertTrue(deleteUser(self.path, "bob"))
        with open(self.path) as f:
            self.assertEqual(f.read(), "# team\nalice:{PLAIN}new:1000::\n?? odd line\ncarol:{PLAIN}c\n")
        self.assertEqual(os.stat(self.path).st_mode & 0o777, 0o600)


class CheckerTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.users = InMemoryUsers()
        for scheme in hashing.SCHEMES:
            self.users._scheme = scheme
            self.users.setPassword(scheme.lower().replace("-", ""), "pw-" + scheme)
        self.calls: list[object] = []

        def run(f, *args):  # type: ignore[no-untyped-def]
            self.calls.append(f)
            return runSynchronously(f, *args)

        self.checker = PasswordChecker(self.users, ["example.test"], run)

    def check(self, user: str, password: str) -> Deferred:
        return self.checker.requestAvatarId(UsernamePassword(user.encode(), password.encode()))

    def test_everyScheme(self) -> None:
        """
        Each scheme logs in with its password, off the reactor thread.
        """
        for scheme in hashing.SCHEMES:
            name = scheme.lower().replace("-", "")
            self.assertEqual(self.successResultOf(self.check(name, "pw-" + scheme)), name)
        self.assertEqual(len(self.calls), len(hashing.SCHEMES))

    def test_wrongPassword(self) -> None:
        """
        A wrong password fails with C{UnauthorizedLogin}.
        """
        self.failureResultOf(self.check("plain", "nope"), UnauthorizedLogin)

    def test_unknownUserBurnsTime(self) -> None:
        """
        An unknown user fails too, after the same kind of work in a thread.
        """
        self.failureResultOf(self.check("nobody", "x"), UnauthorizedLogin)
        self.assertEqual(self.calls, [hashing.burnTime])

    def test_localDomain(self) -> None:
        """
        C{user@localdomain} is the user; a foreign domain is nobody.
        """
        self.assertEqual(self.successResultOf(self.check("plain@Example.Test", "pw-PLAIN")), "plain")
        self.failureResultOf(self.check("plain@elsewhere.test", "pw-PLAIN"), UnauthorizedLogin)

    def test_apopOnlyForPlain(self) -> None:
        """
        APOP (hashed credentials) works only where the clear password is stored.
        """
        import hashlib

        challenge = b"<1.2@mx>"
        good = APOPCredentials(challenge, b"plain", hashlib.md5(challenge + b"pw-PLAIN").hexdigest().encode())
        self.assertEqual(self.successResultOf(self.checker.requestAvatarId(good)), "plain")
        other = APOPCredentials(challenge, b"blfcrypt",
                                hashlib.md5(challenge + b"pw-BLF-CRYPT").hexdigest().encode())
        self.failureResultOf(self.checker.requestAvatarId(other), UnauthorizedLogin)


class EqualCostTests(SynchronousTestCase):
    """
    Issue 12, item 13: every password check spends at least one
    verification of the default (slow) scheme, whatever is stored, so
    timing tells neither an unknown user nor a cheaply stored one apart.
    """

    STORED = ("PLAIN", "SHA512-CRYPT", "SHA256-CRYPT", "BLF-CRYPT", "ARGON2ID")

    def setUp(self) -> None:
        self.users = InMemoryUsers()
        for scheme in self.STORED:
            self.users._scheme = scheme
            self.users.setPassword(scheme.lower().replace("-", ""), "pw")
        self.calls: list[str] = []
        original = hashing.verifyPassword

        def verify(scheme: str, stored: str, password: str) -> bool:
            self.calls.append(scheme)
            return original(scheme, stored, password)

        self.patch(hashing, "verifyPassword", verify)

    def slowCalls(self, defaultScheme: str, user: str, password: str = "wrong") -> list[str]:
        checker = PasswordChecker(self.users, ["example.test"], runSynchronously, defaultScheme)
        self.calls.clear()
        self.failureResultOf(checker.requestAvatarId(UsernamePassword(user.encode(), password.encode())),
                             UnauthorizedLogin)
        return [scheme for scheme in self.calls if hashing.isSlow(scheme)]

    def test_sameCostEveryPath(self) -> None:
        """
        An unknown user, and a user of each stored scheme, each cost exactly
        one slow verification; for the cheap schemes it is one of the
        default scheme's.
        """
        for default in ("BLF-CRYPT", "ARGON2ID"):
            self.assertEqual(self.slowCalls(default, "nobody"), [default])
            for stored in self.STORED:
                expected = [stored] if hashing.isSlow(stored) else [default]
                self.assertEqual(self.slowCalls(default, stored.lower().replace("-", "")), expected,
                                 (default, stored))

    def test_rightPasswordStillPadded(self) -> None:
        """
        The padding does not change the answer: the right PLAIN password
        logs in, after the default scheme's verification.
        """
        checker = PasswordChecker(self.users, ["example.test"], runSynchronously, "BLF-CRYPT")
        self.assertEqual(self.successResultOf(checker.requestAvatarId(UsernamePassword(b"plain", b"pw"))), "plain")
        self.assertEqual(self.calls, ["PLAIN", "BLF-CRYPT"])


class HeldThread:
    """
    A C{runInThread} that holds each call until L{runAll}.
    """

    def __init__(self) -> None:
        self.calls: list[tuple[object, tuple, Deferred]] = []

    def __call__(self, f, *args):  # type: ignore[no-untyped-def]
        d: Deferred = Deferred()
        self.calls.append((f, args, d))
        return d

    def runAll(self) -> None:
        while self.calls:
            f, args, d = self.calls.pop(0)
            try:
                result = f(*args)  # type: ignore[operator]
            except Exception as e:
                d.errback(e)
            else:
                d.callback(result)


class ReadOffReactorTests(SynchronousTestCase):
    """
    Issue 12, item 19: after the first read, the users file is parsed in
    the given thread, and indexed (APOP) once per change.
    """

    def setUp(self) -> None:
        self.path = os.path.join(os.path.abspath(self.mktemp()), "users.passwd")
        os.makedirs(os.path.dirname(self.path))
        self.thread = HeldThread()

    def write(self, text: str, stamp: int) -> None:
        with open(self.path, "w") as f:
            f.write(text)
        os.utime(self.path, ns=(stamp, stamp))

    def test_changeParsedInThread(self) -> None:
        """
        A changed file is parsed through C{runInThread}; until that is done
        look-ups answer from the previous reading.
        """
        self.write("alice:{PLAIN}a\n", 1)
        users = PasswdFile(self.path, self.thread)
        self.assertEqual(users.names(), ["alice"])          # the first read: at once
        self.assertEqual(self.thread.calls, [])
        self.write("alice:{PLAIN}a\nbob:{PLAIN}b\n", 2)
        self.assertIsNone(users.lookup("bob"))
        self.assertEqual([f for f, _, _ in self.thread.calls], [passwd.readGeneration])
        self.assertIsNone(users.lookup("bob"))
        self.assertEqual(len(self.thread.calls), 1)         # one read in flight, not one per look-up
        self.thread.runAll()
        self.assertEqual(users.lookup("bob").hashed, "b")

    def test_nextLoginWaitsForTheChange(self) -> None:
        """
        A login after a change waits for the re-read, then sees it.
        """
        self.write("alice:{PLAIN}old\n", 1)
        users = PasswdFile(self.path, self.thread)
        checker = PasswordChecker(users, ["example.test"], runSynchronously)
        self.assertEqual(self.successResultOf(checker.requestAvatarId(UsernamePassword(b"alice", b"old"))), "alice")
        self.write("alice:{PLAIN}new\n", 2)
        d = checker.requestAvatarId(UsernamePassword(b"alice", b"new"))
        self.assertNoResult(d)
        self.thread.runAll()
        self.assertEqual(self.successResultOf(d), "alice")

    def test_sighupRereads(self) -> None:
        """
        L{PasswdFile.reload} (SIGHUP) re-reads in the thread even if the
        stamp did not change.
        """
        self.write("alice:{PLAIN}a\n", 1)
        users = PasswdFile(self.path, self.thread)
        users.names()
        with open(self.path, "w") as f:
            f.write("carol:{PLAIN}c\n")
        os.utime(self.path, ns=(1, 1))
        d = users.reload()
        self.assertEqual(len(self.thread.calls), 1)
        self.thread.runAll()
        self.successResultOf(d)
        self.assertEqual(users.names(), ["carol"])

    def test_unreadableKeepsUsers(self) -> None:
        """
        A re-read that fails is logged; the users read before stay, and the
        same file is not retried at every look-up.
        """
        self.write("alice:{PLAIN}a\n", 1)
        users = PasswdFile(self.path, lambda f, *args: fail(PermissionError("no")))
        users.names()
        self.write("bob:{PLAIN}b\n", 2)
        self.assertEqual(users.names(), ["alice"])
        self.assertEqual(len(self.flushLoggedErrors(PermissionError)), 1)
        self.assertEqual(users.names(), ["alice"])
        self.assertEqual(len(self.flushLoggedErrors(PermissionError)), 0)

    def test_apopIndexedOncePerChange(self) -> None:
        """
        Whether any user allows APOP is answered from the reading's index:
        asking many times looks up no user, and a change is indexed once.
        """
        self.write("".join(f"user{n}:{{BLF-CRYPT}}$2y$10$x\n" for n in range(500)) + "last:{PLAIN}p\n", 1)
        users = PasswdFile(self.path, self.thread)
        looked: list[str] = []
        original = users.lookup
        users.lookup = lambda name: looked.append(name) or original(name)  # type: ignore[method-assign]
        checker = PasswordChecker(users, ["example.test"], runSynchronously)
        self.assertTrue(all(checker.anyAllowsHashedCredentials() for _ in range(50)))
        self.assertEqual(looked, [])
        self.write("only:{BLF-CRYPT}$2y$10$x\n", 2)
        for _ in range(50):
            checker.anyAllowsHashedCredentials()
        self.assertEqual(len(self.thread.calls), 1)
        self.thread.runAll()
        self.assertFalse(checker.anyAllowsHashedCredentials())

    def test_inMemoryIndexed(self) -> None:
        """
        L{InMemoryUsers} keeps the same index, updated at each change.
        """
        users = InMemoryUsers({"alice": "a"}, scheme="BLF-CRYPT")
        checker = PasswordChecker(users, [], runSynchronously)
        self.assertFalse(checker.anyAllowsHashedCredentials())
        users._scheme = "PLAIN"
        users.setPassword("bob", "b")
        self.assertTrue(checker.anyAllowsHashedCredentials())
        users.remove("bob")
        self.assertFalse(checker.anyAllowsHashedCredentials())
