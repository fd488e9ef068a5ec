# -*- test-case-name: tests.identity.test_usersfile -*-
"""
Tests for rewriting the users file: the writers' lock, and owner and mode
kept across the atomic replace (issue 12, item 9).
"""
from __future__ import annotations

import os
import stat

from twisted.trial.unittest import SynchronousTestCase

from twisted_mail_suite.identity import usersfile
from twisted_mail_suite.identity.usersfile import addUser, deleteUser, lockedUsersFile, setUserPassword


class UsersFileTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.path = os.path.join(os.path.abspath(self.mktemp()), "users.passwd")
        os.makedirs(os.path.dirname(self.path))

    def write(self, text: str, mode: int = 0o600) -> None:
        with open(self.path, "w") as f:
            f.write(text)
        os.chmod(self.path, mode)

    def read(self) -> str:
        with open(self.path) as f:
            return f.read()

    def test_everyRewriteLocks(self) -> None:
        """
        Adding, setting and deleting each hold an exclusive C{flock} on the
        lock file next to the users file for the read-modify-write.
        """
        import fcntl

        locked: list[tuple[int, int]] = []
        original = fcntl.flock

        def flock(fd: int, operation: int) -> None:
            locked.append((os.fstat(fd).st_ino, operation))
            original(fd, operation)

        self.patch(fcntl, "flock", flock)
        addUser(self.path, "alice", "{PLAIN}a")
        setUserPassword(self.path, "alice", "{PLAIN}b")
        deleteUser(self.path, "alice")
        self.assertEqual(locked, [(os.stat(self.path + ".lock").st_ino, fcntl.LOCK_EX)] * 3)

    def test_addUserRefusesExisting(self) -> None:
        """
        L{addUser} decides whether the user exists under the lock, and
        leaves the file alone if so.
        """
        self.write("alice:{PLAIN}a\n")
        self.assertFalse(addUser(self.path, "Alice", "{PLAIN}other"))
        self.assertTrue(addUser(self.path, "bob", "{PLAIN}b"))
        self.assertEqual(self.read(), "alice:{PLAIN}a\nbob:{PLAIN}b\n")

    def test_passwdWithoutCreate(self) -> None:
        """
        C{create=False} never adds a user deleted meanwhile.
        """
        self.write("alice:{PLAIN}a\n")
        self.assertFalse(setUserPassword(self.path, "bob", "{PLAIN}b", create=False))
        self.assertEqual(self.read(), "alice:{PLAIN}a\n")

    def test_groupReadableModeKept(self) -> None:
        """
        A 0640 users file (shared with the server's group) stays 0640.
        """
        self.write("alice:{PLAIN}a\n", 0o640)
        addUser(self.path, "bob", "{PLAIN}b")
        self.assertEqual(stat.S_IMODE(os.stat(self.path).st_mode), 0o640)
        deleteUser(self.path, "alice")
        self.assertEqual(stat.S_IMODE(os.stat(self.path).st_mode), 0o640)

    def test_worldReadableTightened(self) -> None:
        """
        A users file others could read is rewritten 0600; a new one is 0600.
        """
        self.write("alice:{PLAIN}a\n", 0o644)
        addUser(self.path, "bob", "{PLAIN}b")
        self.assertEqual(stat.S_IMODE(os.stat(self.path).st_mode), 0o600)
        os.unlink(self.path)
        addUser(self.path, "carol", "{PLAIN}c")
        self.assertEqual(stat.S_IMODE(os.stat(self.path).st_mode), 0o600)

    def test_ownerKept(self) -> None:
        """
        The rewritten file gets the owner and group of the file it replaces.
        """
        self.write("alice:{PLAIN}a\n")
        real = os.stat(self.path)
        chowned: list[tuple[int, int]] = []
        fake = os.stat_result((real.st_mode, real.st_ino, real.st_dev, real.st_nlink, real.st_uid + 1,
                               real.st_gid + 1, real.st_size, 0, 0, 0))
        self.patch(os, "chown", lambda path, uid, gid: chowned.append((uid, gid)))
        usersfile._keepOwner(self.path, self.path, fake)
        self.assertEqual(chowned, [(real.st_uid + 1, real.st_gid + 1)])

    def test_ownerNotKeptRefused(self) -> None:
        """
        If the owner cannot be kept, nothing is replaced: the file stays as
        it was, and the error says why.
        """
        self.write("alice:{PLAIN}a\n")

        def keepOwner(tmp: str, path: str, existing: os.stat_result) -> None:
            raise PermissionError(f"cannot keep the owner of {path}")

        self.patch(usersfile, "_keepOwner", keepOwner)
        error = self.assertRaises(PermissionError, addUser, self.path, "bob", "{PLAIN}b")
        self.assertIn(self.path, str(error))
        self.assertEqual(self.read(), "alice:{PLAIN}a\n")
        self.assertEqual(sorted(os.listdir(os.path.dirname(self.path))), ["users.passwd", "users.passwd.lock"])

    def test_lockIsExclusive(self) -> None:
        """
        While one writer holds the lock, another cannot take it.
        """
        import fcntl

        with lockedUsersFile(self.path):
            fd = os.open(self.path + ".lock", os.O_RDWR)
            try:
                self.assertRaises(BlockingIOError, fcntl.flock, fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            finally:
                os.close(fd)
        fd = os.open(self.path + ".lock", os.O_RDWR)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        finally:
            os.close(fd)
