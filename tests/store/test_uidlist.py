# -*- test-case-name: tests.store.test_uidlist -*-
"""
Tests for L{twisted_mail_suite.store.maildir.uidlist}: the UID list of a
folder, its file and its UIDVALIDITY.
"""
from __future__ import annotations

import os

from twisted.trial.unittest import SynchronousTestCase

from twisted_mail_suite.store.maildir.uidlist import FILENAME, UIDList, locked, newValidity


class UIDListTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.folder = os.path.abspath(self.mktemp())
        os.makedirs(self.folder)

    def test_newFolder(self) -> None:
        """
        A folder without a list gets a fresh UIDVALIDITY and UIDs from 1.
        """
        uidlist = UIDList.load(self.folder)
        self.assertGreater(uidlist.uidValidity, 0)
        self.assertEqual(uidlist.assign(["a", "b", "a"]), [1, 2, 1])
        self.assertEqual(uidlist.nextUID, 3)

    def test_roundTrip(self) -> None:
        """
        What is saved is loaded back: validity, next UID and every UID.
        """
        uidlist = UIDList.load(self.folder)
        uidlist.assign(["x,S=1,W=2", "y"])
        uidlist.save()
        loaded = UIDList.load(self.folder)
        self.assertEqual((loaded.uidValidity, loaded.nextUID, loaded.uids),
                         (uidlist.uidValidity, 3, {"x,S=1,W=2": 1, "y": 2}))
        self.assertFalse(loaded.changedOnDisk())

    def test_dovecotLikeFormat(self) -> None:
        """
        The file is Dovecot's version 3 layout.
        """
        uidlist = UIDList(self.folder, 1700000000)
        uidlist.assign(["m1", "m2"])
        uidlist.save()
        with open(os.path.join(self.folder, FILENAME), "rb") as f:
            self.assertEqual(f.read(), b"3 V1700000000 N3\n1 :m1\n2 :m2\n")

    def test_keepOnly(self) -> None:
        """
        Forgetting gone names keeps the next UID: UIDs are never reused.
        """
        uidlist = UIDList(self.folder, 5)
        uidlist.assign(["a", "b"])
        uidlist.keepOnly(["b"])
        self.assertEqual(uidlist.assign(["a"]), [3])

    def test_atomicSave(self) -> None:
        """
        Saving fsyncs a temporary file and renames it: nothing else is
        left in the folder.
        """
        synced = []
        uidlist = UIDList(self.folder, 5)
        uidlist.assign(["a"])
        uidlist.save(fsync=synced.append)
        self.assertEqual(len(synced), 1)
        self.assertEqual(os.listdir(self.folder), [FILENAME])

    def test_corruptStartsAgain(self) -> None:
        """
        An unreadable list gives a new UIDVALIDITY (clients resynchronise).
        """
        for junk in [b"", b"garbage\n", b"3 V0 N1\n", b"3 V5 N2\n7 :x\n", b"3 V5\n"]:
            with open(os.path.join(self.folder, FILENAME), "wb") as f:
                f.write(junk)
            uidlist = UIDList.load(self.folder)
            self.assertNotEqual(uidlist.uidValidity, 5, junk)
            self.assertEqual(uidlist.uids, {})

    def test_changedOnDisk(self) -> None:
        """
        Another writer's save is noticed.
        """
        mine = UIDList.load(self.folder)
        mine.save()
        theirs = UIDList.load(self.folder)
        theirs.assign(["z"])
        theirs.save()
        self.assertTrue(mine.changedOnDisk())

    def test_validityIncreases(self) -> None:
        """
        Each new UIDVALIDITY is larger than the one before.
        """
        first = newValidity()
        self.assertGreater(newValidity(), first)

    def test_lock(self) -> None:
        """
        The lock can be taken and taken again.
        """
        with locked(self.folder):
            pass
        with locked(self.folder):
            pass
