# -*- test-case-name: tests.integration.test_postgres_cluster -*-
"""
Two real C{twistd} suites (two nodes) on one private PostgreSQL database
(C{cluster.postgres}): a message sent by SMTP through node A is read by
POP3 (poplib) and IMAP (imaplib) through node B, and IMAP changes made
through B are seen by A's IMAP session, and with Redis new mail reaches
a session in IDLE on the other node at once; mbsync round-trips a mailbox
through B; node A killed with SIGKILL right after its
250s loses nothing, and its queued message is delivered once by B; mail
for another domain goes through the PostgreSQL queue to a smarthost once; the schema check at start.
"""
from __future__ import annotations

import imaplib
import os
import poplib
import socket
import shutil
import signal
import smtplib
import tempfile
import time
from typing import Any

from twisted.internet import reactor, threads
from twisted.internet.defer import inlineCallbacks
from twisted.trial.unittest import SkipTest, TestCase

from twisted_mail_suite.store.postgres import connect
from twisted_mail_suite.testing.configfile import prepareDirectory
from twisted_mail_suite.testing.process import SuiteProcess

from ..fakes import ROOT
from ..pgsupport import NO_POSTGRES, PostgresServerMixin
from ..cluster.support import startRedis
from ..relay.support import ScriptedFactory
from .test_imap_mbsync import MBSYNC, ONE, TWO, editLocally, maildirFiles, mbsyncConfig, runMbsync


def _retrieveAll(port: int, user: str, password: str) -> list[bytes]:
    client = poplib.POP3("127.0.0.1", port, timeout=10)
    try:
        client.user(user)
        client.pass_(password)
        count = len(client.list()[1])
        return [b"\r\n".join(client.retr(n)[1]) for n in range(1, count + 1)]
    finally:
        client.quit()


def _submit(child: SuiteProcess, subject: str, kill: bool = False) -> None:
    """
    Blocking: alice submits a message for dave@remote.test and bob
    through C{child}; with C{kill}, SIGKILL it right after the 250.
    """
    with smtplib.SMTP("127.0.0.1", child.ports["submission"], timeout=10) as client:
        client.login("alice", "secret")
        client.sendmail("alice@example.test", ["dave@remote.test", "bob@example.test"],
                        f"Subject: {subject}\r\n\r\nbody\r\n".encode())
        if kill:
            child.kill()


def _queueEmptied(url: str, seconds: float) -> bool:
    """
    Blocking (in a thread): wait up to C{seconds} for the outbound table to be empty.
    """
    deadline = time.monotonic() + seconds
    with connect(url, autocommit=True) as connection:
        while connection.execute("SELECT count(*) FROM outbound").fetchone()[0]:
            if time.monotonic() > deadline:
                return False
            time.sleep(0.05)
    return True


