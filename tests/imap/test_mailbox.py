# -*- test-case-name: tests.imap.test_mailbox -*-
"""
Tests for L{twisted_mail_suite.imap.mailbox}: a session's view of a
folder and the updates it reports; several sessions, and POP3 and IMAP,
on the same Maildir.
"""
from __future__ import annotations

import os

from twisted.trial.unittest import SynchronousTestCase

from tests.pop3.support import Client as POP3Client

from .support import MESSAGE, Client, deliver, newSuite


def imapClient(suite: object) -> Client:
    client = Client(suite)
    client.login()
    client.select()
    return client


class ViewTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.suite = newSuite(self)
        for _ in range(2):
            deliver(self.suite, "alice", MESSAGE)

    def test_newMailAtNoop(self) -> None:
        """
        Mail delivered while selected is announced at the next command.
        """
        client = imapClient(self.suite)
        deliver(self.suite, "alice", MESSAGE)
        self.assertEqual(client.ok(b"NOOP"), [b"* 3 EXISTS", b"* 3 RECENT"])
        self.assertEqual(client.ok(b"NOOP"), [])

    def test_flagsFromOtherSession(self) -> None:
        first, second = imapClient(self.suite), imapClient(self.suite)
        second.ok(b"STORE 2 +FLAGS.SILENT (\\Answered)")
        self.assertEqual(first.ok(b"NOOP"), [b"* 2 FETCH (UID 2 FLAGS (\\Answered \\Recent))"])
        self.assertEqual(second.ok(b"NOOP"), [])

    def test_uidsStableAcrossSessions(self) -> None:
        """
        A later session, or one after a restart (a new suite on the same
        data), sees the same UIDs and UIDVALIDITY.
        """
        first = imapClient(self.suite)
        first.ok(b"STORE 1 +FLAGS.SILENT (\\Deleted)")
        first.ok(b"EXPUNGE")
        validity = [line for line in first.select() if b"UIDVALIDITY" in line]
        from tests.fakes import makeSuite
        again = makeSuite(self, data_dir=self.suite.config.data_dir)
        client = imapClient(again)
        self.assertEqual(client.ok(b"FETCH 1:* UID"), [b"* 1 FETCH (UID 2)"])
        self.assertEqual([line for line in client.select() if b"UIDVALIDITY" in line], validity)


class POP3AndIMAPTests(SynchronousTestCase):
    """
    POP3 and IMAP on the same mailbox agree, and POP3's lock does not
    keep IMAP out.
    """

    def setUp(self) -> None:
        self.suite = newSuite(self)
        for _ in range(3):
            deliver(self.suite, "alice", MESSAGE)

    def test_bothAtOnce(self) -> None:
        pop = POP3Client(self.suite)
        self.assertTrue(pop.login().endswith(b"+OK Logged in: 3 messages (%d octets).\r\n" % (3 * len(MESSAGE))))
        imap = imapClient(self.suite)
        self.assertEqual(imap.ok(b"SEARCH ALL"), [b"* SEARCH 1 2 3"])

    def test_imapExpungeGoneFromPOP3(self) -> None:
        """
        A message expunged through IMAP is not in the next POP3 session.
        """
        imap = imapClient(self.suite)
        imap.ok(b"STORE 2 +FLAGS.SILENT (\\Deleted)")
        imap.ok(b"EXPUNGE")
        pop = POP3Client(self.suite)
        pop.login()
        self.assertEqual(pop.send(b"STAT"), b"+OK 2 %d\r\n" % (2 * len(MESSAGE)))

    def test_pop3DeleteExpungedInIMAP(self) -> None:
        """
        Messages POP3 deletes are expunged in an IMAP session.
        """
        imap = imapClient(self.suite)
        pop = POP3Client(self.suite)
        pop.login()
        pop.send(b"DELE 1")
        pop.send(b"QUIT")
        self.assertIn(b"* 1 EXPUNGE", imap.ok(b"NOOP"))
        self.assertEqual(imap.ok(b"FETCH 1:* UID"), [b"* 1 FETCH (UID 2)", b"* 2 FETCH (UID 3)"])

    def test_pop3RetrieveSeenInIMAP(self) -> None:
        """
        A message read through POP3 is \\Seen through IMAP.
        """
        imap = imapClient(self.suite)
        pop = POP3Client(self.suite)
        pop.login()
        pop.send(b"RETR 3")
        pop.send(b"QUIT")
        self.assertIn(b"* 3 FETCH (UID 3 FLAGS (\\Seen \\Recent))", imap.ok(b"NOOP"))

    def test_imapSeenKeptByPOP3(self) -> None:
        """
        IMAP's flags survive POP3 marking the message read.
        """
        imap = imapClient(self.suite)
        imap.ok(b"STORE 1 +FLAGS.SILENT (\\Flagged)")
        pop = POP3Client(self.suite)
        pop.login()
        pop.send(b"RETR 1")
        pop.send(b"QUIT")
        self.assertIn(b"* 1 FETCH (UID 1 FLAGS (\\Flagged \\Seen \\Recent))", imap.ok(b"NOOP"))
        names = sorted(os.listdir(os.path.join(self.suite.config.mailDir, "alice", "cur")))
        self.assertEqual(sum(name.endswith(":2,FS") for name in names), 1, names)
