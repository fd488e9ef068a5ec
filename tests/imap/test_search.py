# -*- test-case-name: tests.imap.test_search -*-
"""
Tests for L{twisted_mail_suite.imap.search}: the search keys, ESEARCH and
SEARCHRES.
"""
from __future__ import annotations

from twisted.trial.unittest import SynchronousTestCase

from .support import Client, deliver, newSuite

ONE = (b"From: Bob <bob@example.test>\r\nTo: alice@example.test\r\nCc: carol@example.test\r\n"
       b"Subject: =?utf-8?q?Caf=C3=A9?= plans\r\nDate: Tue, 2 Jan 2024 10:00:00 +0000\r\n"
       b"X-Tag: blue\r\n\r\nLet us meet at noon.\r\n")
TWO = (b"From: Dave <dave@example.test>\r\nTo: alice@example.test\r\nSubject: Report\r\n"
       b"Date: Fri, 5 Jan 2024 10:00:00 +0000\r\nContent-Type: text/plain; charset=utf-8\r\n"
       b"Content-Transfer-Encoding: base64\r\n\r\n" + b"U2VjcmV0IG51bWJlcnM6IDQy\r\n")
THREE = b"From: eve@example.test\r\nSubject: big\r\n\r\n" + b"z" * 5000 + b"\r\n"


