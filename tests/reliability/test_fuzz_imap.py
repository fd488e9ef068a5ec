# -*- test-case-name: tests.reliability.test_fuzz_imap -*-
"""
Fuzzing IMAP's command reader and grammar
(L{twisted_mail_suite.imap.parser}, L{twisted_mail_suite.imap.grammar}):
arbitrary byte streams never raise, come out the same wherever they are
cut, and never make the reader hold more than its limits; generated
commands (atoms, quoted strings with escapes, literals of both kinds,
nested lists, 8-bit octets) survive being written, cut and read back.
"""
from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st
from twisted.trial.unittest import SynchronousTestCase

from twisted_mail_suite.imap.grammar import SyntaxError_, parseCommand
from twisted_mail_suite.imap.parser import CommandReader, Complete, Continue, RawLine

from .support import FUZZ

MAX_LINE = 200
MAX_LITERAL = 300
FRAGMENTS = st.one_of(
    st.binary(max_size=40),
    st.sampled_from([b"\r\n", b"\n", b"{5}\r\n", b"{3+}\r\n", b"{0}\r\n", b"{99999999999}\r\n",
                     b"a APPEND x {10+}\r\n", b'"', b"(", b")", b"[", b"]", b"\\", b"x" * 250]),
)


def run(chunks: list[bytes]) -> list:
    reader = CommandReader(maxLine=MAX_LINE, maxLiteral=MAX_LITERAL)
    out = []
    for chunk in chunks:
        reader.feed(chunk)
        while (event := reader.next()) is not None:
            out.append(event)
            if isinstance(event, Complete) and event.pieces[0].endswith(b"RAW"):
                reader.readRawLine()
        # never more than a line's worth held, unless a literal is being read
        assert reader.buffered <= MAX_LINE + 1 or reader.inCommand, reader.buffered
    return out


@st.composite
def cutStreams(draw: st.DrawFn) -> tuple[bytes, list[bytes]]:
    data = b"".join(draw(st.lists(FRAGMENTS, max_size=25)))
    cuts = sorted(set(draw(st.lists(st.integers(0, len(data)), max_size=12))))
    bounds = [0, *cuts, len(data)]
    return data, [data[a:b] for a, b in zip(bounds, bounds[1:])]


ATOM = st.binary(min_size=1, max_size=8).filter(
    lambda b: all(0x21 <= c <= 0x7e and c not in b'(){%*"\\[]' for c in b) and b.upper() != b"NIL")
STRING = st.binary(max_size=20).filter(lambda b: b"\r" not in b and b"\n" not in b and b"\0" not in b)
LITERAL = st.binary(max_size=30)


def values(depth: int = 3) -> st.SearchStrategy:
    leaf = st.one_of(st.tuples(st.just("atom"), ATOM), st.tuples(st.just("quoted"), STRING),
                     st.tuples(st.just("literal"), LITERAL), st.tuples(st.just("literal+"), LITERAL))
    if depth == 0:
        return leaf
    return st.one_of(leaf, st.tuples(st.just("list"), st.lists(values(depth - 1), max_size=4)))


def write(value: tuple) -> bytes:
    kind, data = value
    if kind == "atom":
        return data  # type: ignore[no-any-return]
    if kind == "quoted":
        return b'"' + data.replace(b"\\", b"\\\\").replace(b'"', b'\\"') + b'"'
    if kind == "literal":
        return b"{%d}\r\n" % len(data) + data
    if kind == "literal+":
        return b"{%d+}\r\n" % len(data) + data
    return b"(" + b" ".join(write(v) for v in data) + b")"


def expected(value: tuple) -> object:
    kind, data = value
    if kind == "list":
        return [expected(v) for v in data]
    return data


def synchronizing(value: tuple) -> int:
    kind, data = value
    if kind == "list":
        return sum(synchronizing(v) for v in data)
    return 1 if kind == "literal" else 0


class ReaderFuzzTests(SynchronousTestCase):
    @FUZZ
    @given(cutStreams())
    def test_cutsDoNotMatter(self, stream: tuple[bytes, list[bytes]]) -> None:
        """
        Any stream gives the same events whole and cut anywhere, without
        an exception, holding no more than a line.
        """
        data, chunks = stream
        self.assertEqual(run(chunks), run([data]))

    @FUZZ
    @given(cutStreams())
    def test_grammarNeverCrashes(self, stream: tuple[bytes, list[bytes]]) -> None:
        """
        Whatever command the reader hands out parses or raises a syntax
        error, nothing else.
        """
        for event in run(stream[1]):
            if isinstance(event, Complete):
                try:
                    parseCommand(event.pieces)
                except SyntaxError_:
                    pass

    @FUZZ
    @given(st.lists(values(), max_size=6), st.data())
    def test_roundTrip(self, arguments: list, data: st.DataObject) -> None:
        """
        A generated command, written out and fed in arbitrary pieces,
        reads back as the same tokens; each synchronizing literal asks for
        one continuation.
        """
        wire = b"t1 CMD" + b"".join(b" " + write(v) for v in arguments) + b"\r\n"
        cuts = sorted(set(data.draw(st.lists(st.integers(0, len(wire)), max_size=8))))
        bounds = [0, *cuts, len(wire)]
        reader = CommandReader(maxLine=1 << 20, maxLiteral=1 << 20)
        events = []
        for a, b in zip(bounds, bounds[1:]):
            reader.feed(wire[a:b])
            while (event := reader.next()) is not None:
                events.append(event)
        *continues, complete = events
        self.assertTrue(all(isinstance(e, Continue) for e in continues))
        self.assertEqual(len(continues), sum(synchronizing(v) for v in arguments))
        self.assertIsInstance(complete, Complete)
        command = parseCommand(complete.pieces)
        self.assertEqual((command.tag, command.name), (b"t1", b"CMD"))
        self.assertEqual(command.arguments, [expected(v) for v in arguments])

    def test_rawLines(self) -> None:
        """
        Raw lines come out raw (a sanity check of the helper above).
        """
        self.assertEqual(run([b"a RAW\r\n{5}\r\n"]), [Complete((b"a RAW",)), RawLine(b"{5}")])
