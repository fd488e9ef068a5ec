# -*- test-case-name: tests.test_admin -*-
"""
C{mailsuite-admin} end to end in a temporary folder.
"""
from __future__ import annotations

import os
import sys
from io import StringIO

import yaml
from twisted.cred.credentials import UsernamePassword
from twisted.internet.testing import MemoryReactorClock
from twisted.trial.unittest import SynchronousTestCase

from twisted_mail_suite import admin
from twisted_mail_suite.config import loadConfig
from twisted_mail_suite.chat import avatars as chatAvatars
from twisted_mail_suite.identity.passwd import PasswdFile
from twisted_mail_suite.identity.realm import makePortal
from twisted_mail_suite.interfaces import IChatUser
from twisted_mail_suite.store.maildir import runSynchronously


class AdminTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.folder = os.path.abspath(self.mktemp())
        os.makedirs(self.folder)
        self.config = os.path.join(self.folder, "tap.yaml")
        with open(self.config, "w") as f:
            f.write("data_dir: ./data\nhostname: admin.test\n")
        self.stderr = StringIO()
        self.patch(sys, "stderr", self.stderr)

    def admin(self, *argv: str, stdin: str = "") -> tuple[int, str]:
        out = StringIO()
        code = admin.main(["--config", self.config, *argv], stdin=StringIO(stdin), stdout=out)
        return code, out.getvalue()

    def test_addedUserLogsIn(self) -> None:
        """
        A user added with C{users add --password-stdin} logs in through the
        portal; the file holds a hash, not the password.
        """
        self.assertEqual(self.admin("users", "add", "Alice", "--password-stdin", stdin="pa ss\n"),
                         (0, "added alice\n"))
        config = loadConfig(self.config)
        with open(config.usersFile) as f:
            content = f.read()
        self.assertTrue(content.startswith("alice:{BLF-CRYPT}$2y$"))
        self.assertNotIn("pa ss", content)
        portal = makePortal(config, PasswdFile(config.usersFile), MemoryReactorClock(), runSynchronously)
        chatAvatars.registerAvatars(portal.realm)
        d = portal.session("127.0.0.1", False).authenticate(UsernamePassword(b"alice", b"pa ss"), IChatUser)
        self.assertEqual(self.successResultOf(d)[1].name, "alice")

    def test_passwdListDelete(self) -> None:
        """
        passwd changes the hash, list shows the users, del removes one.
        """
        self.admin("users", "add", "alice", "--password-stdin", stdin="one\n")
        self.admin("users", "add", "bob", "--password-stdin", "--scheme", "SHA512-CRYPT", stdin="two\n")
        self.assertEqual(self.admin("users", "passwd", "alice", "--password-stdin", stdin="three\n")[0], 0)
        users = PasswdFile(loadConfig(self.config).usersFile)
        self.assertTrue(users.lookup("alice").verify("three"))
        self.assertEqual(users.lookup("bob").scheme, "SHA512-CRYPT")
        self.assertEqual(self.admin("users", "list"), (0, "alice\nbob\n"))
        self.assertEqual(self.admin("users", "del", "bob"), (0, "deleted bob\n"))
        self.assertEqual(self.admin("users", "list"), (0, "alice\n"))

    def test_refusals(self) -> None:
        """
        Adding twice, changing or deleting a missing user, a bad name and an
        empty password all fail with status 1.
        """
        self.admin("users", "add", "alice", "--password-stdin", stdin="one\n")
        self.assertEqual(self.admin("users", "add", "alice", "--password-stdin", stdin="x\n")[0], 1)
        self.assertEqual(self.admin("users", "passwd", "zed", "--password-stdin", stdin="x\n")[0], 1)
        self.assertEqual(self.admin("users", "del", "zed")[0], 1)
        self.assertEqual(self.admin("users", "add", "a/b", "--password-stdin", stdin="x\n")[0], 1)
        self.assertRaises(SystemExit, self.admin, "users", "add", "carol", "--password-stdin", stdin="\n")

    def test_passwordNotFromArgv(self) -> None:
        """
        There is no option that takes a password on the command line.
        """
        self.assertRaises(SystemExit, self.admin, "users", "add", "alice", "--password", "x")

    def test_checkConfig(self) -> None:
        """
        check-config prints the effective config as YAML.
        """
        code, out = self.admin("check-config")
        self.assertEqual(code, 0)
        effective = yaml.safe_load(out)
        self.assertEqual(effective["hostname"], "admin.test")
        self.assertEqual(effective["data_dir"], os.path.join(self.folder, "data"))
        self.assertEqual(effective["smtp"]["max_message_size"], 25 * 1024 * 1024)

    def test_checkConfigBad(self) -> None:
        """
        A bad config exits 2 naming the key.
        """
        with open(self.config, "w") as f:
            f.write("pop3: {idle_timeout: soon}\n")
        self.assertEqual(self.admin("check-config"), (2, ""))
        self.assertIn("tap.yaml: pop3.idle_timeout:", self.stderr.getvalue())


