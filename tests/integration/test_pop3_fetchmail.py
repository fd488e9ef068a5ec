# -*- test-case-name: tests.integration.test_pop3_fetchmail -*-
"""
fetchmail (Debian's C{fetchmail} package, skipped when it is not
installed) fetching a mailbox end to end over loopback: STLS with
certificate checking, USER/PASS, RETR, DELE, UIDL-based "keep".
"""
from __future__ import annotations

import os
import shutil
from typing import Any

from twisted.internet.defer import inlineCallbacks
from twisted.internet.utils import getProcessOutputAndValue
from twisted.trial.unittest import SkipTest, TestCase

from twisted_mail_suite.testing import startHarness

from ..pop3.support import DOTTED, EIGHT_BIT, NO_NEWLINE

# The harness makes random passwords unless given; these tests log in with known ones.
KNOWN_USERS = {"alice": "secret", "bob": "hunter2"}

FETCHMAIL = shutil.which("fetchmail")
MESSAGES = [DOTTED, EIGHT_BIT, NO_NEWLINE]


class FetchmailTests(TestCase):
    """
    fetchmail as an independent POP3 client.
    """

    timeout = 60

    @inlineCallbacks
    def setUp(self) -> Any:
        if FETCHMAIL is None:
            raise SkipTest("fetchmail is not installed")
        self.harness = yield startHarness(self, tls=True, users=KNOWN_USERS)
        for message in MESSAGES:
            delivery = self.harness.store.beginDelivery(["alice"])
            delivery.write(message)
            yield delivery.commit()
        self.home = os.path.abspath(self.mktemp())
        self.out = os.path.join(self.home, "out")
        os.makedirs(self.out)

    def fetch(self, keep: bool) -> Any:
        rc = os.path.join(self.home, "fetchmailrc")
        with open(rc, "w") as f:
            f.write(
                "set no syslog\n"
                f"poll 127.0.0.1 with proto POP3 port {self.harness.pop3Port} uidl\n"
                '  user "alice" there with password "secret" is "alice" here\n'
                f"  sslproto tls1.2+ sslcertck sslcertfile {self.harness.tlsCertificatePath}\n"
                f"  sslcommonname {self.harness.config.hostname}\n"
                f"  mda \"/bin/sh -c 'cat > {self.out}/msg.$$'\"\n"
                f"  {'keep' if keep else 'nokeep'} no rewrite\n")
        os.chmod(rc, 0o600)
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": self.home,
               "FETCHMAILHOME": self.home, "LC_ALL": "C"}
        return getProcessOutputAndValue(FETCHMAIL, ["-f", rc, "--invisible", "-v"], env=env, path=self.home)

    def fetched(self) -> list[bytes]:
        result = []
        for name in sorted(os.listdir(self.out)):
            with open(os.path.join(self.out, name), "rb") as f:
                result.append(f.read())
        return result

    @inlineCallbacks
    def test_fetchAndDelete(self) -> Any:
        """
        fetchmail upgrades with STLS, reads every message byte for byte
        (LF line ends, as an MDA gets them; C{--invisible}: no header
        added) and deletes them.
        """
        out, err, code = yield self.fetch(keep=False)
        self.assertEqual(code, 0, err.decode("utf-8", "replace"))
        self.assertIn(b"STLS", out + err)
        # The unterminated last line arrives ended (the POP3 framing adds it).
        expected = sorted(m.replace(b"\r\n", b"\n") + (b"" if m.endswith(b"\r\n") else b"\n")
                          for m in MESSAGES)
        self.assertEqual(sorted(self.fetched()), expected)
        self.assertEqual(self.successResultOf(self.harness.store.listMessages("alice")), [])

    @inlineCallbacks
    def test_keepWithUIDL(self) -> Any:
        """
        With C{keep} and C{uidl}, a second run finds nothing new: the
        unique-ids are stable and nothing was deleted.
        """
        out, err, code = yield self.fetch(keep=True)
        self.assertEqual(code, 0, err.decode("utf-8", "replace"))
        self.assertEqual(len(self.fetched()), 3)
        out, err, code = yield self.fetch(keep=True)
        self.assertEqual(code, 1, (out + err).decode("utf-8", "replace"))   # 1: no new mail
        self.assertEqual(len(self.fetched()), 3)
        self.assertEqual(len(self.successResultOf(self.harness.store.listMessages("alice"))), 3)
