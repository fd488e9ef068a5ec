# -*- test-case-name: tests.integration.test_imap_fetchers -*-
"""
Mail fetchers in IMAP mode over loopback, each skipped when not
installed: fetchmail (STARTTLS with certificate checking, then delete
after fetching) and getmail (Debian's C{getmail6}: read into a Maildir,
then delete).  Both see every message byte for byte and leave the
mailbox empty through IMAP's STORE \\Deleted and EXPUNGE.
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

FETCHMAIL = shutil.which("fetchmail")
GETMAIL = shutil.which("getmail")
MESSAGES = [b"From: bob@example.test\r\nSubject: one\r\n\r\nfirst\r\n",
            b"From: bob@example.test\r\nSubject: two\r\n\r\n.dot\r\nsecond\r\n"]


def contents(folder: str) -> list[bytes]:
    out = []
    for root, _, names in os.walk(folder):
        for name in names:
            with open(os.path.join(root, name), "rb") as f:
                out.append(f.read())
    return out


class FetcherTests(TestCase):
    timeout = 90

    @inlineCallbacks
    def setUp(self) -> Any:
        self.harness = yield startHarness(self, tls=True, users=KNOWN_USERS)
        for message in MESSAGES:
            delivery = self.harness.store.beginDelivery(["alice"])
            delivery.write(message)
            yield delivery.commit()
        self.home = os.path.abspath(self.mktemp())
        self.out = os.path.join(self.home, "out")
        for sub in ("tmp", "new", "cur"):
            os.makedirs(os.path.join(self.out, sub))
        self.env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": self.home, "LC_ALL": "C"}

    def runTool(self, executable: str, args: list[str]) -> Any:
        def check(result: tuple[bytes, bytes, int]) -> None:
            out, err, code = result
            self.assertEqual(code, 0, (out + err).decode("utf-8", "replace")[-3000:])

        return getProcessOutputAndValue(executable, args, env=self.env, path=self.home).addCallback(check)

    def assertFetchedAndDeleted(self) -> None:
        fetched = [data.replace(b"\r\n", b"\n") for data in contents(self.out)]
        for message in MESSAGES:
            body = message.replace(b"\r\n", b"\n").split(b"\n\n", 1)[1]
            self.assertEqual(sum(1 for data in fetched if data.endswith(body)), 1, fetched)
        self.assertEqual(self.harness.messagesFor("alice"), [])

    @inlineCallbacks
    def test_fetchmail(self) -> Any:
        if FETCHMAIL is None:
            raise SkipTest("fetchmail is not installed")
        rc = os.path.join(self.home, "fetchmailrc")
        with open(rc, "w") as f:
            f.write(
                "set no syslog\n"
                f"poll 127.0.0.1 with proto IMAP port {self.harness.imapPort}\n"
                '  user "alice" there with password "secret" is "alice" here\n'
                f"  sslproto tls1.2+ sslcertck sslcertfile {self.harness.tlsCertificatePath}\n"
                f"  sslcommonname {self.harness.config.hostname}\n"
                f"  mda \"/bin/sh -c 'cat > {self.out}/new/msg.$$'\"\n"
                "  nokeep no rewrite\n")
        os.chmod(rc, 0o600)
        self.env["FETCHMAILHOME"] = self.home
        yield self.runTool(FETCHMAIL, ["-f", rc, "--invisible", "-v"])
        self.assertFetchedAndDeleted()

    @inlineCallbacks
    def test_getmail(self) -> Any:
        if GETMAIL is None:
            raise SkipTest("getmail (getmail6) is not installed")
        rc = os.path.join(self.home, "getmailrc")
        with open(rc, "w") as f:
            f.write(
                "[retriever]\n"
                "type = SimpleIMAPRetriever\n"
                "server = 127.0.0.1\n"
                f"port = {self.harness.imapPort}\n"
                "username = alice\n"
                "password = secret\n"
                'mailboxes = ("INBOX",)\n'
                "\n[destination]\n"
                "type = MDA_external\n"
                "path = /bin/sh\n"
                f'arguments = ("-c", "cat > {self.out}/new/msg.$$")\n'
                "allow_root_commands = true\n"
                "\n[options]\n"
                "read_all = true\n"
                "delete = true\n")
        yield self.runTool(GETMAIL, [f"--getmaildir={self.home}", f"--rcfile={rc}"])
        self.assertFetchedAndDeleted()
