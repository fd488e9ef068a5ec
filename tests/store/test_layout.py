# -*- test-case-name: tests.store.test_layout -*-
"""
Tests for L{twisted_mail_suite.store.maildir.layout}: what Maildir names say
and where a user's folders are.
"""
from __future__ import annotations

import os

from twisted.trial.unittest import SynchronousTestCase

from twisted_mail_suite.store.maildir.layout import (
    MaildirLayout, flagsOf, internalDateOf, messageName, orderKey, seenName, uidOf, umaskKeepsFileMode,
    wireSizeOfName,
)

NAME = "1700000000.M123456P42Q7.host,S=10,W=12"


class NameTests(SynchronousTestCase):
    """
    File names carry the UID, the flags and both sizes.
    """

    def test_uidAndFlags(self) -> None:
        """
        The UID is the name before C{:}; the flags follow C{:2,}.
        """
        self.assertEqual(uidOf(NAME + ":2,RS"), NAME)
        self.assertEqual(flagsOf(NAME + ":2,RS"), "RS")
        self.assertEqual(flagsOf(NAME), "")

    def test_seenName(self) -> None:
        """
        Filing as seen adds C{S} to the flags, sorted, without doubling it.
        """
        self.assertEqual(seenName(NAME, "R"), NAME + ":2,RS")
        self.assertEqual(seenName(NAME, "S"), NAME + ":2,S")

    def test_messageName(self) -> None:
        """
        A new message's name records its size on disk and in wire form.
        """
        self.assertEqual(messageName("u", 10, 12), "u,S=10,W=12")
        self.assertEqual(wireSizeOfName(messageName("u", 10, 12) + ":2,S"), 12)
        self.assertIsNone(wireSizeOfName("1700000000.M1P2Q3.other"))

    def test_orderAndDate(self) -> None:
        """
        Names sort by delivery time and counter; the time is the internal
        date, and a name without one has none.
        """
        early = "1700000000.M5P1Q9.h"
        later = "1700000000.M6P1Q1.h"
        self.assertLess(orderKey(early), orderKey(later))
        self.assertEqual(internalDateOf(NAME), 1700000000.123456)
        self.assertIsNone(internalDateOf("foreign-name"))


class LayoutTests(SynchronousTestCase):
    """
    L{MaildirLayout} keeps users inside the root and finds moved messages.
    """

    def setUp(self) -> None:
        self.root = os.path.abspath(self.mktemp())
        self.layout = MaildirLayout(self.root)

    def test_badNames(self) -> None:
        """
        Names that would leave the root are refused.
        """
        for name in ("", "..", ".", "a/b", "a\0b"):
            self.assertRaises(ValueError, self.layout.userPath, name)

    def test_ensureMaildir(self) -> None:
        """
        The three folders are made with mode 0700.
        """
        path = self.layout.ensureMaildir("alice")
        for sub in ("tmp", "new", "cur"):
            self.assertEqual(os.stat(os.path.join(path, sub)).st_mode & 0o777, 0o700)

    def test_messageFolders(self) -> None:
        """
        A user's C{tmp/} and C{new/}, ready to take a file name, the
        Maildir made on the first call; the same strings after.
        """
        tmp, new = self.layout.messageFolders("alice")
        self.assertEqual(tmp + "x", os.path.join(self.root, "alice", "tmp", "x"))
        self.assertEqual(new + "x", os.path.join(self.root, "alice", "new", "x"))
        self.assertTrue(os.path.isdir(tmp) and os.path.isdir(new))
        self.assertIs(self.layout.messageFolders("alice")[0], tmp)
        self.assertRaises(ValueError, self.layout.messageFolders, "../x")

    def test_findInCur(self) -> None:
        """
        A message renamed into C{cur/} with flags is found by its UID; an
        unknown UID is a C{KeyError}.
        """
        path = self.layout.ensureMaildir("alice")
        target = os.path.join(path, "cur", NAME + ":2,S")
        open(target, "wb").close()
        self.assertEqual(self.layout.find("alice", NAME), target)
        self.assertRaises(KeyError, self.layout.find, "alice", "nothing")

    def test_uniqueNames(self) -> None:
        """
        Unique names differ from one call to the next.
        """
        self.assertNotEqual(self.layout.newUnique(), self.layout.newUnique())

    def test_uniqueNamesThisProcess(self) -> None:
        """
        A unique name carries the process's ID, a forked child's its own.
        """
        self.assertIn(f"P{os.getpid()}Q", self.layout.newUnique())
        readEnd, writeEnd = os.pipe()
        child = os.fork()
        if child == 0:                                  # pragma: no cover (the child)
            os.write(writeEnd, self.layout.newUnique().encode())
            os._exit(0)
        os.close(writeEnd)
        name = os.read(readEnd, 1000).decode()
        os.close(readEnd)
        os.waitpid(child, 0)
        self.assertIn(f"P{child}Q", name)


class UmaskTests(SynchronousTestCase):
    """
    Whether new files need an C{fchmod} to be 0600: read from the
    process's status, never by changing the umask.
    """

    def status(self, text: str) -> str:
        path = self.mktemp()
        with open(path, "w") as f:
            f.write(text)
        return path

    def test_usualUmask(self) -> None:
        """
        A umask of 022 or 077 leaves the owner's bits: no C{fchmod} needed.
        """
        self.assertTrue(umaskKeepsFileMode(self.status("Name:\tx\nUmask:\t0022\nState:\tR\n")))
        self.assertTrue(umaskKeepsFileMode(self.status("Umask:\t0077\n")))

    def test_ownerBitsTaken(self) -> None:
        """
        A umask taking the owner's read or write bit needs an C{fchmod}.
        """
        self.assertFalse(umaskKeepsFileMode(self.status("Umask:\t0277\n")))
        self.assertFalse(umaskKeepsFileMode(self.status("Umask:\t0422\n")))

    def test_unknown(self) -> None:
        """
        No status file, or none saying the umask: always C{fchmod}.
        """
        self.assertFalse(umaskKeepsFileMode(self.mktemp()))
        self.assertFalse(umaskKeepsFileMode(self.status("Name:\tx\n")))
        self.assertFalse(umaskKeepsFileMode(self.status("Umask:\tzz\n")))

    def test_thisProcess(self) -> None:
        """
        This process's own status tells its umask, where Linux shows it.
        """
        if not os.path.exists("/proc/self/status"):
            self.skipTest("no /proc")
        previous = os.umask(0o022)
        try:
            self.assertTrue(umaskKeepsFileMode())
            os.umask(0o277)
            self.assertFalse(umaskKeepsFileMode())
        finally:
            os.umask(previous)
