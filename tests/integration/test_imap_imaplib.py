# -*- test-case-name: tests.integration.test_imap_imaplib -*-
"""
The IMAP server over real loopback sockets (port 0), with Python's
C{imaplib} as an independent client: login (plain on loopback, STARTTLS,
implicit TLS), select, fetch, store, search, append, copy, move,
expunge, and IDLE woken by mail sent through our SMTP server; the same
mailbox through POP3 (C{poplib}) and IMAP at once.
"""
from __future__ import annotations

import imaplib
import poplib
import select
import smtplib
import time
from typing import Any

from twisted.internet.defer import inlineCallbacks
from twisted.internet.threads import deferToThread
from twisted.trial.unittest import TestCase

from twisted_mail_suite.testing import startHarness

# The harness makes random passwords unless given; these tests log in with known ones.
KNOWN_USERS = {"alice": "secret", "bob": "hunter2"}

ONE = (b"From: Bob <bob@example.test>\r\nTo: alice@example.test\r\nSubject: first\r\n"
       b"Date: Tue, 2 Jan 2024 10:00:00 +0000\r\nMessage-ID: <one@example.test>\r\n\r\nHello Alice.\r\n")
TWO = (b"From: Dave <dave@example.test>\r\nTo: alice@example.test\r\nSubject: =?utf-8?q?caf=C3=A9?=\r\n"
       b"Content-Type: multipart/mixed; boundary=b1\r\n\r\n--b1\r\nContent-Type: text/plain\r\n\r\n"
       b"part one\r\n--b1\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n"
       b"\r\nAAEC\r\n--b1--\r\n")


