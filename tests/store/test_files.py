# -*- test-case-name: tests.store.test_files -*-
"""
What the suite leaves on disk under C{data_dir}: private modes whatever
the umask (0600 files, 0700 folders), and a start that removes only the
C{tmp/} files old enough to be leftovers (the Maildir rule: 36 hours).
"""
from __future__ import annotations

import os
import stat
import time

from twisted.internet.testing import MemoryReactorClock
from twisted.trial.unittest import SynchronousTestCase

from twisted_mail_suite.identity.passwd import InMemoryUsers
from twisted_mail_suite.service import MailSuiteService
from twisted_mail_suite.store.maildir import MaildirDelivery, MaildirStore, runSynchronously
from twisted_mail_suite.store.maildir.store import TMP_MAX_AGE

from ..fakes import makeConfig

MESSAGE = b"From: a@b.test\r\nSubject: hi\r\n\r\nbody\r\n"


def modes(root: str) -> dict[str, str]:
    """
    Every file and folder under C{root} (and C{root}) -> its mode in octal.
    """
    found = {".": oct(stat.S_IMODE(os.stat(root).st_mode))}
    for folder, folders, files in os.walk(root):
        for name in folders + files:
            path = os.path.join(folder, name)
            found[os.path.relpath(path, root)] = oct(stat.S_IMODE(os.lstat(path).st_mode))
    return found


class ModeTests(SynchronousTestCase):
    """
    Under a umask of 022 (the usual one), nothing the suite writes is
    readable by anyone but its owner.
    """

    def setUp(self) -> None:
        previous = os.umask(0o022)
        self.addCleanup(os.umask, previous)
        self.dataDir = os.path.abspath(self.mktemp())
        config = makeConfig(self.dataDir)
        self.maildir = MaildirStore(config.mailDir, runBlocking=runSynchronously)
        self.suite = MailSuiteService(config, MemoryReactorClock(), users=InMemoryUsers({"alice": "x"}),
                                      store=self.maildir, runInThread=runSynchronously,
                                      fileLimit=lambda: (4096, 4096))
        self.suite.startService()
        self.addCleanup(self.suite.stopService)

    def deliver(self, users: list[str], data: bytes) -> None:
        delivery = self.suite.store.beginDelivery(users)
        delivery.write(data)
        self.successResultOf(delivery.commit())

    def test_everythingPrivate(self) -> None:
        """
        Small and big messages (the big one written through C{tmp/}),
        delivered to one or several users, with and without unnamed files,
        the Maildir folders, the store's root, the certificate files and
        C{data_dir} itself: files 0600, folders 0700.
        """
        big = MESSAGE * (2 * MaildirDelivery.SPILL // len(MESSAGE))
        self.deliver(["alice"], MESSAGE)
        self.deliver(["alice", "bob"], big)
        self.maildir.writer.anonymous = False       # named files in tmp/ for small messages too
        self.deliver(["carol"], MESSAGE)
        self.deliver(["carol", "dave"], big)
        found = modes(self.dataDir)
        wrong = {path: mode for path, mode in found.items()
                 if mode != ("0o700" if os.path.isdir(os.path.join(self.dataDir, path)) else "0o600")}
        self.assertEqual(wrong, {})
        self.assertIn(os.path.join("mail", "bob", "new"), found)
        self.assertIn(os.path.join("tls", "key.pem"), found)

    def test_laxFoldersTightenedAtStart(self) -> None:
        """
        A Maildir left readable by others (an older version made it under
        umask 022) is made private when the store starts.
        """
        user = os.path.join(self.maildir.root, "erin")
        for sub in ("tmp", "new", "cur"):
            os.makedirs(os.path.join(user, sub), mode=0o755)
        os.chmod(user, 0o755)
        self.maildir.startService()
        self.assertEqual({path: mode for path, mode in modes(user).items()},
                         {".": "0o700", "tmp": "0o700", "new": "0o700", "cur": "0o700"})


class StrictUmaskTests(SynchronousTestCase):
    """
    Under a umask that takes the owner's bits, message files are made
    0600 all the same (an C{fchmod}, which a usual umask spares).
    """

    def test_fchmodWhenNeeded(self) -> None:
        """
        Umask 0277: the file is chmodded to 0600; umask 022: no C{fchmod}
        is needed where the umask can be read, and the file is 0600.
        """
        previous = os.umask(0o277)
        self.addCleanup(os.umask, previous)
        store = MaildirStore(os.path.abspath(self.mktemp()), runBlocking=runSynchronously)
        delivery = store.beginDelivery(["alice"])
        delivery.write(MESSAGE)
        [uid] = self.successResultOf(delivery.commit())
        self.assertTrue(store.writer.chmod)
        self.assertEqual(stat.S_IMODE(os.stat(store.pathOf("alice", uid)).st_mode), 0o600)
        os.umask(0o022)
        usual = MaildirStore(os.path.abspath(self.mktemp()), runBlocking=runSynchronously)
        delivery = usual.beginDelivery(["alice"])
        delivery.write(MESSAGE)
        [uid] = self.successResultOf(delivery.commit())
        self.assertEqual(usual.writer.chmod, not usual.writer.anonymous or not os.path.exists("/proc/self/status"))
        self.assertEqual(stat.S_IMODE(os.stat(usual.pathOf("alice", uid)).st_mode), 0o600)


class TemporaryTests(SynchronousTestCase):
    """
    At start, C{tmp/} keeps what another delivery agent may still be
    writing and loses what a crash left long ago.
    """

    def test_onlyOldLeftoversRemoved(self) -> None:
        """
        A file in C{tmp/} younger than 36 hours survives the start; an
        older one is removed.
        """
        store = MaildirStore(os.path.abspath(self.mktemp()), runBlocking=runSynchronously)
        tmp = os.path.join(store.ensureMaildir("alice"), "tmp")
        inFlight, leftover = os.path.join(tmp, "in-flight"), os.path.join(tmp, "leftover")
        for path in (inFlight, leftover):
            with open(path, "wb") as f:
                f.write(b"partial")
        recent, old = time.time() - TMP_MAX_AGE + 600, time.time() - TMP_MAX_AGE - 600
        os.utime(inFlight, (recent, recent))
        os.utime(leftover, (old, old))
        store.startService()
        self.addCleanup(store.stopService)
        self.assertEqual(os.listdir(tmp), ["in-flight"])