class TwoNodeTests(PostgresServerMixin, TestCase):
    if NO_POSTGRES:
        skip = NO_POSTGRES
    timeout = 120

    def node(self, url: str, name: str, redis: str | None = None, **sections: Any) -> SuiteProcess:
        work = tempfile.mkdtemp(prefix=f"ms-pg-{name}-")
        self.addCleanup(shutil.rmtree, work, True)
        config = prepareDirectory(work, {"alice": "secret", "bob": "secret"}, roles=("smtp", "submission", "pop3", "imap"),
                                  sections={"cluster": {"postgres": url, "node": name, "redis": redis},
                                            "relay": {"mode": "off"}, **sections})
        child = SuiteProcess(config, pythonPath=ROOT, name=name)
        self.addCleanup(child.kill)
        return child

    def smarthost(self, replies: dict) -> tuple[ScriptedFactory, dict]:
        """
        A scripted smarthost on the test's reactor, and the relay section sending to it.
        """
        smarthost = ScriptedFactory(replies)
        port = reactor.listenTCP(0, smarthost, interface="127.0.0.1")
        self.addCleanup(port.stopListening)
        return smarthost, {"mode": "smarthost", "smarthost": f"127.0.0.1:{port.getHost().port}",
                           "smarthost_tls": "none"}

    @inlineCallbacks
    def twoNodes(self, redis: str | None = None) -> Any:
        """
        Nodes A and B on a fresh database (and C{redis}), started.
        """
        url = self.freshDatabase()
        a, b = self.node(url, "a", redis), self.node(url, "b", redis)
        yield threads.deferToThread(a.start)
        yield threads.deferToThread(b.start)
        return a, b

    @inlineCallbacks
    def stopCleanly(self, child: SuiteProcess) -> Any:
        """
        SIGTERM: the node stops at once, the database closed after every
        service that uses it, nothing unhandled.
        """
        seconds, status = yield threads.deferToThread(child.terminate)
        self.assertIn(status, [0, -signal.SIGTERM])    # twistd re-raises the signal that stopped it
        self.assertLess(seconds, 10)
        self.assertIn(b"Server Shut Down.", child.output)
        self.assertNotIn(b"Unhandled error", child.output)

    @inlineCallbacks
    def test_sentThroughAReadThroughB(self) -> Any:
        a, b = yield self.twoNodes()

        def send() -> None:
            with smtplib.SMTP("127.0.0.1", a.ports["smtp"], timeout=10) as client:
                client.sendmail("carol@remote.test", ["alice@example.test", "bob@example.test"],
                                b"Subject: across nodes\r\n\r\nhello from A\r\n")

        yield threads.deferToThread(send)
        read = yield threads.deferToThread(_retrieveAll, b.ports["pop3"], "alice", "secret")
        self.assertEqual(len(read), 1)
        self.assertIn(b"Subject: across nodes", read[0])
        self.assertIn(b"hello from A", read[0])
        # B's POP3 deleted nothing without DELE; A sees bob's copy too
        bobs = yield threads.deferToThread(_retrieveAll, a.ports["pop3"], "bob", "secret")
        self.assertEqual(len(bobs), 1)
        yield self.stopCleanly(a)
        yield self.stopCleanly(b)

    @inlineCallbacks
    def test_sigkillAfter250LosesNothing(self) -> Any:
        """
        Twenty messages acknowledged by A, then A is killed (SIGKILL) at
        once: B serves all twenty.
        """
        a, b = yield self.twoNodes()

        def sendThenKill() -> None:
            client = smtplib.SMTP("127.0.0.1", a.ports["smtp"], timeout=10)
            for n in range(20):
                client.sendmail("carol@remote.test", ["alice@example.test"],
                                f"Subject: token-{n}\r\n\r\nbody {n}\r\n".encode())
            a.kill()                            # SIGKILL right after the last 250
            client.close()

        yield threads.deferToThread(sendThenKill)
        read = yield threads.deferToThread(_retrieveAll, b.ports["pop3"], "alice", "secret")
        subjects = sorted(line for text in read for line in text.split(b"\r\n") if line.startswith(b"Subject:"))
        self.assertEqual(subjects, sorted(f"Subject: token-{n}".encode() for n in range(20)))
        yield self.stopCleanly(b)

    @inlineCallbacks
    def test_outboundQueuedInPostgresAndRelayed(self) -> Any:
        """
        Mail for another domain, sent through node A (smarthost relay),
        goes through the PostgreSQL queue to the smarthost once.
        """
        smarthost, relay = self.smarthost({})
        url = self.freshDatabase()
        a = self.node(url, "a", relay=relay)
        yield threads.deferToThread(a.start)
        yield threads.deferToThread(_submit, a, "outward")
        messages = yield smarthost.whenMessages(1)
        self.assertIn(b"Subject: outward", messages[0])
        emptied = yield threads.deferToThread(_queueEmptied, url, 20.0)
        yield self.stopCleanly(a)
        self.assertTrue(emptied)
        self.assertEqual(len(smarthost.messages), 1)

    @inlineCallbacks
    def test_killedNodesQueueDeliveredOnceByTheOther(self) -> Any:
        """
        A acknowledges a message for a local and a remote recipient while
        the smarthost stalls, and is killed (SIGKILL): B serves the local
        copy and delivers the queued one, once.
        """
        smarthost, relay = self.smarthost({b"GREETING": "stall"})
        url = self.freshDatabase()
        a, b = self.node(url, "a", relay=relay), self.node(url, "b", relay=relay)
        yield threads.deferToThread(a.start)
        yield threads.deferToThread(_submit, a, "survivor", kill=True)   # SIGKILL right after the 250
        del smarthost.replies[b"GREETING"]
        yield threads.deferToThread(b.start)
        read = yield threads.deferToThread(_retrieveAll, b.ports["pop3"], "bob", "secret")
        self.assertEqual(len(read), 1)
        messages = yield smarthost.whenMessages(1)
        self.assertIn(b"Subject: survivor", messages[0])
        emptied = yield threads.deferToThread(_queueEmptied, url, 20.0)
        yield self.stopCleanly(b)
        self.assertTrue(emptied)
        self.assertEqual(len(smarthost.messages), 1)

    @inlineCallbacks
    def test_unmigratedDatabaseRefusedAtStart(self) -> Any:
        url = self.freshDatabase(migrated=False)
        child = self.node(url, "a")
        with self.assertRaises(RuntimeError) as raised:
            yield threads.deferToThread(child.start, 30.0)
        self.assertIn(b"mailsuite-admin db migrate", child.output)
        del raised

    @inlineCallbacks
    def test_imapAcrossNodes(self) -> Any:
        """
        Mail sent through A is read over IMAP through B (SELECT, FETCH,
        STORE, CREATE, COPY, APPEND, EXPUNGE); A's IMAP session sees B's
        flag change, expunge and new mail at its next NOOP.
        """
        a, b = yield self.twoNodes()
        yield threads.deferToThread(_send, a, ["first", "second"])
        yield threads.deferToThread(_imapAcrossNodes, self, a, b)
        yield self.stopCleanly(a)
        yield self.stopCleanly(b)

    @inlineCallbacks
    def test_mbsyncThroughB(self) -> Any:
        """
        mbsync (isync) copies alice's mail through B to a local Maildir,
        then pushes back a flag, a deletion, a new message and a new
        folder; A's IMAP session sees them, and a second run changes nothing.
        """
        if MBSYNC is None:
            raise SkipTest("mbsync (Debian package isync) is not installed")
        a, b = yield self.twoNodes()

        def send() -> None:
            with smtplib.SMTP("127.0.0.1", a.ports["smtp"], timeout=10) as client:
                for message in (ONE, TWO):
                    client.sendmail("bob@remote.test", ["alice@example.test"], message)

        yield threads.deferToThread(send)
        home = os.path.abspath(self.mktemp())
        local = os.path.join(home, "mail")
        os.makedirs(local)
        rc = mbsyncConfig(home, local, b.ports["imap"])
        yield runMbsync(self, home, rc)
        inbox = os.path.join(local, "INBOX")
        self.assertEqual(set(maildirFiles(inbox)), {"<one@example.test>", "<two@example.test>"})
        editLocally(inbox)
        for sub in ("cur", "new", "tmp"):
            os.makedirs(os.path.join(local, "Projects", sub))
        yield runMbsync(self, home, rc)
        seen = yield threads.deferToThread(_listThroughA, a)
        self.assertEqual(seen["INBOX"], {b"<one@example.test>": {b"\\Flagged", b"\\Seen"},
                                         b"<local@example.test>": set()})
        self.assertIn("Projects", seen["names"])
        yield runMbsync(self, home, rc)
        self.assertEqual(set(maildirFiles(inbox)), {"<one@example.test>", "<local@example.test>"})
        yield self.stopCleanly(a)
        yield self.stopCleanly(b)

    @inlineCallbacks
    def test_idleHearsOtherNodesMail(self) -> Any:
        """
        With Redis carrying C{NewMailEvent} between nodes, a session in
        IDLE on A hears of mail delivered through B at once (long before
        its 30 s look at the folder).
        """
        a, b = yield self.twoNodes(startRedis(self).url)
        heard = yield threads.deferToThread(_idleUntilExists, a, lambda: _send(b, ["pushed"]))
        self.assertEqual(heard, b"* 1 EXISTS")
        yield self.stopCleanly(a)
        yield self.stopCleanly(b)


