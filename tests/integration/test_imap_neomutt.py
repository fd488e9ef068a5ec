# -*- test-case-name: tests.integration.test_imap_neomutt -*-
"""
neomutt (skipped when it is not installed) driving the IMAP server
non-interactively over loopback: two messages delivered through our SMTP
server, one with a hostile subject (an encoded word, quotes, a backslash,
a literal-looking C{{3}}, a parenthesis and C{NIL}) and an 8-bit body;
then neomutt with a private muttrc (no user configuration,
STARTTLS verified against the harness's CA, AUTHENTICATE PLAIN, no
header or body cache) and pushed key sequences. The first run: find the hostile message
by a server-side body search, read it, pipe it to a file, copy it to a
new folder C{Saved} (COPY answered with TRYCREATE, CREATE, COPY again),
delete the other one by a server-side search, sync (STORE, EXPUNGE) and
quit; a second test saves the hostile message (found by a server-side
header search on its decoded subject) to a new folder, leaves the INBOX
(CLOSE expunges it) and reads it back from that folder.  Checked
afterwards through imaplib and poplib, not through neomutt.

neomutt needs a terminal: it runs on a pseudo-terminal of a fixed size
that the test opens (no C{script} or C{tmux} in between), so the process
the test starts, and kills if it outlives L{NEOMUTT_TIMEOUT}, is neomutt
itself.
"""
from __future__ import annotations

import imaplib
import os
import poplib
import shlex
import shutil
import smtplib
import termios
from typing import Any

from twisted.internet import reactor
from twisted.internet.defer import Deferred, inlineCallbacks
from twisted.internet.protocol import ProcessProtocol
from twisted.internet.threads import deferToThread
from twisted.python.failure import Failure
from twisted.trial.unittest import SkipTest, TestCase

from twisted_mail_suite.testing import startHarness

# The harness makes random passwords unless given; these tests log in with known ones.
KNOWN_USERS = {"alice": "secret", "bob": "hunter2"}

NEOMUTT = shutil.which("neomutt")
NEOMUTT_TIMEOUT = 30.0
PLAIN = (b"From: Bob <bob@example.test>\r\nTo: alice@example.test\r\nSubject: plain one\r\n"
         b"Message-ID: <one@example.test>\r\n\r\nfirst\r\n")
HOSTILE = ("From: Dave <dave@example.test>\r\nTo: alice@example.test\r\n"
           "Subject: =?utf-8?q?caf=C3=A9_=E2=9C=93?= \"q\\\"uoted\" {3} (paren NIL \\ hostile\r\n"
           "Message-ID: <two@example.test>\r\nContent-Type: text/plain; charset=utf-8\r\n"
           "Content-Transfer-Encoding: 8bit\r\n\r\nna\u00efve body\r\n.dot line\r\n").encode("utf-8")


class TerminalSession(ProcessProtocol):
    """
    A process on a pseudo-terminal: keeps the tail of what it drew (for
    failure messages) and fires L{ended} with its exit code.
    """

    def __init__(self) -> None:
        self.screen = b""
        self.ended: Deferred = Deferred()

    def childDataReceived(self, childFD: int, data: bytes) -> None:
        self.screen = (self.screen + data)[-4000:]

    def processEnded(self, reason: Failure) -> None:
        self.ended.callback(reason.value.exitCode)