class ImaplibTests(TestCase):
    """
    Python's imaplib against the server.
    """

    timeout = 60

    @inlineCallbacks
    def setUp(self) -> Any:
        self.harness = yield startHarness(self, tls=True, users=KNOWN_USERS, overrides={"auth.failure_delay": 0.01})
        for message in (ONE, TWO):
            delivery = self.harness.store.beginDelivery(["alice"])
            delivery.write(message)
            yield delivery.commit()

    def connect(self) -> imaplib.IMAP4:
        client = imaplib.IMAP4("127.0.0.1", self.harness.imapPort, timeout=10)
        self.addCleanup(self._close, client)
        return client

    @staticmethod
    def _close(client: imaplib.IMAP4) -> None:
        try:
            client.shutdown()
        except OSError:
            pass

    def test_readAndChange(self) -> Any:
        """
        Login, select, fetch (whole, peek, parts, envelope, structure),
        store, search (flags and headers), expunge.
        """
        def session() -> None:
            client = self.connect()
            self.assertIn("IMAP4REV2", client.capabilities)
            self.assertEqual(client.login("alice", "secret")[0], "OK")
            typ, data = client.select("INBOX")
            self.assertEqual((typ, data), ("OK", [b"2"]))
            typ, data = client.fetch("1", "(RFC822.SIZE BODY.PEEK[])")
            self.assertEqual(data[0][0], b"1 (RFC822.SIZE %d BODY[] {%d}" % (len(ONE), len(ONE)))
            self.assertEqual(data[0][1], ONE)
            typ, data = client.fetch("2", "(BODY.PEEK[2] BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
            self.assertEqual(data[0][1], b"AAEC")
            self.assertEqual(data[1][1], b"Subject: =?utf-8?q?caf=C3=A9?=\r\n\r\n")
            typ, data = client.fetch("1:2", "(FLAGS ENVELOPE BODYSTRUCTURE)")
            self.assertIn(b'"first" (("Bob" NIL "bob" "example.test"))', data[0])
            self.assertIn(b'"MIXED"', data[1])
            typ, data = client.fetch("1", "RFC822")            # sets \Seen
            self.assertEqual(client.fetch("1", "FLAGS")[1], [b"1 (FLAGS (\\Seen \\Recent))"])
            self.assertEqual(client.search(None, "UNSEEN"), ("OK", [b"2"]))
            self.assertEqual(client.search(None, "FROM", "dave"), ("OK", [b"2"]))
            self.assertEqual(client.search("UTF-8", "SUBJECT", '"café"'.encode()), ("OK", [b"2"]))
            self.assertEqual(client.uid("SEARCH", None, "ALL"), ("OK", [b"1 2"]))
            typ, data = client.store("2", "+FLAGS", r"(\Flagged \Deleted)")
            self.assertEqual(data, [b"2 (FLAGS (\\Flagged \\Deleted \\Recent))"])
            self.assertEqual(client.expunge(), ("OK", [b"2"]))
            self.assertEqual(client.select("INBOX", readonly=True), ("OK", [b"1"]))
            client.logout()

        return deferToThread(session)

    def test_appendCopyMove(self) -> Any:
        """
        APPEND with and without flags and date, COPY and MOVE with their
        UIDPLUS codes, LIST with special use, CREATE, STATUS.
        """
        def session() -> None:
            client = self.connect()
            client.login("alice", "secret")
            typ, data = client.append("Drafts", r"(\Draft)", imaplib.Time2Internaldate(1_700_000_000), ONE)
            self.assertEqual(typ, "OK")
            self.assertRegex(data[0], rb"^\[APPENDUID \d+ 1\]")
            typ, data = client.append("INBOX", None, None, TWO)
            self.assertRegex(data[0], rb"^\[APPENDUID \d+ 3\]")
            typ, data = client.list()
            self.assertIn(b'(\\HasNoChildren \\Drafts) "." Drafts', data)
            self.assertEqual(client.create("Archive.2024")[0], "OK")
            client.select("INBOX")
            typ, data = client.copy("1:2", "Archive.2024")
            self.assertRegex(data[0], rb"^\[COPYUID \d+ 1:2 1:2\]")
            typ, data = client._simple_command("MOVE", "3", "Trash")
            self.assertEqual(typ, "OK")
            self.assertEqual(client.status("Trash", "(MESSAGES UIDNEXT)"),
                             ("OK", [b"Trash (MESSAGES 1 UIDNEXT 2)"]))
            self.assertEqual(client.select("INBOX"), ("OK", [b"2"]))
            client.select("Drafts")
            typ, data = client.fetch("1", "(FLAGS INTERNALDATE)")
            self.assertIn(b"\\Draft", data[0])
            self.assertIn(b'"14-Nov-2023 22:13:20 +0000"', data[0])
            client.logout()

        return deferToThread(session)

    def test_startTLS(self) -> Any:
        """
        STARTTLS with the server's certificate, then login.
        """
        def session() -> None:
            client = self.connect()
            self.assertIn("STARTTLS", client.capabilities)
            client.starttls(ssl_context=self.harness.sslContext())
            self.assertEqual(client.login("alice", "secret")[0], "OK")
            client.logout()

        return deferToThread(session)

    def test_implicitTLS(self) -> Any:
        def session() -> None:
            client = imaplib.IMAP4_SSL("127.0.0.1", self.harness.imapsPort,
                                       ssl_context=self.harness.sslContext(), timeout=10)
            self.addCleanup(self._close, client)
            self.assertEqual(client.login("alice", "secret")[0], "OK")
            self.assertEqual(client.select()[1], [b"2"])
            client.logout()

        return deferToThread(session)

    def test_wrongPassword(self) -> Any:
        def session() -> None:
            client = self.connect()
            with self.assertRaises(imaplib.IMAP4.error) as caught:
                client.login("alice", "nope")
            self.assertIn("AUTHENTICATIONFAILED", str(caught.exception))

        return deferToThread(session)

    def test_idleWokenBySMTP(self) -> Any:
        """
        A client in IDLE hears EXISTS within a second of the SMTP server's
        250 for a message to it.
        """
        def session() -> float:
            client = self.connect()
            client.login("alice", "secret")
            client.select("INBOX")
            client.send(b"i1 IDLE\r\n")
            self.assertEqual(client.readline(), b"+ idling\r\n")
            smtp = smtplib.SMTP("127.0.0.1", self.harness.smtpPort, timeout=10)
            smtp.sendmail("bob@example.test", ["alice@example.test"], ONE)
            accepted = time.monotonic()
            smtp.quit()
            sock = client.socket()
            ready, _, _ = select.select([sock], [], [], 5)
            self.assertTrue(ready, "no EXISTS within 5 s")
            line = client.readline()
            latency = time.monotonic() - accepted
            self.assertEqual(line, b"* 3 EXISTS\r\n")
            client.send(b"DONE\r\n")
            while not client.readline().startswith(b"i1 "):
                pass
            client.logout()
            return latency

        d = deferToThread(session)
        d.addCallback(lambda latency: self.assertLess(latency, 1.0))
        return d

    def test_pop3AndIMAPTogether(self) -> Any:
        """
        A POP3 session (holding its lock) and an IMAP session on the same
        mailbox at once: POP3's deletion is an EXPUNGE for IMAP, and
        IMAP's expunge is gone from the next POP3 session.
        """
        def session() -> None:
            pop = poplib.POP3("127.0.0.1", self.harness.pop3Port, timeout=10)
            pop.user("alice")
            pop.pass_("secret")
            imap = self.connect()
            imap.login("alice", "secret")
            self.assertEqual(imap.select("INBOX"), ("OK", [b"2"]))
            pop.dele(1)
            pop.quit()
            typ, data = imap.noop()
            self.assertEqual(imap.untagged_responses.get("EXPUNGE"), [b"1"])
            imap.store("1", "+FLAGS", r"\Deleted")
            imap.expunge()
            pop = poplib.POP3("127.0.0.1", self.harness.pop3Port, timeout=10)
            pop.user("alice")
            pop.pass_("secret")
            self.assertEqual(pop.stat(), (0, 0))
            pop.quit()
            imap.logout()

        return deferToThread(session)

