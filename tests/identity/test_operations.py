# -*- test-case-name: tests.identity.test_operations -*-
"""
The user operations shared by C{mailsuite-admin users} and the HTTP
admin API, on the users file and on users in memory: the same rules and
the same answers.
"""
from __future__ import annotations

import os

from twisted.trial.unittest import SynchronousTestCase

from twisted_mail_suite.config import AuthConfig
from twisted_mail_suite.identity import hashing
from twisted_mail_suite.identity.operations import (FileBackend, MemoryBackend, UserError, UserOperations,
                                                    backendFor)
from twisted_mail_suite.identity.passwd import InMemoryUsers, PasswdFile

CONFIG = AuthConfig(default_scheme="BLF-CRYPT", max_password_length=16)


class Contract:
    """
    What every backend's operations do; C{self.operations} and
    C{self.verify(name, password)} are set by the subclass.
    """

    def test_addListPasswdDelete(self) -> None:
        """
        A user is added (lower-cased), listed, given a new password and deleted.
        """
        self.assertEqual(self.operations.add("Carol", "first"), "carol")
        self.assertIn("carol", self.operations.names())
        self.assertTrue(self.verify("carol", "first"))
        self.operations.passwd("carol", "second", "SHA512-CRYPT")
        self.assertTrue(self.verify("carol", "second"))
        self.assertEqual(self.operations.delete("carol"), "carol")
        self.assertNotIn("carol", self.operations.names())

    def test_refusals(self) -> None:
        """
        Bad names, bad passwords, duplicates and missing users are
        refused with their kind, changing nothing.
        """
        self.operations.add("carol", "first")
        for call, kind in ((lambda: self.operations.add("a/b", "x"), "bad-name"),
                           (lambda: self.operations.add("dave", ""), "bad-password"),
                           (lambda: self.operations.add("dave", "x" * 17), "bad-password"),
                           (lambda: self.operations.add("carol", "x"), "exists"),
                           (lambda: self.operations.passwd("nobody", "x"), "missing"),
                           (lambda: self.operations.delete("nobody"), "missing")):
            self.assertEqual(self.assertRaises(UserError, call).kind, kind)
        self.assertNotIn("dave", self.operations.names())
        self.assertTrue(self.verify("carol", "first"))


class FileTests(Contract, SynchronousTestCase):
    def setUp(self) -> None:
        folder = os.path.abspath(self.mktemp())
        os.makedirs(folder)
        self.path = os.path.join(folder, "users.passwd")
        self.changes = 0
        self.operations = UserOperations(FileBackend(self.path), CONFIG, self.changed)

    def changed(self) -> None:
        self.changes += 1

    def verify(self, name: str, password: str) -> bool:
        entry = PasswdFile(self.path).lookup(name)
        return entry is not None and hashing.verifyPassword(entry.scheme, entry.hashed, password)

    def test_afterChange(self) -> None:
        """
        afterChange is called once per change (the server re-reads the file).
        """
        self.operations.add("carol", "x")
        self.operations.delete("carol")
        self.assertEqual(self.changes, 2)


class MemoryTests(Contract, SynchronousTestCase):
    def setUp(self) -> None:
        self.users = InMemoryUsers({"alice": "secret"})
        self.operations = UserOperations(MemoryBackend(self.users), CONFIG)

    def verify(self, name: str, password: str) -> bool:
        entry = self.users.lookup(name)
        return entry is not None and hashing.verifyPassword(entry.scheme, entry.hashed, password)


class BackendForTests(SynchronousTestCase):
    def test_backendFor(self) -> None:
        """
        A PasswdFile is changed through its file, users in memory directly,
        anything else not at all.
        """
        self.assertIsInstance(backendFor(PasswdFile("/nonexistent/users")), FileBackend)
        self.assertIsInstance(backendFor(InMemoryUsers()), MemoryBackend)
        self.assertIsNone(backendFor(object()))
