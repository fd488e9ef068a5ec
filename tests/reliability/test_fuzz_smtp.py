# -*- test-case-name: tests.reliability.test_fuzz_smtp -*-
"""
Fuzzing the SMTP server (the whole protocol over a C{StringTransport}, the
store real and synchronous): arbitrary byte streams, built from SMTP
fragments and raw bytes and split at arbitrary offsets, never raise out of
the protocol nor log an unexpected error, always get well-formed replies,
and never lead to a message being kept that the client did not end with
C{<CRLF>.<CRLF>}.
"""
from __future__ import annotations

import os
import re

from hypothesis import given
from hypothesis import strategies as st
from twisted.internet.error import ConnectionLost
from twisted.python.failure import Failure
from twisted.trial.unittest import SynchronousTestCase

from ..fakes import maildirOf, makeSuite, peerTransport
from .support import FUZZ, ExampleCounter, LoggedFailures, noFailures

REPLY_LINE = re.compile(rb"^[2-5][0-9][0-9]([ -][\x20-\x7e]*)?$")

COMMANDS = [
    b"EHLO client.test\r\n", b"HELO client.test\r\n", b"EHLO\r\n", b"ehlo x\r\n",
    b"MAIL FROM:<sender@remote.test>\r\n", b"MAIL FROM:<>\r\n", b"MAIL FROM:<bad\r\n",
    b"MAIL FROM:<a@b.test> SIZE=99999999999\r\n", b"MAIL FROM:<a@b.test> BODY=8BITMIME SMTPUTF8\r\n",
    b"RCPT TO:<alice@example.test>\r\n", b"RCPT TO:<bob@example.test>\r\n",
    b"RCPT TO:<nobody@example.test>\r\n", b"RCPT TO:<x@foreign.test>\r\n", b"RCPT TO:<postmaster>\r\n",
    b"DATA\r\n", b"DATA x\r\n", b"RSET\r\n", b"NOOP\r\n", b"QUIT\r\n", b"VRFY alice\r\n", b"HELP\r\n",
    b"STARTTLS\r\n", b"AUTH PLAIN\r\n", b"AUTH PLAIN AGFsaWNlAHNlY3JldA==\r\n", b"AUTH LOGIN\r\n",
    b"AUTH PLAIN !!!\r\n", b"*\r\n", b"YWxpY2U=\r\n", b"c2VjcmV0\r\n",
]
TEXT = [
    b"Subject: fuzz\r\n", b"\r\n", b".\r\n", b"..\r\n", b".hidden\r\n", b"body line\r\n", b"\r\n.\r\n",
    b"\n", b"\r", b"\r\n.", b".\r", b"x" * 1200 + b"\r\n", b"\xff\xfe\x00\r\n",
]
FRAGMENTS = st.one_of(st.sampled_from(COMMANDS), st.sampled_from(TEXT), st.binary(max_size=40))
BODY = st.lists(st.one_of(st.sampled_from(TEXT), st.binary(max_size=30)), max_size=12).map(b"".join)


@st.composite
def transactions(draw: st.DrawFn) -> bytes:
    """
    A mostly well-formed mail transaction: EHLO, MAIL, RCPT..., DATA, text,
    often the end of data; pieces may be dropped or repeated.
    """
    pieces = [draw(st.sampled_from(COMMANDS[:4])), draw(st.sampled_from(COMMANDS[4:9]))]
    pieces += draw(st.lists(st.sampled_from(COMMANDS[9:14]), min_size=1, max_size=3))
    pieces += [b"DATA\r\n", draw(BODY), draw(st.sampled_from([b"\r\n.\r\n", b".\r\n", b"\r\n.\r\n", b""]))]
    if draw(st.booleans()):
        del pieces[draw(st.integers(0, len(pieces) - 1))]
    if draw(st.booleans()):
        index = draw(st.integers(0, len(pieces) - 1))
        pieces.insert(index, pieces[index])
    return b"".join(pieces)


SEGMENTS = st.one_of(transactions(), FRAGMENTS, FRAGMENTS)


@st.composite
def streams(draw: st.DrawFn) -> tuple[bytes, list[bytes]]:
    """
    A byte stream and the same stream cut into chunks at arbitrary offsets.
    """
    data = b"".join(draw(st.lists(SEGMENTS, max_size=12)))
    cuts = sorted(set(draw(st.lists(st.integers(0, len(data)), max_size=12))))
    bounds = [0, *cuts, len(data)]
    return data, [data[a:b] for a, b in zip(bounds, bounds[1:])]


def checkReplies(output: bytes) -> list[bytes]:
    """
    Every reply line is C{NNN text} or C{NNN-text} in printable ASCII, ends
    with CRLF, a multi-line reply keeps its code, and a closing reply
    (221, 421) is the last thing written.

    @return: the lines.
    @raise AssertionError: describing the first defect.
    """
    if not output:
        return []
    assert output.endswith(b"\r\n"), output[-80:]
    lines = output[:-2].split(b"\r\n")
    pendingCode = None
    for index, line in enumerate(lines):
        assert REPLY_LINE.match(line), line
        if pendingCode is not None:
            assert line[:3] == pendingCode, (pendingCode, line)
        pendingCode = line[:3] if line[3:4] == b"-" else None
        if line[:3] in (b"221", b"421"):
            assert index == len(lines) - 1, lines[index:]
    assert pendingCode is None, lines[-1]
    return lines


