# -*- test-case-name: tests.imap.test_responses -*-
"""
Tests for L{twisted_mail_suite.imap.responses}.
"""
from __future__ import annotations

from twisted.trial.unittest import SynchronousTestCase

from twisted_mail_suite.imap.responses import Bad, No, astring, flagList, nstring, quoted, string


class ResponseTests(SynchronousTestCase):
    def test_strings(self) -> None:
        """
        Atoms stay atoms, others are quoted, and what cannot be quoted is
        a literal.
        """
        self.assertEqual(astring(b"INBOX"), b"INBOX")
        self.assertEqual(astring(b"My Folder"), b'"My Folder"')
        self.assertEqual(astring(b"NIL"), b'"NIL"')
        self.assertEqual(astring(b""), b'""')
        self.assertEqual(quoted(b'a"b\\c'), b'"a\\"b\\\\c"')
        self.assertEqual(string(b"a\r\nb"), b"{4}\r\na\r\nb")
        self.assertEqual(string(b"caf\xc3\xa9"), b"{5}\r\ncaf\xc3\xa9")
        self.assertEqual(string(b"caf\xc3\xa9", utf8=True), b'"caf\xc3\xa9"')
        self.assertEqual(nstring(None), b"NIL")
        self.assertEqual(flagList([b"\\Seen", b"x"]), b"(\\Seen x)")

    def test_errors(self) -> None:
        self.assertEqual(No(b"Nope", b"TRYCREATE").line(), b"NO [TRYCREATE] Nope")
        self.assertEqual(Bad(b"Huh").line(), b"BAD Huh")
