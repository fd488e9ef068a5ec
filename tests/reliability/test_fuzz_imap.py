# -*- test-case-name: tests.reliability.test_fuzz_imap -*-
"""
Fuzzing IMAP's command reader and grammar
(L{twisted_mail_suite.imap.parser}, L{twisted_mail_suite.imap.grammar}):
arbitrary byte streams never raise, come out the same wherever they are
cut, and never make the reader hold more than its limits; generated
commands (atoms, quoted strings with escapes, literals of both kinds,
nested lists, 8-bit octets) survive being written, cut and read back.
And the whole protocol (a real Maildir, the fake clock): any stream of
commands and junk never raises nor logs an unexpected error, every line
it answers is well formed, and nothing is deleted without a command that
deletes.
"""
from __future__ import annotations

import base64
import os
import re

from hypothesis import given
from hypothesis import strategies as st
from twisted.internet.error import ConnectionLost
from twisted.python.failure import Failure
from twisted.trial.unittest import SynchronousTestCase

from twisted_mail_suite.imap.grammar import SyntaxError_, parseCommand
from twisted_mail_suite.imap.parser import CommandReader, Complete, Continue, RawLine

from ..fakes import makeSuite, peerTransport
from .support import FUZZ, ExampleCounter, LoggedFailures, noFailures

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


PLAIN = base64.b64encode(b"\0alice\0secret")
COMMANDS = [
    b"a LOGIN alice secret\r\n", b"a LOGIN alice wrong\r\n", b"a LOGIN {5}\r\nalice {6+}\r\nsecret\r\n",
    b"b AUTHENTICATE PLAIN\r\n", PLAIN + b"\r\n", b"b AUTHENTICATE PLAIN " + PLAIN + b"\r\n", b"*\r\n",
    b"c SELECT INBOX\r\n", b"c EXAMINE INBOX\r\n", b"c SELECT Trash\r\n", b"d FETCH 1:* (FLAGS UID)\r\n",
    b"d FETCH 1 BODY[]\r\n", b"d FETCH 2 (ENVELOPE BODYSTRUCTURE BODY.PEEK[1.MIME])\r\n",
    b"d UID FETCH 1:* BODY.PEEK[HEADER.FIELDS (SUBJECT)]<0.5>\r\n", b"e STORE 1 +FLAGS (\\Seen k1)\r\n",
    b"e STORE 1:* -FLAGS.SILENT \\Seen\r\n", b"f SEARCH OR FROM bob TEXT x\r\n", b"f UID SEARCH RETURN (SAVE) ALL\r\n",
    b"f FETCH $ UID\r\n", b"g COPY 1 Sent\r\n", b"g UID MOVE 2 Trash\r\n", b"h STORE 1 +FLAGS \\Deleted\r\n",
    b"h EXPUNGE\r\n", b"h CLOSE\r\n", b"i IDLE\r\n", b"DONE\r\n", b"j APPEND INBOX (\\Seen) {5}\r\nhello\r\n",
    b"j APPEND INBOX {3+}\r\nabc\r\n", b"k LIST \"\" *\r\n", b"k LIST (SUBSCRIBED) \"\" * RETURN (STATUS (MESSAGES))\r\n",
    b"k STATUS INBOX (MESSAGES UNSEEN)\r\n", b"l CREATE x.y\r\n", b"l RENAME x z\r\n", b"l DELETE z.y\r\n",
    b"m ENABLE IMAP4rev2\r\n", b"m UNSELECT\r\n", b"n NOOP\r\n", b"n CAPABILITY\r\n", b"o LOGOUT\r\n",
    b"i IDLE\r\nDONE\r\n", b"p STARTTLS\r\n", b"q ID NIL\r\n", b"r NAMESPACE\r\n", b"s FETCH 99 FLAGS\r\n", b"t BOGUS\r\n", b"\r\n",
]
PROTOCOL_FRAGMENTS = st.one_of(st.sampled_from(COMMANDS), st.sampled_from(COMMANDS), st.binary(max_size=30),
                               st.sampled_from([b"{", b"}", b"(", b")", b'"', b"{99999999}\r\n", b"x" * 5000]))
