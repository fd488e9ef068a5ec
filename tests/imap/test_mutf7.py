# -*- test-case-name: tests.imap.test_mutf7 -*-
"""
Tests for L{twisted_mail_suite.imap.mutf7}.
"""
from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st
from twisted.trial.unittest import SynchronousTestCase

from twisted_mail_suite.imap import mutf7


class ModifiedUTF7Tests(SynchronousTestCase):
    def test_rfcExample(self) -> None:
        """
        RFC 3501 §5.1.3's example.
        """
        self.assertEqual(mutf7.encode("~peter/mail/台北/日本語"), b"~peter/mail/&U,BTFw-/&ZeVnLIqe-")
        self.assertEqual(mutf7.decode(b"~peter/mail/&U,BTFw-/&ZeVnLIqe-"), "~peter/mail/台北/日本語")

    def test_ampersand(self) -> None:
        self.assertEqual(mutf7.encode("a&b"), b"a&-b")
        self.assertEqual(mutf7.decode(b"a&-b"), "a&b")

    def test_invalid(self) -> None:
        for bad in [b"&abc", b"\xc3\xa9", b"&!!-"]:
            self.assertRaises(mutf7.MUTF7Error, mutf7.decode, bad)

    @given(st.text(max_size=30))
    def test_roundTrip(self, text: str) -> None:
        """
        Any text (without lone surrogates) survives encoding and decoding.
        """
        try:
            text.encode("utf-16-be")
        except UnicodeEncodeError:
            return
        self.assertEqual(mutf7.decode(mutf7.encode(text)), text)