def _idleUntilExists(a: SuiteProcess, deliver: Any) -> bytes:
    """
    Blocking: alice in IDLE on A's INBOX; C{deliver()}; the first EXISTS
    line heard (waiting 10 s at most).
    """
    with socket.create_connection(("127.0.0.1", a.ports["imap"]), timeout=10) as connection:
        lines = connection.makefile("rb")
        lines.readline()
        for command in (b"a1 LOGIN alice secret", b"a2 SELECT INBOX"):
            connection.sendall(command + b"\r\n")
            while not lines.readline().startswith(command[:3]):
                pass
        connection.sendall(b"a3 IDLE\r\n")
        if not lines.readline().startswith(b"+ "):
            raise AssertionError("IDLE refused")
        deliver()
        while True:
            line = lines.readline().rstrip(b"\r\n")
            if line.endswith(b" EXISTS"):
                connection.sendall(b"DONE\r\n")
                return line


def _listThroughA(a: SuiteProcess) -> dict[str, Any]:
    """
    Blocking: alice's folder names and her INBOX's Message-IDs with their flags, read over IMAP through A.
    """
    client = _imap(a)
    try:
        names = [line.rsplit(b" ", 1)[-1].strip(b'"').decode() for line in _ok(client.list())]
        _ok(client.select("INBOX"))
        found = {}
        for item in _ok(client.fetch("1:*", "(FLAGS BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)])")):
            if isinstance(item, tuple):
                flags = set(imaplib.ParseFlags(item[0])) - {b"\\Recent"}
                found[item[1].split(b":", 1)[1].strip()] = flags
        return {"names": names, "INBOX": found}
    finally:
        client.logout()


