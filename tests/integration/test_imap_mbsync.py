# -*- test-case-name: tests.integration.test_imap_mbsync -*-
"""
mbsync (Debian's C{isync}; skipped when it is not installed) round-tripping
a mailbox over loopback: the server's folders, messages and flags are
copied to a local Maildir; then messages added, flagged and deleted
locally are synchronised back (APPEND, STORE, EXPUNGE), and a second run
changes nothing.  STARTTLS with the server's certificate, LOGIN.
"""
from __future__ import annotations

import os
import shutil
from typing import Any

from twisted.internet.defer import inlineCallbacks
from twisted.internet.utils import getProcessOutputAndValue
from twisted.trial.unittest import SkipTest, TestCase

from twisted_mail_suite.testing import startHarness

# The harness makes random passwords unless given; these tests log in with known ones.
KNOWN_USERS = {"alice": "secret", "bob": "hunter2"}

MBSYNC = shutil.which("mbsync")
ONE = b"From: bob@example.test\r\nSubject: one\r\nMessage-ID: <one@example.test>\r\n\r\nfirst\r\n"
TWO = b"From: bob@example.test\r\nSubject: two\r\nMessage-ID: <two@example.test>\r\n\r\nsecond\r\n"
LOCAL = b"From: alice@example.test\r\nSubject: local\r\nMessage-ID: <local@example.test>\r\n\r\nfrom home\r\n"


def maildirFiles(path: str) -> dict[str, str]:
    """
    Message-ID -> info flags of every message of the Maildir at C{path}.
    """
    found = {}
    for sub in ("new", "cur"):
        folder = os.path.join(path, sub)
        for name in os.listdir(folder) if os.path.isdir(folder) else []:
            with open(os.path.join(folder, name), "rb") as f:
                data = f.read()
            messageID = next((line.split(b":", 1)[1].strip().decode() for line in data.splitlines()
                              if line.lower().startswith(b"message-id:")), name)
            found[messageID] = name.split(":2,", 1)[1] if ":2," in name else ""
    return found


def mbsyncConfig(home: str, local: str, port: int, certificate: str | None = None) -> str:
    """
    An mbsyncrc in C{home} syncing every folder of alice (password
    C{secret}) at C{port} both ways with the Maildirs under C{local}
    (STARTTLS trusting C{certificate}, or plain text without one).

    @return: its path.
    """
    rc = os.path.join(home, "mbsyncrc")
    tls = f"SSLType STARTTLS\nCertificateFile {certificate}\n" if certificate else "SSLType None\n"
    with open(rc, "w") as f:
        f.write(
            "IMAPAccount remote\n"
            "Host localhost\n"
            f"Port {port}\n"
            "User alice\n"
            "Pass secret\n"
            + tls +
            "\n"
            "IMAPStore remote\n"
            "Account remote\n"
            "\n"
            "MaildirStore local\n"
            f"Path {local}/\n"
            f"Inbox {local}/INBOX\n"
            "SubFolders Verbatim\n"
            "\n"
            "Channel both\n"
            "Far :remote:\n"
            "Near :local:\n"
            "Patterns *\n"
            "Create Both\n"
            "Expunge Both\n"
            "SyncState *\n")
    return rc


def runMbsync(testCase: TestCase, home: str, rc: str) -> Any:
    """
    Run mbsync with C{rc}; a Deferred of its output, failing C{testCase}
    unless it exits 0.
    """
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": home, "LC_ALL": "C"}

    def check(result: tuple[bytes, bytes, int]) -> bytes:
        out, err, code = result
        testCase.assertEqual(code, 0, (out + err).decode("utf-8", "replace")[-3000:])
        return out + err

    d = getProcessOutputAndValue(MBSYNC, ["-c", rc, "-a", "-V"], env=env, path=home)
    return d.addCallback(check)


def editLocally(inbox: str) -> None:
    """
    In the local Maildir C{inbox}: message one read and flagged, two
    deleted, a new local message.
    """
    for sub in ("cur", "new"):
        for name in os.listdir(os.path.join(inbox, sub)):
            with open(os.path.join(inbox, sub, name), "rb") as f:
                data = f.read()
            base = name.split(":2,", 1)[0]
            if b"<one@" in data:                     # read and flagged locally
                os.rename(os.path.join(inbox, sub, name), os.path.join(inbox, "cur", base + ":2,FS"))
            elif b"<two@" in data:                   # deleted locally
                os.rename(os.path.join(inbox, sub, name), os.path.join(inbox, "cur", base + ":2,T"))
    with open(os.path.join(inbox, "new", "1700000000.local.host"), "wb") as f:
        f.write(LOCAL.replace(b"\r\n", b"\n"))


class MbsyncTests(TestCase):
    """
    mbsync as an independent IMAP client.
    """

    timeout = 120

    @inlineCallbacks
    def setUp(self) -> Any:
        if MBSYNC is None:
            raise SkipTest("mbsync (Debian package isync) is not installed")
        self.harness = yield startHarness(self, tls=True, users=KNOWN_USERS)
        for message in (ONE, TWO):
            delivery = self.harness.store.beginDelivery(["alice"])
            delivery.write(message)
            yield delivery.commit()
        self.home = os.path.abspath(self.mktemp())
        self.local = os.path.join(self.home, "mail")
        os.makedirs(self.local)
        self.server = os.path.join(self.harness.config.mailDir, "alice")

    def sync(self) -> Any:
        rc = mbsyncConfig(self.home, self.local, self.harness.imapPort, self.harness.tlsCertificatePath)
        return runMbsync(self, self.home, rc)

    @inlineCallbacks
    def test_roundTrip(self) -> Any:
        yield self.sync()
        local = maildirFiles(os.path.join(self.local, "INBOX"))
        self.assertEqual(set(local), {"<one@example.test>", "<two@example.test>"})
        self.assertTrue(os.path.isdir(os.path.join(self.local, "Sent", "cur")))
        self.assertTrue(os.path.isdir(os.path.join(self.local, "Trash", "cur")))

        inbox = os.path.join(self.local, "INBOX")
        editLocally(inbox)
        os.makedirs(os.path.join(self.local, "Projects", "cur"))
        os.makedirs(os.path.join(self.local, "Projects", "new"))
        os.makedirs(os.path.join(self.local, "Projects", "tmp"))

        yield self.sync()
        server = maildirFiles(self.server)
        self.assertEqual(server, {"<one@example.test>": "FS", "<local@example.test>": ""})
        self.assertTrue(os.path.isdir(os.path.join(self.server, ".Projects", "cur")))
        self.assertEqual(set(maildirFiles(inbox)), {"<one@example.test>", "<local@example.test>"})

        delivery = self.harness.store.beginDelivery(["alice"])
        delivery.write(TWO.replace(b"<two@", b"<three@"))
        yield delivery.commit()
        yield self.sync()
        self.assertEqual(set(maildirFiles(inbox)),
                         {"<one@example.test>", "<local@example.test>", "<three@example.test>"})
        yield self.sync()
        self.assertEqual(len(maildirFiles(self.server)), 3)