class NeomuttTests(TestCase):
    """
    neomutt as an independent IMAP client.
    """

    timeout = 90

    @inlineCallbacks
    def setUp(self) -> Any:
        if NEOMUTT is None:
            raise SkipTest("neomutt is not installed")
        self.harness = yield startHarness(self, tls=True, users=KNOWN_USERS)
        yield deferToThread(self.deliver)
        self.home = os.path.abspath(self.mktemp())
        os.makedirs(self.home)

    def deliver(self) -> None:
        smtp = smtplib.SMTP("127.0.0.1", self.harness.smtpPort, timeout=10)
        try:
            for message in (PLAIN, HOSTILE):
                smtp.sendmail("bob@example.test", ["alice@example.test"], message)
        finally:
            smtp.quit()

    def muttrc(self) -> str:
        """
        A private configuration: the server's INBOX as spool, STARTTLS
        required and verified, nothing cached, no confirmation asked.
        """
        rc = os.path.join(self.home, "muttrc")
        with open(rc, "w") as f:
            f.write(
                f'set folder="imap://alice@127.0.0.1:{self.harness.imapPort}/"\n'
                'set spoolfile="+INBOX"\n'
                'set imap_pass="secret"\n'
                "set ssl_starttls=yes ssl_force_tls=yes\n"
                f'set ssl_ca_certificates_file="{self.harness.caFile}"\n'
                f'set certificate_file="{os.path.join(self.home, "certificates")}"\n'
                'set header_cache="" message_cachedir=""\n'
                'set record="" postponed="" mbox="+INBOX"\n'
                "set move=no copy=no confirmcreate=no confirmappend=no delete=yes quit=yes\n"
                "set wait_key=no pipe_decode=no beep=no sleep_time=0 timeout=0 mail_check=60\n")
        os.chmod(rc, 0o600)
        return rc

    def runNeomutt(self, keys: str) -> Deferred:
        """
        Run neomutt on a 100x30 pseudo-terminal with C{keys} pushed, kill
        it if it is still running after L{NEOMUTT_TIMEOUT} seconds.

        @return: a Deferred firing when it exited with code 0.
        """
        master, slave = os.openpty()
        termios.tcsetwinsize(slave, (30, 100))
        session = TerminalSession()
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": self.home,
               "TERM": "xterm", "LC_ALL": "C.UTF-8"}
        args = [NEOMUTT, "-n", "-F", self.muttrc(), "-e", f"push {shlex.quote(keys)}"]
        process = reactor.spawnProcess(session, NEOMUTT, args, env=env, path=self.home,
                                       usePTY=(master, slave, os.ttyname(slave)))
        killer = reactor.callLater(NEOMUTT_TIMEOUT, process.signalProcess, "KILL")

        def check(code: int | None) -> None:
            screen = session.screen.decode("utf-8", "replace")
            self.assertTrue(killer.active(), f"neomutt still running after {NEOMUTT_TIMEOUT} s:\n{screen}")
            killer.cancel()
            self.assertEqual(code, 0, screen)

        return session.ended.addCallback(check)

    def stored(self, messageID: bytes) -> bytes:
        """
        The message of alice's INBOX with C{messageID}, as stored.
        """
        (raw,) = [m.raw for m in self.harness.messagesFor("alice") if messageID in m.raw]
        return raw

    @inlineCallbacks
    def test_searchReadPipeCopyDelete(self) -> Any:
        """
        neomutt's search, read, pipe, copy to a new folder, delete and
        expunge all reach the store: C{Saved} holds the hostile message
        byte for byte and C{\\Seen}, the INBOX keeps only that message
        (read) through IMAP and POP3, and the piped copy equals the stored
        message.
        """
        piped = os.path.join(self.home, "piped")
        keys = ("<search>hostile<enter><display-message><exit>"
                "<tag-pattern>=b na\u00efve<enter>"
                f"<tag-prefix><pipe-message>cat > {piped}<enter>"
                "<tag-prefix><copy-message>=Saved<enter>"
                "<delete-pattern>=b first<enter>"
                "<sync-mailbox><quit>")
        stored = self.stored(b"<two@")
        yield self.runNeomutt(keys)

        with open(piped, "rb") as f:
            self.assertEqual(f.read(), stored)
        self.assertTrue(stored.endswith(HOSTILE.replace(b"\r\n", b"\n")))
        (inbox, saved), pop = yield deferToThread(self.readBack, "INBOX", "Saved")
        wire = stored.replace(b"\n", b"\r\n")
        self.assertEqual(saved, [(wire, True)])
        self.assertEqual(inbox, [(wire, True)])
        self.assertEqual(pop, [wire])

    @inlineCallbacks
    def test_saveThenOpenTheNewFolder(self) -> Any:
        """
        Found by a server-side header search on the decoded encoded word,
        the hostile message saved (COPY, then C{\\Deleted}) to a new
        folder is expunged from the INBOX when neomutt leaves it (CLOSE),
        and read back from the new folder in the same run, byte for byte.
        """
        piped = os.path.join(self.home, "piped")
        keys = ('<tag-pattern>=h "Subject: caf\u00e9"<enter>'
                "<tag-prefix><save-message>=Archive<enter>"
                "<change-folder>=Archive<enter>"
                f"<tag-pattern>~s hostile<enter><tag-prefix><pipe-message>cat > {piped}<enter>"
                "<quit>")
        hostile, plain = self.stored(b"<two@"), self.stored(b"<one@")
        yield self.runNeomutt(keys)

        with open(piped, "rb") as f:
            self.assertEqual(f.read(), hostile)
        (inbox, archive), pop = yield deferToThread(self.readBack, "INBOX", "Archive")
        self.assertEqual([message for message, _ in archive], [hostile.replace(b"\n", b"\r\n")])
        self.assertEqual(inbox, [(plain.replace(b"\n", b"\r\n"), False)])
        self.assertEqual(pop, [plain.replace(b"\n", b"\r\n")])

    def readBack(self, *names: str) -> tuple[list[list[tuple[bytes, bool]]], list[bytes]]:
        """
        (message, seen) of every message of each folder in C{names}
        through IMAP, and every message of the INBOX through POP3.
        """
        client = imaplib.IMAP4("127.0.0.1", self.harness.imapPort, timeout=10)
        try:
            client.login("alice", "secret")
            folders = []
            for name in names:
                typ, data = client.select(name, readonly=True)
                self.assertEqual(typ, "OK", data)
                typ, data = client.fetch("1:*", "(FLAGS BODY.PEEK[])") if int(data[0]) else ("OK", [])
                folders.append([(item[1], b"\\Seen" in item[0]) for item in data if isinstance(item, tuple)])
        finally:
            client.logout()
        pop = poplib.POP3("127.0.0.1", self.harness.pop3Port, timeout=10)
        try:
            pop.user("alice")
            pop.pass_("secret")
            count, _ = pop.stat()
            messages = [b"\r\n".join(pop.retr(i + 1)[1]) + b"\r\n" for i in range(count)]
            pop.quit()
        finally:
            pop.close()
        return folders, messages
