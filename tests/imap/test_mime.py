# -*- test-case-name: tests.imap.test_mime -*-
"""
Tests for L{twisted_mail_suite.imap.mime} and
L{twisted_mail_suite.imap.structure}: parts and their offsets, ENVELOPE,
BODYSTRUCTURE, sections and BINARY.
"""
from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st
from twisted.trial.unittest import SynchronousTestCase

from twisted_mail_suite.imap.mime import parseHeader, parseMessage, parseParameters, unfold
from twisted_mail_suite.imap.structure import (
    SectionError, binaryContent, bodyStructure, envelope, findPart, headerFields, sectionRange,
)

SIMPLE = (b"Date: Mon, 7 Feb 1994 21:52:25 -0800\r\n"
          b"From: Fred Foobar <foobar@Blurdybloop.example>\r\n"
          b"Subject: afternoon\r\n meeting\r\n"
          b"To: mooch@owatagu.siam.edu.example, \"A, B\" <ab@x.example>\r\n"
          b"Message-Id: <B27397-0100000@Blurdybloop.example>\r\n"
          b"MIME-Version: 1.0\r\n"
          b"Content-Type: TEXT/PLAIN; CHARSET=US-ASCII\r\n"
          b"\r\n"
          b"Hello Joe, do you think we can meet at 3:30 tomorrow?\r\n")

MIXED = (b"From: a@b.example\r\n"
         b"Subject: parts\r\n"
         b"Content-Type: multipart/mixed; boundary=\"XX\"\r\n"
         b"\r\n"
         b"preamble\r\n"
         b"--XX\r\n"
         b"Content-Type: text/plain\r\n"
         b"\r\n"
         b"first\r\n"
         b"--XX\r\n"
         b"Content-Type: message/rfc822\r\n"
         b"\r\n"
         b"Subject: inner\r\n"
         b"From: c@d.example\r\n"
         b"\r\n"
         b"inner body\r\n"
         b"--XX\r\n"
         b"Content-Type: multipart/alternative; boundary=YY\r\n"
         b"\r\n"
         b"--YY\r\n"
         b"\r\n"
         b"plain\r\n"
         b"--YY\r\n"
         b"Content-Type: text/html\r\n"
         b"Content-Transfer-Encoding: base64\r\n"
         b"Content-Disposition: attachment; filename=\"a b.html\"\r\n"
         b"\r\n"
         b"PGI+aGk8L2I+\r\n"
         b"--YY--\r\n"
         b"--XX--\r\n"
         b"epilogue\r\n")


def section(data: bytes, numbers: list[int], text: bytes = b"") -> bytes:
    found = sectionRange(parseMessage(data), numbers, text)
    if isinstance(found, list):
        raise AssertionError("header fields")
    return data[found[0]:found[1]]


class HeaderTests(SynchronousTestCase):
    def test_unfold(self) -> None:
        self.assertEqual(unfold(b" afternoon\r\n meeting\r\n"), b"afternoon meeting")

    def test_fields(self) -> None:
        """
        Continuation lines stay with their field; names are lower-cased.
        """
        fields = parseHeader(b"A: 1\r\nB: 2\r\n 3\r\n\r\n")
        self.assertEqual([(f.name, f.raw, f.value) for f in fields],
                         [(b"a", b"A: 1\r\n", b"1"), (b"b", b"B: 2\r\n 3\r\n", b"2 3")])

    def test_parameters(self) -> None:
        self.assertEqual(parseParameters(b'text/plain; charset="a;b"; format=flowed (c)'),
                         (b"text/plain", [(b"charset", b"a;b"), (b"format", b"flowed (c)")]))


