# -*- test-case-name: tests.chat.test_lines -*-
"""
Tests for L{twisted_mail_suite.chat.lines}: inbound validation, outbound format.
"""
from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st
from twisted.trial.unittest import SynchronousTestCase

from twisted_mail_suite.chat import lines


class DecodeTests(SynchronousTestCase):
    """
    L{lines.decodeLine} accepts UTF-8 text only.
    """

    def test_utf8(self) -> None:
        """
        UTF-8 text is decoded; a trailing CR (CRLF line end) is dropped.
        """
        self.assertEqual(lines.decodeLine("你好, wörld\r".encode()), "你好, wörld")

    def test_invalidUTF8(self) -> None:
        """
        Invalid UTF-8 is refused.
        """
        self.assertRaises(lines.BadLine, lines.decodeLine, b"caf\xe9")

    def test_controlCharacters(self) -> None:
        """
        C0 and C1 controls, DEL and line separators are refused.
        """
        for text in ("a\x00b", "\x1b[31mred", "a\x7f", "a\x85b", "a\u2028b", "a\rb"):
            self.assertRaises(lines.BadLine, lines.decodeLine, text.encode())

    def test_tab(self) -> None:
        """
        A tab becomes a space.
        """
        self.assertEqual(lines.decodeLine(b"a\tb"), "a b")

    @given(st.binary(max_size=100))
    def test_neverRelaysControls(self, raw: bytes) -> None:
        """
        Whatever is accepted holds no control character.
        """
        try:
            text = lines.decodeLine(raw.replace(b"\n", b""))
        except lines.BadLine:
            return
        self.assertFalse(any(ord(c) < 32 or 127 <= ord(c) < 160 for c in text))


class FormatTests(SynchronousTestCase):
    """
    Every outbound line starts with a prefix telling its kind.
    """

    def test_chat(self) -> None:
        """
        A chat line names the room and the sender.
        """
        self.assertEqual(lines.chat("lobby", "ann", "hi"), b"[#lobby] ann: hi\n")

    def test_action(self) -> None:
        """
        An action names the room and the actor.
        """
        self.assertEqual(lines.action("lobby", "ann", "waves"), b"[#lobby] * ann waves\n")

    def test_private(self) -> None:
        """
        A private line names the sender.
        """
        self.assertEqual(lines.private("ann", "psst"), b"[private] ann: psst\n")

    def test_systemAndError(self) -> None:
        """
        System lines start with C{***}, errors with C{!!!}; text is UTF-8.
        """
        self.assertEqual(lines.system("héllo"), "*** héllo\n".encode())
        self.assertEqual(lines.error("no"), b"!!! no\n")

    def test_listingWraps(self) -> None:
        """
        A long listing is split into several system lines with the same head.
        """
        data = lines.listing("who #lobby (100)", [f"user-{i:03}" for i in range(100)], width=100)
        out = data.split(b"\n")[:-1]
        self.assertGreater(len(out), 1)
        for line in out:
            self.assertTrue(line.startswith(b"*** who #lobby (100): "))
        self.assertEqual(sum(len(line.split(b": ", 1)[1].split()) for line in out), 100)

    def test_oneLine(self) -> None:
        """
        Foreign text is flattened to one short line.
        """
        self.assertEqual(lines.oneLine("Re:\r\n  hello\x00 there"), "Re: hello there")
        self.assertEqual(len(lines.oneLine("x" * 500)), 200)
