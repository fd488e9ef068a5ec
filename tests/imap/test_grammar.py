# -*- test-case-name: tests.imap.test_grammar -*-
"""
Tests for L{twisted_mail_suite.imap.grammar}: tokens, the argument cursor,
sequence sets and dates.
"""
from __future__ import annotations

import calendar

from twisted.trial.unittest import SynchronousTestCase

from twisted_mail_suite.imap.grammar import (
    Arguments, Atom, SequenceSet, String, SyntaxError_, formatDateTime, formatPairs, formatSequence,
    parseCommand, parseDate, parseDateTime, tokenize,
)
from twisted_mail_suite.imap.parser import Literal


class TokenizeTests(SynchronousTestCase):
    def test_atomsAndStrings(self) -> None:
        """
        Atoms and quoted strings, unescaped.
        """
        tokens = tokenize([b'abc "d e" "q\\"x\\\\y" NIL'])
        self.assertEqual(tokens, [b"abc", b"d e", b'q"x\\y', b"NIL"])
        self.assertIsInstance(tokens[0], Atom)
        self.assertIsInstance(tokens[1], String)
        self.assertIsInstance(tokens[3], Atom)

    def test_nestedLists(self) -> None:
        """
        Parenthesised lists nest.
        """
        self.assertEqual(tokenize([b"(a (b (c \"d\")) ()) e"]), [[b"a", [b"b", [b"c", b"d"]], []], b"e"])

    def test_literals(self) -> None:
        """
        Literals become strings where they stand, inside lists too.
        """
        tokens = tokenize([b"(a ", Literal(b"x y)"), b" b)"])
        self.assertEqual(tokens, [[b"a", b"x y)", b"b"]])
        self.assertIsInstance(tokens[0][1], String)

    def test_sectionKeptWhole(self) -> None:
        """
        A fetch attribute's section and partial stay one atom, spaces and
        parentheses included.
        """
        self.assertEqual(tokenize([b"(FLAGS BODY.PEEK[HEADER.FIELDS (FROM TO)]<0.100> UID)"]),
                         [[b"FLAGS", b"BODY.PEEK[HEADER.FIELDS (FROM TO)]<0.100>", b"UID"]])

    def test_flags(self) -> None:
        """
        System flags are atoms with their backslash.
        """
        self.assertEqual(tokenize([b"(\\Seen \\Deleted $Forwarded)"]), [[b"\\Seen", b"\\Deleted", b"$Forwarded"]])

    def test_eightBitString(self) -> None:
        """
        8-bit octets in quoted strings are kept (UTF-8 mailbox names).
        """
        self.assertEqual(tokenize([b'"caf\xc3\xa9"']), [b"caf\xc3\xa9"])

    def test_errors(self) -> None:
        """
        Unbalanced parentheses and brackets, bad escapes, unterminated
        strings and NULs are syntax errors.
        """
        for text in [b"(a", b"a)", b'"abc', b'"a\\n"', b"BODY[HEADER", b"a\0b", b'"a\0"', b"a\tb", b"\x01",
                     b"x \x7f", b"(\x1b)"]:
            self.assertRaises(SyntaxError_, tokenize, [text])

    def test_depthLimit(self) -> None:
        """
        Lists nested deeper than the limit are refused.
        """
        self.assertRaises(SyntaxError_, tokenize, [b"(" * 100 + b")" * 100])
        self.assertEqual(tokenize([b"((()))"]), [[[[]]]])


class ParseCommandTests(SynchronousTestCase):
    def test_command(self) -> None:
        """
        Tag, upper-cased name and arguments.
        """
        command = parseCommand([b"A001 login alice secret"])
        self.assertEqual((command.tag, command.name, command.arguments), (b"A001", b"LOGIN", [b"alice", b"secret"]))

    def test_badTag(self) -> None:
        """
        A tag with a forbidden character is a syntax error without a tag.
        """
        for line in [b"+ NOOP", b"a* NOOP", b"(a) NOOP", b" NOOP"]:
            error = self.assertRaises(SyntaxError_, parseCommand, [line])
            self.assertFalse(hasattr(error, "tag"), line)

    def test_missingName(self) -> None:
        """
        A tag without a command is a syntax error carrying the tag.
        """
        error = self.assertRaises(SyntaxError_, parseCommand, [b"a1"])
        self.assertEqual(error.tag, b"a1")

    def test_argumentErrorCarriesTag(self) -> None:
        """
        A syntax error in the arguments carries the tag and the name.
        """
        error = self.assertRaises(SyntaxError_, parseCommand, [b"a1 select (x"])
        self.assertEqual((error.tag, error.name), (b"a1", b"SELECT"))