def _send(child: SuiteProcess, subjects: list[str]) -> None:
    with smtplib.SMTP("127.0.0.1", child.ports["smtp"], timeout=10) as client:
        for subject in subjects:
            client.sendmail("carol@remote.test", ["alice@example.test"],
                            f"Subject: {subject}\r\n\r\nhello from A\r\n".encode())


def _imap(child: SuiteProcess) -> imaplib.IMAP4:
    client = imaplib.IMAP4("127.0.0.1", child.ports["imap"], timeout=10)
    client.login("alice", "secret")
    return client


def _ok(result: tuple[str, list[Any]]) -> list[Any]:
    status, data = result
    assert status == "OK", result
    return data


def _untagged(client: imaplib.IMAP4, name: str) -> list[Any]:
    """
    The untagged C{name} responses the client has received (and forgets).
    """
    return client.response(name)[1]


def _imapAcrossNodes(test: TestCase, a: SuiteProcess, b: SuiteProcess) -> None:
    """
    Blocking: the IMAP conversation of L{TwoNodeTests.test_imapAcrossNodes}.
    """
    onA, onB = _imap(a), _imap(b)
    try:
        test.assertEqual(_ok(onA.select("INBOX")), [b"2"])
        test.assertEqual(_ok(onB.select("INBOX")), [b"2"])
        fetched = _ok(onB.fetch("1", "(BODY[] FLAGS)"))
        test.assertIn(b"Subject: first", fetched[0][1])
        test.assertIn(b"\\Seen", fetched[0][0] + fetched[1])        # reading the body set \Seen
        _ok(onB.store("2", "+FLAGS", "(\\Flagged)"))
        _ok(onA.noop())
        flags = b" ".join(line for line in _untagged(onA, "FETCH") if line)
        test.assertIn(b"\\Seen", flags)
        test.assertIn(b"\\Flagged", flags)
        _ok(onB.create("Archive"))
        test.assertIn(b"COPYUID", b" ".join(_ok(onB.copy("1:2", "Archive"))))
        test.assertIn(b"APPENDUID", _ok(onB.append("Archive", "(\\Seen)", None,
                                                   b"Subject: appended\r\n\r\nvia B\r\n"))[0])
        _ok(onB.store("1", "+FLAGS", "(\\Deleted)"))
        test.assertEqual(_ok(onB.expunge()), [b"1"])
        _send(b, ["third"])
        _ok(onA.noop())
        test.assertEqual(_untagged(onA, "EXPUNGE"), [b"1"])
        test.assertEqual(_untagged(onA, "EXISTS")[-1], b"2")
        subjects = _ok(onA.fetch("1:*", "(BODY.PEEK[HEADER.FIELDS (SUBJECT)])"))
        test.assertEqual([item[1].strip() for item in subjects if isinstance(item, tuple)],
                         [b"Subject: second", b"Subject: third"])
        test.assertEqual(_ok(onA.select("Archive")), [b"3"])
        archived = _ok(onA.fetch("1:*", "(FLAGS BODY.PEEK[HEADER.FIELDS (SUBJECT)])"))
        test.assertEqual([item[1].strip() for item in archived if isinstance(item, tuple)],
                         [b"Subject: first", b"Subject: second", b"Subject: appended"])
    finally:
        for client in (onA, onB):
            client.logout()