class SearchTests(SynchronousTestCase):
    def setUp(self) -> None:
        suite = newSuite(self)
        for data in (ONE, TWO, THREE):
            deliver(suite, "alice", data)
        self.client = Client(suite)
        self.client.login()
        self.client.select()
        self.client.ok(b"STORE 2 +FLAGS (\\Seen \\Flagged Work)")
        self.client.ok(b"STORE 3 +FLAGS (\\Deleted)")

    def search(self, criteria: bytes) -> list[int]:
        lines = [line for line in self.client.ok(b"SEARCH " + criteria) if not line.startswith(b"+ ")]
        self.assertEqual(len(lines), 1, lines)
        return [int(n) for n in lines[0].split()[2:]]

    def test_flags(self) -> None:
        self.assertEqual(self.search(b"SEEN"), [2])
        self.assertEqual(self.search(b"UNSEEN"), [1, 3])
        self.assertEqual(self.search(b"FLAGGED"), [2])
        self.assertEqual(self.search(b"DELETED"), [3])
        self.assertEqual(self.search(b"UNDELETED UNFLAGGED"), [1])
        self.assertEqual(self.search(b"ANSWERED"), [])
        self.assertEqual(self.search(b"KEYWORD Work"), [2])
        self.assertEqual(self.search(b"UNKEYWORD Work"), [1, 3])
        self.assertEqual(self.search(b"KEYWORD Never"), [])
        self.assertEqual(self.search(b"RECENT"), [1, 2, 3])
        self.assertEqual(self.search(b"NEW"), [1, 3])
        self.assertEqual(self.search(b"OLD"), [])

    def test_headers(self) -> None:
        """
        Header keys match decoded values, case-insensitively.
        """
        self.assertEqual(self.search(b"FROM bob"), [1])
        self.assertEqual(self.search(b"FROM BOB"), [1])
        self.assertEqual(self.search(b"TO alice"), [1, 2])
        self.assertEqual(self.search(b"CC carol"), [1])
        self.assertEqual(self.search(b'SUBJECT "caf\xc3\xa9"'), [1])
        self.assertEqual(self.search(b"CHARSET UTF-8 SUBJECT {5}\r\ncaf\xc3\xa9"), [1])
        self.assertEqual(self.search(b"HEADER X-Tag blue"), [1])
        self.assertEqual(self.search(b'HEADER X-Tag ""'), [1])
        self.assertEqual(self.search(b"BCC x"), [])

    def test_text(self) -> None:
        """
        BODY searches the body, decoded parts too; TEXT the header as well.
        """
        self.assertEqual(self.search(b"BODY noon"), [1])
        self.assertEqual(self.search(b"BODY numbers"), [2])
        self.assertEqual(self.search(b"BODY Report"), [])
        self.assertEqual(self.search(b"TEXT Report"), [2])

    def test_sizesAndDates(self) -> None:
        self.assertEqual(self.search(b"LARGER 1000"), [3])
        self.assertEqual(self.search(b"SMALLER 1000"), [1, 2])
        self.assertEqual(self.search(b"SENTBEFORE 3-Jan-2024"), [1])
        self.assertEqual(self.search(b"SENTON 5-Jan-2024"), [2])
        self.assertEqual(self.search(b"SENTSINCE 3-Jan-2024"), [2])
        self.assertEqual(self.search(b"SINCE 1-Jan-2000"), [1, 2, 3])
        self.assertEqual(self.search(b"BEFORE 1-Jan-2000"), [])

    def test_logic(self) -> None:
        self.assertEqual(self.search(b"OR SEEN DELETED"), [2, 3])
        self.assertEqual(self.search(b"NOT SEEN"), [1, 3])
        self.assertEqual(self.search(b"(OR FROM bob FROM dave) UNSEEN"), [1])
        self.assertEqual(self.search(b"2:3"), [2, 3])
        self.assertEqual(self.search(b"UID 1,3"), [1, 3])
        self.assertEqual(self.search(b"ALL"), [1, 2, 3])

    def test_uidSearch(self) -> None:
        self.client.ok(b"STORE 1 +FLAGS (\\Deleted)")
        self.client.ok(b"EXPUNGE")
        self.assertEqual(self.client.ok(b"UID SEARCH ALL"), [b"* SEARCH 2"])

    def test_errors(self) -> None:
        self.assertEqual(self.client.command(b"SEARCH BOGUS")[1], b"BAD Unknown search key.")
        self.assertEqual(self.client.command(b"SEARCH")[1], b"BAD Missing search key.")
        self.assertEqual(self.client.command(b"SEARCH SINCE yesterday")[1], b"BAD Invalid date")
        self.assertEqual(self.client.command(b"SEARCH CHARSET KOI8-R ALL")[1],
                         b"NO [BADCHARSET (UTF-8 US-ASCII)] Unsupported charset.")

    def test_esearch(self) -> None:
        """
        RETURN options give an ESEARCH response tagged with the command's tag.
        """
        self.assertEqual(self.client.send(b"x1 SEARCH RETURN (MIN MAX COUNT ALL) ALL"),
                         b'* ESEARCH (TAG "x1") MIN 1 MAX 3 ALL 1:3 COUNT 3\r\nx1 OK Search completed.\r\n')
        self.assertEqual(self.client.send(b"x2 UID SEARCH RETURN (COUNT) FROM nobody"),
                         b'* ESEARCH (TAG "x2") UID COUNT 0\r\nx2 OK Search completed.\r\n')

    def test_rev2Esearch(self) -> None:
        """
        An IMAP4rev2 client gets ESEARCH for a plain SEARCH.
        """
        self.client.ok(b"UNSELECT")
        self.client.ok(b"ENABLE IMAP4rev2")
        self.client.ok(b"SELECT INBOX")
        self.assertEqual(self.client.send(b"x1 SEARCH UNSEEN"),
                         b'* ESEARCH (TAG "x1") ALL 1,3\r\nx1 OK Search completed.\r\n')

    def test_saveResult(self) -> None:
        """
        SEARCH RETURN (SAVE) keeps the result for C{$}.
        """
        self.assertEqual(self.client.command(b"SEARCH RETURN (SAVE) FROM dave"),
                         ([], b"OK Search completed, result saved."))
        self.assertEqual(self.client.ok(b"FETCH $ UID"), [b"* 2 FETCH (UID 2)"])
        self.assertEqual(self.client.ok(b"SEARCH $"), [b"* SEARCH 2"])
