# -*- test-case-name: tests.imap.test_messages -*-
"""
Tests for L{twisted_mail_suite.imap.messages}: STORE, COPY, MOVE,
EXPUNGE, UID EXPUNGE, CLOSE and UNSELECT.
"""
from __future__ import annotations

import os
import re

from twisted.trial.unittest import SynchronousTestCase

from .support import MESSAGE, Client, deliver, newSuite


class MessagesTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.suite = newSuite(self)
        for _ in range(3):
            deliver(self.suite, "alice", MESSAGE)
        self.client = Client(self.suite)
        self.client.login()
        self.client.select()

    def curNames(self, folder: str = "") -> list[str]:
        path = os.path.join(self.suite.config.mailDir, "alice", folder, "cur")
        return sorted(os.listdir(path))

    def test_storeForms(self) -> None:
        """
        +FLAGS adds, -FLAGS removes, FLAGS replaces; each answers FETCH FLAGS.
        """
        self.assertEqual(self.client.ok(b"STORE 1 +FLAGS (\\Seen \\Answered)"),
                         [b"* 1 FETCH (FLAGS (\\Answered \\Seen \\Recent))"])
        self.assertEqual(self.client.ok(b"STORE 1 -FLAGS \\Seen"), [b"* 1 FETCH (FLAGS (\\Answered \\Recent))"])
        self.assertEqual(self.client.ok(b"STORE 1:2 FLAGS (\\Draft $Forwarded)"),
                         [b"* 1 FETCH (FLAGS (\\Draft $Forwarded \\Recent))",
                          b"* 2 FETCH (FLAGS (\\Draft $Forwarded \\Recent))"])
        self.assertEqual(sum(name.endswith(":2,DP") for name in self.curNames()), 2, self.curNames())

    def test_storeSilent(self) -> None:
        self.assertEqual(self.client.ok(b"STORE 1 +FLAGS.SILENT (\\Seen)"), [])

    def test_uidStore(self) -> None:
        self.assertEqual(self.client.ok(b"UID STORE 2 +FLAGS (\\Flagged)"),
                         [b"* 2 FETCH (UID 2 FLAGS (\\Flagged \\Recent))"])

    def test_keywords(self) -> None:
        """
        Keywords are kept as Maildir letters and shown in FLAGS and
        PERMANENTFLAGS.
        """
        self.client.ok(b"STORE 1 +FLAGS (Work $Label2)")
        self.assertEqual(self.client.ok(b"FETCH 1 FLAGS"), [b"* 1 FETCH (FLAGS (Work $Label2 \\Recent))"])
        self.assertEqual(sum(name.endswith(":2,ab") for name in self.curNames()), 1, self.curNames())
        self.assertIn(b"Work", self.client.ok(b"SELECT INBOX")[2])
        self.client.ok(b"STORE 1 -FLAGS (work)")
        self.assertEqual(self.client.ok(b"FETCH 1 FLAGS"), [b"* 1 FETCH (FLAGS ($Label2))"])

    def test_badFlags(self) -> None:
        self.assertEqual(self.client.command(b"STORE 1 +FLAGS (\\Bogus)")[1], b"BAD Invalid flag")
        self.assertEqual(self.client.command(b"STORE 1 SETFLAGS (\\Seen)")[1], b"BAD Invalid STORE data item.")

    def test_tooManyKeywords(self) -> None:
        self.client.ok(b"STORE 1 +FLAGS (" + b" ".join(b"k%d" % i for i in range(26)) + b")")
        self.assertEqual(self.client.command(b"STORE 1 +FLAGS (one-more)")[1],
                         b"NO [LIMIT] Too many keywords in this mailbox.")

    def test_expunge(self) -> None:
        """
        EXPUNGE removes the \\Deleted messages, reported from the highest
        number down.
        """
        self.client.ok(b"STORE 1,3 +FLAGS.SILENT (\\Deleted)")
        self.assertEqual(self.client.ok(b"EXPUNGE"), [b"* 3 EXPUNGE", b"* 1 EXPUNGE"])
        self.assertEqual(len(self.curNames()), 1)
        self.assertEqual(self.client.ok(b"FETCH 1 UID"), [b"* 1 FETCH (UID 2)"])

    def test_uidExpunge(self) -> None:
        """
        UID EXPUNGE removes only the named \\Deleted messages.
        """
        self.client.ok(b"STORE 1:3 +FLAGS.SILENT (\\Deleted)")
        self.assertEqual(self.client.ok(b"UID EXPUNGE 2"), [b"* 2 EXPUNGE"])
        self.assertEqual(len(self.curNames()), 2)

    def test_close(self) -> None:
        """
        CLOSE expunges silently and leaves the selected state.
        """
        self.client.ok(b"STORE 2 +FLAGS.SILENT (\\Deleted)")
        self.assertEqual(self.client.ok(b"CLOSE"), [])
        self.assertEqual(len(self.curNames()), 2)
        self.assertEqual(self.client.command(b"FETCH 1 UID")[1], b"BAD Command not valid in this state.")

    def test_unselect(self) -> None:
        self.client.ok(b"STORE 2 +FLAGS.SILENT (\\Deleted)")
        self.client.ok(b"UNSELECT")
        self.assertEqual(len(self.curNames()), 3)

    def test_copy(self) -> None:
        """
        COPY answers COPYUID pairing source and new UIDs; flags go along.
        """
        self.client.ok(b"STORE 2 +FLAGS.SILENT (\\Flagged)")
        lines, status = self.client.command(b"COPY 2:3 Trash")
        self.assertRegex(status, rb"^OK \[COPYUID \d+ 2:3 1:2\] Copy completed\.$")
        self.assertEqual(len(self.curNames(".Trash")), 2)
        self.assertEqual(len(self.curNames()), 3)
        self.client.ok(b"SELECT Trash")
        self.assertEqual(self.client.ok(b"FETCH 1:* FLAGS"), [b"* 1 FETCH (FLAGS (\\Flagged))",
                                                            b"* 2 FETCH (FLAGS ())"])

    def test_copyMissing(self) -> None:
        self.assertEqual(self.client.command(b"COPY 1 Nope")[1], b"NO [TRYCREATE] Mailbox doesn't exist.")

    def test_move(self) -> None:
        """
        MOVE sends COPYUID untagged, then the EXPUNGEs, then OK.
        """
        lines, status = self.client.command(b"MOVE 1:2 Sent")
        self.assertEqual(status, b"OK Move completed.")
        self.assertRegex(lines[0], rb"^\* OK \[COPYUID \d+ 1:2 1:2\] Moved\.$")
        self.assertEqual(lines[1:], [b"* 2 EXPUNGE", b"* 1 EXPUNGE"])
        self.assertEqual(len(self.curNames()), 1)
        self.assertEqual(len(self.curNames(".Sent")), 2)

    def test_uidMoveNothing(self) -> None:
        self.assertEqual(self.client.command(b"UID MOVE 99 Sent")[1], b"OK No messages.")

    def test_readOnly(self) -> None:
        self.client.ok(b"EXAMINE INBOX")
        for text in [b"STORE 1 +FLAGS \\Seen", b"EXPUNGE", b"MOVE 1 Sent", b"UID EXPUNGE 1"]:
            self.assertEqual(self.client.command(text)[1], b"NO [READ-ONLY] Mailbox is read-only.", text)
        self.assertRegex(self.client.command(b"COPY 1 Sent")[1], rb"^OK \[COPYUID")

    def test_uidUnknown(self) -> None:
        self.assertEqual(self.client.command(b"UID FROB 1")[1], b"BAD Unknown UID command.")

    def test_noExpungeDuringFetch(self) -> None:
        """
        Expunges by another session are not reported during FETCH, STORE
        or SEARCH (numbers would shift under the client), but are at the
        next NOOP; UID FETCH may report them.
        """
        other = Client(self.suite)
        other.login()
        other.select()
        other.ok(b"STORE 1 +FLAGS.SILENT (\\Deleted)")
        other.ok(b"EXPUNGE")
        lines = self.client.ok(b"FETCH 1:3 UID")
        self.assertFalse(any(b"EXPUNGE" in line for line in lines))
        self.assertEqual(len([line for line in lines if re.match(rb"^\* \d FETCH", line)]), 3)
        self.assertIn(b"* 1 EXPUNGE", self.client.ok(b"NOOP"))
        self.assertEqual(self.client.ok(b"FETCH 1:* UID"), [b"* 1 FETCH (UID 2)", b"* 2 FETCH (UID 3)"])

    def test_uidFetchReportsExpunge(self) -> None:
        other = Client(self.suite)
        other.login()
        other.select()
        other.ok(b"STORE 3 +FLAGS.SILENT (\\Deleted)")
        other.ok(b"EXPUNGE")
        self.assertIn(b"* 3 EXPUNGE", self.client.ok(b"UID FETCH 1 UID"))