class StructureTests(SynchronousTestCase):
    def test_simple(self) -> None:
        """
        A single-part message: its type, and the body's offsets and lines.
        """
        root = parseMessage(SIMPLE)
        self.assertEqual((root.mainType, root.subType, root.params), (b"text", b"plain", [(b"CHARSET", b"US-ASCII")]))
        self.assertEqual(SIMPLE[root.bodyStart:root.end], b"Hello Joe, do you think we can meet at 3:30 tomorrow?\r\n")
        self.assertEqual(root.lines, 1)

    def test_bodyStructureSimple(self) -> None:
        """
        BODYSTRUCTURE and BODY of RFC 9051's example shape.
        """
        root = parseMessage(SIMPLE)
        self.assertEqual(bodyStructure(root, extensible=False),
                         b'("TEXT" "PLAIN" ("charset" "US-ASCII") NIL NIL "7BIT" 55 1)')
        self.assertEqual(bodyStructure(root),
                         b'("TEXT" "PLAIN" ("charset" "US-ASCII") NIL NIL "7BIT" 55 1 NIL NIL NIL NIL)')

    def test_multipart(self) -> None:
        """
        Nested multiparts and an encapsulated message are found, preamble
        and epilogue left out.
        """
        root = parseMessage(MIXED)
        self.assertEqual([(c.mainType, c.subType) for c in root.children],
                         [(b"text", b"plain"), (b"message", b"rfc822"), (b"multipart", b"alternative")])
        self.assertEqual(section(MIXED, [1]), b"first")
        self.assertEqual(section(MIXED, [2]), b"Subject: inner\r\nFrom: c@d.example\r\n\r\ninner body")
        self.assertEqual(section(MIXED, [2], b"HEADER"), b"Subject: inner\r\nFrom: c@d.example\r\n\r\n")
        self.assertEqual(section(MIXED, [2], b"TEXT"), b"inner body")
        self.assertEqual(section(MIXED, [2, 1]), b"inner body")
        self.assertEqual(section(MIXED, [3, 1]), b"plain")
        self.assertEqual(section(MIXED, [3, 2]), b"PGI+aGk8L2I+")
        self.assertEqual(section(MIXED, [3, 2], b"MIME"),
                         b"Content-Type: text/html\r\nContent-Transfer-Encoding: base64\r\n"
                         b"Content-Disposition: attachment; filename=\"a b.html\"\r\n\r\n")
        self.assertEqual(section(MIXED, [], b"TEXT")[:10], b"preamble\r\n")
        self.assertEqual(section(MIXED, []), MIXED)

    def test_bodyStructureMultipart(self) -> None:
        """
        A multipart's BODYSTRUCTURE nests its parts, the encapsulated
        message with its envelope.
        """
        out = bodyStructure(parseMessage(MIXED))
        self.assertTrue(out.startswith(b'(("TEXT" "PLAIN" NIL NIL NIL "7BIT" 5 1 NIL NIL NIL NIL)("MESSAGE" "RFC822" NIL'))
        self.assertIn(b'"7BIT" 47 (NIL "inner" ((NIL NIL "c" "d.example")) ', out)
        self.assertIn(b'("TEXT" "PLAIN" NIL NIL NIL "7BIT" 10 1 NIL NIL NIL NIL) 4 NIL NIL NIL NIL)', out)
        self.assertIn(b'"BASE64" 12 1 NIL ("attachment" ("filename" "a b.html")) NIL NIL)', out)
        self.assertTrue(out.endswith(b' "ALTERNATIVE" ("boundary" "YY") NIL NIL NIL) "MIXED" ("boundary" "XX") NIL NIL NIL)'))

    def test_missingParts(self) -> None:
        """
        Numbers past the parts, and sub-parts of a leaf, are not found.
        """
        root = parseMessage(MIXED)
        self.assertIsNone(findPart(root, [4]))
        self.assertIsNone(findPart(root, [1, 1]))
        self.assertRaises(SectionError, sectionRange, root, [9], b"")
        self.assertRaises(SectionError, sectionRange, root, [1], b"HEADER")
        self.assertRaises(SectionError, sectionRange, root, [], b"MIME")

    def test_singlePartOne(self) -> None:
        """
        Part 1 of a single-part message is its body.
        """
        self.assertEqual(section(SIMPLE, [1]), b"Hello Joe, do you think we can meet at 3:30 tomorrow?\r\n")
        self.assertIsNone(findPart(parseMessage(SIMPLE), [2]))

    def test_headerFields(self) -> None:
        """
        HEADER.FIELDS keeps the raw fields named, folded as sent; .NOT the others.
        """
        headers = sectionRange(parseMessage(SIMPLE), [], b"HEADER.FIELDS")
        self.assertEqual(headerFields(headers, [b"SUBJECT", b"to"], False),
                         b"Subject: afternoon\r\n meeting\r\n"
                         b"To: mooch@owatagu.siam.edu.example, \"A, B\" <ab@x.example>\r\n\r\n")
        self.assertNotIn(b"Subject", headerFields(headers, [b"subject"], True))

    def test_binary(self) -> None:
        """
        BINARY decodes base64 and quoted-printable; unknown encodings are refused.
        """
        self.assertEqual(binaryContent(MIXED, parseMessage(MIXED), [3, 2]), b"<b>hi</b>")
        qp = b"Content-Transfer-Encoding: quoted-printable\r\n\r\ncaf=C3=A9=\r\n!"
        self.assertEqual(binaryContent(qp, parseMessage(qp), [1]), b"caf\xc3\xa9!")
        odd = b"Content-Transfer-Encoding: x-uuencode\r\n\r\nbody"
        error = self.assertRaises(SectionError, binaryContent, odd, parseMessage(odd), [1])
        self.assertEqual(error.code, b"UNKNOWN-CTE")
        self.assertRaises(SectionError, binaryContent, MIXED, parseMessage(MIXED), [3])

    def test_malformed(self) -> None:
        """
        Odd messages parse without error: no blank line, no boundary, a
        multipart without its close delimiter, nothing at all.
        """
        for data in [b"", b"Subject: x", b"\r\nbody only", b"Content-Type: multipart/mixed\r\n\r\nx",
                     b"Content-Type: multipart/mixed; boundary=q\r\n\r\n--q\r\n\r\nunclosed",
                     b"Content-Type: /\r\n\r\n"]:
            root = parseMessage(data)
            bodyStructure(root)
        root = parseMessage(b"Content-Type: multipart/mixed; boundary=q\r\n\r\n--q\r\n\r\nunclosed")
        self.assertEqual(section(b"Content-Type: multipart/mixed; boundary=q\r\n\r\n--q\r\n\r\nunclosed", [1]),
                         b"unclosed")
        self.assertEqual(len(root.children), 1)

    def test_deepNesting(self) -> None:
        """
        Deep nesting is cut off, not followed.
        """
        data = b"Content-Type: message/rfc822\r\n\r\n" * 100 + b"body"
        bodyStructure(parseMessage(data))

    @given(st.binary(max_size=300))
    def test_anyInput(self, data: bytes) -> None:
        """
        Any octets parse and render.
        """
        root = parseMessage(b"Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n" + data)
        bodyStructure(root)
        envelope(root.headers)