_STATUS = re.compile(rb"^[!#-'*-~]+ (OK|NO|BAD)( |$)")


def checkOutput(output: bytes) -> None:
    """
    Every line the server wrote is untagged (C{*}), a continuation
    (C{+}) or a tagged OK/NO/BAD; literals are skipped by their size.
    """
    assert output.startswith(b"* OK "), output[:80]
    position = 0
    while position < len(output):
        end = output.find(b"\r\n", position)
        assert end >= 0, ("unterminated line", output[position:position + 80])
        line = output[position:end]
        position = end + 2
        if not (line.startswith(b"* ") or line.startswith(b"+ ") or line == b"+"):
            assert _STATUS.match(line), line[:120]
        while True:
            literal = re.search(rb"~?\{(\d+)\}$", line)
            if not literal:
                break
            position += int(literal.group(1))
            end = output.find(b"\r\n", position)
            assert end >= 0, ("unterminated line after literal",)
            line = output[position:end]
            position = end + 2
        assert b"SERVERBUG" not in line, line


@st.composite
def protocolStreams(draw: st.DrawFn) -> tuple[bytes, list[bytes]]:
    prefix = draw(st.sampled_from([b"", b"a LOGIN alice secret\r\n", b"a LOGIN alice secret\r\nc SELECT INBOX\r\n",
                                   b"a AUTHENTICATE PLAIN " + PLAIN + b"\r\nc EXAMINE INBOX\r\n"]))
    data = prefix + b"".join(draw(st.lists(PROTOCOL_FRAGMENTS, max_size=25)))
    cuts = sorted(set(draw(st.lists(st.integers(0, len(data)), max_size=8))))
    bounds = [0, *cuts, len(data)]
    return data, [data[a:b] for a, b in zip(bounds, bounds[1:])]


class ProtocolFuzzTests(SynchronousTestCase):
    """
    The whole IMAP protocol over a C{StringTransport} with a real Maildir.
    """

    def setUp(self) -> None:
        self.suite = makeSuite(self, **{"imap.max_line_length": 4096})
        self.factory = self.suite.factories["imap"]
        self.deliver()

    def deliver(self) -> None:
        for message in (b"Subject: one\r\nFrom: bob@x.test\r\n\r\nfirst\r\n",
                        b"Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n\r\nx\r\n--b--\r\n"):
            pending = self.suite.store.beginDelivery(["alice"])
            pending.write(message)
            self.successResultOf(pending.commit())

    def test_arbitraryStreams(self) -> None:
        """
        Any stream, cut anywhere: no exception, no logged error, every
        line of output well formed, nothing deleted without a command that
        deletes, and the connection released at the end.
        """
        counter = ExampleCounter("imap.arbitraryStreams")

        @FUZZ
        @given(protocolStreams())
        def check(stream: tuple[bytes, list[bytes]]) -> None:
            counter()
            data, chunks = stream
            mailDir = os.path.join(self.suite.config.mailDir, "alice")
            before = {n.split(":")[0] for sub in ("new", "cur") for n in os.listdir(os.path.join(mailDir, sub))}
            transport = peerTransport()
            protocol = self.factory.buildProtocol(transport.getPeer())
            with LoggedFailures() as watcher:
                protocol.makeConnection(transport)
                for chunk in chunks:
                    if transport.disconnecting:
                        break
                    protocol.dataReceived(chunk)
                    self.suite.reactor.advance(2)
                self.suite.reactor.advance(10)
                output = transport.value()
                protocol.connectionLost(Failure(ConnectionLost()))
            noFailures(self, watcher, lambda: repr(data))
            checkOutput(output)
            self.assertEqual(self.factory.connections, 0)
            after = {n.split(":")[0] for sub in ("new", "cur") for n in os.listdir(os.path.join(mailDir, sub))}
            upper = data.upper()
            if not any(verb in upper for verb in (b"EXPUNGE", b"CLOSE", b"MOVE", b"RENAME")):
                self.assertLessEqual(before, after)
            self.suite.reactor.advance(self.suite.config.auth.window + 1)
            if len(after) < 2:                          # put mail back for the next example
                self.deliver()

        check()
        counter.report()