class ArgumentsTests(SynchronousTestCase):
    def test_readers(self) -> None:
        """
        Each reader takes one token of its kind.
        """
        args = Arguments(tokenize([b'x "y" NIL (a) 42 1:*']))
        self.assertEqual(args.atom(), b"x")
        self.assertEqual(args.astring(), b"y")
        self.assertIsNone(args.nstring())
        self.assertEqual(args.list(), [b"a"])
        self.assertEqual(args.number(), 42)
        self.assertEqual(args.sequenceSet().ranges, ((1, None),))
        args.end()

    def test_wrongKinds(self) -> None:
        """
        A token of the wrong kind, a missing one or an extra one is a
        syntax error.
        """
        self.assertRaises(SyntaxError_, Arguments(tokenize([b'"x"'])).atom)
        self.assertRaises(SyntaxError_, Arguments(tokenize([b"(x)"])).astring)
        self.assertRaises(SyntaxError_, Arguments(tokenize([b"x"])).list)
        self.assertRaises(SyntaxError_, Arguments(tokenize([b"-1"])).number)
        self.assertRaises(SyntaxError_, Arguments(tokenize([b"99999999999"])).number)
        self.assertRaises(SyntaxError_, Arguments([]).atom)
        self.assertRaises(SyntaxError_, Arguments(tokenize([b"x"])).end)

    def test_peek(self) -> None:
        """
        C{peekAtom} looks without consuming.
        """
        args = Arguments(tokenize([b"flags x"]))
        self.assertEqual(args.peekAtom(), b"FLAGS")
        self.assertEqual(args.atom(), b"flags")


class SequenceSetTests(SynchronousTestCase):
    def test_parse(self) -> None:
        """
        Numbers, ranges and C{*}, comma-separated.
        """
        self.assertEqual(SequenceSet.parse(b"2,4:7,9:*,*").ranges, ((2, 2), (4, 7), (9, None), (None, None)))

    def test_saved(self) -> None:
        """
        C{$} is the saved search result.
        """
        self.assertTrue(SequenceSet.parse(b"$").saved)

    def test_invalid(self) -> None:
        """
        Zero, leading zeros, empty parts, junk and numbers past 2^32-1 are
        refused.
        """
        for text in [b"0", b"01", b"1,,2", b"1:", b"a", b"1:2:3", b"4294967296", b"", b"$,1"]:
            self.assertRaises(SyntaxError_, SequenceSet.parse, text)

    def test_bounds(self) -> None:
        """
        C{*} is the largest number in use; reversed ranges are put in order.
        """
        self.assertEqual(list(SequenceSet.parse(b"7:3,*,2:*").bounds(10)), [(3, 7), (10, 10), (2, 10)])
        self.assertTrue(SequenceSet.parse(b"5:*").contains(7, 10))
        self.assertTrue(SequenceSet.parse(b"12:*").contains(11, 10))   # 12:* with * = 10 is 10:12
        self.assertFalse(SequenceSet.parse(b"1:3").contains(4, 10))

    def test_format(self) -> None:
        """
        Numbers format compactly; pairs keep their order.
        """
        self.assertEqual(formatSequence([5, 1, 2, 3, 9]), b"1:3,5,9")
        self.assertEqual(formatSequence([]), b"")
        self.assertEqual(formatPairs([4, 5, 6, 2, 9]), b"4:6,2,9")


class DateTests(SynchronousTestCase):
    def test_date(self) -> None:
        self.assertEqual(parseDate(b"1-Feb-1994"), (1994, 2, 1))
        self.assertEqual(parseDate(b"29-feb-2024"), (2024, 2, 29))
        for bad in [b"30-Feb-2024", b"1-Foo-2000", b"1994-02-01", b"1-Feb-94"]:
            self.assertRaises(SyntaxError_, parseDate, bad)

    def test_dateTime(self) -> None:
        self.assertEqual(parseDateTime(b"17-Jul-1996 02:44:25 -0700"),
                         calendar.timegm((1996, 7, 17, 9, 44, 25, 0, 0, 0)))
        self.assertEqual(parseDateTime(b" 7-Jul-1996 02:44:25 +0000"),
                         calendar.timegm((1996, 7, 7, 2, 44, 25, 0, 0, 0)))
        for bad in [b"17-Jul-1996", b"17-Jul-1996 25:00:00 +0000", b"x"]:
            self.assertRaises(SyntaxError_, parseDateTime, bad)

    def test_format(self) -> None:
        self.assertEqual(formatDateTime(calendar.timegm((2024, 1, 2, 10, 0, 0, 0, 0, 0))), b" 2-Jan-2024 10:00:00 +0000")