class EnvelopeTests(SynchronousTestCase):
    def test_envelope(self) -> None:
        """
        Date, subject unfolded, addresses split, sender and reply-to
        defaulting to from, missing fields NIL.
        """
        self.assertEqual(
            envelope(parseMessage(SIMPLE).headers),
            b'("Mon, 7 Feb 1994 21:52:25 -0800" "afternoon meeting" '
            b'(("Fred Foobar" NIL "foobar" "Blurdybloop.example")) '
            b'(("Fred Foobar" NIL "foobar" "Blurdybloop.example")) '
            b'(("Fred Foobar" NIL "foobar" "Blurdybloop.example")) '
            b'((NIL NIL "mooch" "owatagu.siam.edu.example")("A, B" NIL "ab" "x.example")) '
            b'NIL NIL NIL "<B27397-0100000@Blurdybloop.example>")')

    def test_eightBitSubject(self) -> None:
        """
        An 8-bit subject is sent as a literal (IMAP4rev1) or quoted (UTF-8).
        """
        headers = parseHeader(b"Subject: caf\xc3\xa9\r\n")
        self.assertIn(b"{5}\r\ncaf\xc3\xa9", envelope(headers))
        self.assertIn(b'"caf\xc3\xa9"', envelope(headers, utf8=True))

    def test_noDomain(self) -> None:
        self.assertIn(b'(NIL NIL "root" "MISSING_DOMAIN")', envelope(parseHeader(b"From: root\r\n")))