class AdminSafetyTests(SynchronousTestCase):
    """
    Issue 12, items 7 and 9: salted hashes, and no lost update when
    several admins write at once.
    """

    def setUp(self) -> None:
        self.folder = os.path.abspath(self.mktemp())
        os.makedirs(self.folder)
        self.config = os.path.join(self.folder, "tap.yaml")
        with open(self.config, "w") as f:
            f.write("data_dir: ./data\n")
        self.usersFile = loadConfig(self.config).usersFile
        self.patch(sys, "stderr", StringIO())

    def admin(self, *argv: str, stdin: str = "") -> int:
        return admin.main(["--config", self.config, *argv], stdin=StringIO(stdin), stdout=StringIO())

    def test_sha512CryptSalted(self) -> None:
        """
        C{users add --scheme SHA512-CRYPT} writes a salted hash (never
        C{$6$$}); two users with one password get different hashes.
        """
        import re

        self.assertEqual(self.admin("users", "add", "bob", "--password-stdin", "--scheme", "SHA512-CRYPT",
                                    stdin="two\n"), 0)
        self.assertEqual(self.admin("users", "add", "carol", "--password-stdin", "--scheme", "SHA512-CRYPT",
                                    stdin="two\n"), 0)
        with open(self.usersFile) as f:
            lines = f.read().splitlines()
        hashes = [line.split(":", 1)[1] for line in lines]
        for stored in hashes:
            self.assertRegex(stored, r"^\{SHA512-CRYPT\}\$6\$[./0-9A-Za-z]{16}\$")
            self.assertNotIn("$6$$", stored)
        self.assertNotEqual(hashes[0], hashes[1])
        self.assertTrue(PasswdFile(self.usersFile).lookup("bob").verify("two"))

    def test_defaultSchemeFromConfig(self) -> None:
        """
        Without C{--scheme}, new users get the config's C{auth.default_scheme}.
        """
        with open(self.config, "a") as f:
            f.write("auth: {default_scheme: ARGON2ID}\n")
        self.assertEqual(self.admin("users", "add", "dave", "--password-stdin", stdin="pw\n"), 0)
        self.assertEqual(PasswdFile(self.usersFile).lookup("dave").scheme, "ARGON2ID")

    def test_passwordOverCapRefused(self) -> None:
        """
        A password longer than C{auth.max_password_length} is refused: it
        could never log in.
        """
        self.assertEqual(self.admin("users", "add", "erin", "--password-stdin", stdin="x" * 1025 + "\n"), 1)
        self.assertEqual(PasswdFile(self.usersFile).names(), [])

    def test_parallelAddsKeepEveryone(self) -> None:
        """
        20 C{users add} at once (threads) keep all 20 users, and the file's
        0640 mode.
        """
        import threading

        self.admin("users", "add", "first", "--password-stdin", "--scheme", "SHA512-CRYPT", stdin="pw\n")
        os.chmod(self.usersFile, 0o640)
        start = threading.Barrier(20)
        codes: list[int] = []

        def add(n: int) -> None:
            start.wait()
            codes.append(self.admin("users", "add", f"user{n}", "--password-stdin", "--scheme", "SHA512-CRYPT",
                                    stdin="pw\n"))

        threads = [threading.Thread(target=add, args=(n,)) for n in range(20)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        self.assertEqual(codes, [0] * 20)
        self.assertEqual(PasswdFile(self.usersFile).names(), sorted(["first"] + [f"user{n}" for n in range(20)]))
        self.assertEqual(os.stat(self.usersFile).st_mode & 0o777, 0o640)
