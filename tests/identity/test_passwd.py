# -*- test-case-name: tests.identity.test_passwd -*-
"""
Tests for the passwd-file users database and the one checker.
"""
from __future__ import annotations

import os

from twisted.cred.credentials import UsernamePassword
from twisted.cred.error import UnauthorizedLogin
from twisted.internet.defer import Deferred
from twisted.logger import LogLevel, globalLogPublisher
from twisted.mail.pop3 import APOPCredentials
from twisted.trial.unittest import SynchronousTestCase
from zope.interface.verify import verifyObject

from twisted_mail_suite.identity import hashing
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