class SMTPFuzzTests(SynchronousTestCase):
    """
    Properties of the SMTP protocol under arbitrary input.
    """

    def setUp(self) -> None:
        self.suite = makeSuite(self, **{"smtp.max_message_size": 2_000_000})
        self.factory = self.suite.factories["smtp"]

    def feed(self, chunks: list[bytes]) -> tuple[bytes, object]:
        transport = peerTransport()
        protocol = self.factory.buildProtocol(transport.getPeer())
        protocol.makeConnection(transport)
        for chunk in chunks:
            if transport.disconnecting:
                break
            protocol.dataReceived(chunk)
        output = transport.value()
        protocol.connectionLost(Failure(ConnectionLost()))
        return output, protocol

    def stored(self) -> list[str]:
        paths = []
        for user in ("alice", "bob"):
            maildir = maildirOf(self.suite)
            paths.extend(maildir.pathOf(user, message.uid) for message in maildir.storedMessages(user))
        return paths

    def tmpLeftovers(self) -> list[str]:
        found = []
        for user in os.listdir(self.suite.config.mailDir):
            folder = os.path.join(self.suite.config.mailDir, user, "tmp")
            if os.path.isdir(folder):
                found.extend(os.listdir(folder))
        return found

    def test_arbitraryStreams(self) -> None:
        """
        Any stream, cut anywhere: no exception, no logged error, only
        well-formed replies, no more messages kept than the stream has
        C{<CRLF>.<CRLF>} ends, and nothing left in C{tmp/}.
        """
        counter = ExampleCounter("smtp.arbitraryStreams")

        @FUZZ
        @given(streams())
        def check(stream: tuple[bytes, list[bytes]]) -> None:
            counter()
            data, chunks = stream
            before = len(self.stored())
            with LoggedFailures() as watcher:
                output, _ = self.feed(chunks)
            noFailures(self, watcher, lambda: repr(data))
            checkReplies(output)
            kept = len(self.stored()) - before
            # One message may go to two recipients: two files per end at most.
            self.assertLessEqual(kept, 2 * data.count(b"\r\n.\r\n"), data)
            self.assertEqual(self.tmpLeftovers(), [])

        check()
        counter.report()

    def test_splitDoesNotMatter(self) -> None:
        """
        The replies depend on the bytes, not on how they were cut: the
        same replies, with the same codes and enhanced codes (the text may
        differ where one line is refused for two reasons, e.g. too long and
        a bare CR, depending on which the server saw first).
        """
        counter = ExampleCounter("smtp.splitDoesNotMatter")

        @FUZZ
        @given(streams())
        def check(stream: tuple[bytes, list[bytes]]) -> None:
            counter()
            data, chunks = stream
            whole, _ = self.feed([data])
            cut, _ = self.feed(chunks)
            self.assertEqual(_codes(whole), _codes(cut), data)

        check()
        counter.report()

    def test_unterminatedMessageIsNotKept(self) -> None:
        """
        A transaction whose text never ends with C{<CRLF>.<CRLF>} (small or
        spilled to C{tmp/}) keeps nothing when the connection drops, however
        the text was cut.
        """
        counter = ExampleCounter("smtp.unterminatedMessageIsNotKept")
        head = (b"EHLO client.test\r\nMAIL FROM:<s@remote.test>\r\n"
                b"RCPT TO:<alice@example.test>\r\nRCPT TO:<bob@example.test>\r\nDATA\r\n")
        body = st.lists(st.one_of(st.sampled_from(TEXT), st.binary(max_size=30)), max_size=30).map(b"".join)

        @FUZZ
        @given(body, st.integers(0, 3), st.lists(st.integers(0, 400_000), max_size=8))
        def check(text: bytes, bulk: int, cutPoints: list[int]) -> None:
            counter()
            text = (b"line of a big message\r\n" * 5000) * bulk + text    # up to ~350 kB: spills to tmp/
            data = head + text
            if b"\r\n.\r\n" in data[len(head) - 2:]:
                return
            cuts = sorted({min(c, len(data)) for c in cutPoints})
            bounds = [0, *cuts, len(data)]
            before = len(self.stored())
            output, _ = self.feed([data[a:b] for a, b in zip(bounds, bounds[1:])])
            self.assertIn(b"354 ", output)
            self.assertEqual(len(self.stored()), before)
            self.assertEqual(self.tmpLeftovers(), [])

        check()
        counter.report()


_CODES = re.compile(rb"^[2-5][0-9][0-9][ -](?:[245]\.[0-9]{1,3}\.[0-9]{1,3})?")


def _codes(output: bytes) -> list[bytes]:
    """
    The code and enhanced code of each reply line.
    """
    return [match.group(0) if match else line for line in output.split(b"\r\n")
            for match in [_CODES.match(line)]]
