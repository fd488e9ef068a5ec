# -*- test-case-name: tests.reliability.test_fuzz_pop3 -*-
"""
Fuzzing the POP3 server (the whole protocol over a C{StringTransport}, a
real Maildir with three messages, time driven by the fake clock): arbitrary
byte streams cut at arbitrary offsets never raise out of the protocol nor
log an unexpected error; every response is a well-formed C{+OK}/C{-ERR}
line (multi-line ones dot-terminated) answering the commands in order; and
nothing is deleted unless the session reached QUIT.
"""
from __future__ import annotations

import base64

from hypothesis import given
from hypothesis import strategies as st
from twisted.internet.error import ConnectionLost
from twisted.python.failure import Failure
from twisted.trial.unittest import SynchronousTestCase

from ..fakes import makeSuite, peerTransport
from .support import FUZZ, ExampleCounter, LoggedFailures, noFailures

MAX_LINE = 8192
PLAIN = base64.b64encode(b"\0alice\0secret")
COMMANDS = [
    b"USER alice\r\n", b"PASS secret\r\n", b"PASS wrong\r\n", b"USER nobody\r\n", b"STAT\r\n",
    b"LIST\r\n", b"LIST 1\r\n", b"LIST 99\r\n", b"LIST x\r\n", b"RETR 1\r\n", b"RETR 2\r\n", b"RETR 0\r\n",
    b"TOP 1 0\r\n", b"TOP 2 3\r\n", b"TOP 1\r\n", b"DELE 1\r\n", b"DELE 3\r\n", b"DELE 1\r\n", b"RSET\r\n",
    b"NOOP\r\n", b"UIDL\r\n", b"UIDL 2\r\n", b"CAPA\r\n", b"STLS\r\n", b"AUTH\r\n", b"AUTH PLAIN\r\n",
    b"AUTH PLAIN " + PLAIN + b"\r\n", PLAIN + b"\r\n", b"*\r\n", b"AUTH CRAM-MD5\r\n",
    b"APOP alice 0123456789abcdef0123456789abcdef\r\n", b"QUIT\r\n", b"quit\r\n", b"\r\n",
]
LOGIN = [b"USER alice\r\nPASS secret\r\n", b"AUTH PLAIN " + PLAIN + b"\r\n", b"AUTH PLAIN\r\n" + PLAIN + b"\r\n"]
FRAGMENTS = st.one_of(st.sampled_from(COMMANDS), st.sampled_from(COMMANDS), st.sampled_from(LOGIN),
                      st.binary(max_size=30), st.sampled_from([b"\n", b"\r", b"x" * 9000]))
MESSAGES = [b"Subject: one\r\n\r\nfirst\r\n", b"Subject: two\r\n\r\n.dot\r\n..\r\n.\r\nend\r\n",
            b"Subject: three\r\n\r\n" + b"line\r\n" * 50]


@st.composite
def streams(draw: st.DrawFn) -> tuple[bytes, list[bytes], list[float]]:
    """
    A byte stream, its cut into chunks, and how far the clock moves after
    each chunk (login failures are delayed on the clock).
    """
    data = draw(st.sampled_from([b"", *LOGIN])) + b"".join(draw(st.lists(FRAGMENTS, max_size=30)))
    cuts = sorted(set(draw(st.lists(st.integers(0, len(data)), max_size=10))))
    bounds = [0, *cuts, len(data)]
    chunks = [data[a:b] for a, b in zip(bounds, bounds[1:])]
    steps = draw(st.lists(st.sampled_from([0.0, 0.0, 1.0, 9.0]), min_size=len(chunks), max_size=len(chunks)))
    return data, chunks, steps


def isMultiLine(command: bytes) -> bool:
    """
    Does C{+OK} to C{command} (one line, no line end) start a multi-line
    response (RFC 1939, RFC 2449, RFC 5034)?
    """
    verb, _, argument = command.strip(b" ").partition(b" ")
    verb = verb.upper()
    if verb in (b"CAPA", b"RETR", b"TOP"):
        return True
    return verb in (b"LIST", b"UIDL", b"AUTH") and not argument.strip(b" ")


def checkResponses(data: bytes, output: bytes) -> None:
    """
    Walk the commands of C{data} in order against C{output}: the greeting,
    then one response per command (a SASL challenge C{+ } makes the next
    line a SASL answer), multi-line ones ended by C{.}; output may stop
    early (the server closed), but never holds anything unexplained.

    @raise AssertionError: describing the first defect.
    """
    assert output.endswith(b"\r\n"), output[-80:]
    responses = output[:-2].split(b"\r\n")
    assert responses[0].startswith(b"+OK "), responses[0]
    position = 1
    commands = [line[:-1] if line.endswith(b"\r") else line for line in data.split(b"\n")[:-1]]
    tooLong = any(len(line) > MAX_LINE for line in data.split(b"\n"))
    sasl = False
    for command in commands:
        if position == len(responses):
            return
        status = responses[position]
        position += 1
        if tooLong and status == b"-ERR Line too long." and position == len(responses):
            return                     # the over-long line ends the session, wherever it was
        if status == b"-ERR Too many bad commands." and position == len(responses):
            return                     # pop3.max_bad_commands ends it too
        if sasl:
            sasl = False
            assert status[:3] == b"+OK" or status[:4] == b"-ERR", (command, status)
            continue
        if status.startswith(b"+ "):
            assert command.upper().startswith(b"AUTH"), (command, status)
            sasl = True
            continue
        assert status == b"+OK" or status.startswith((b"+OK ", b"-ERR")), (command, status)
        if status[:3] == b"+OK" and isMultiLine(command):
            while True:
                assert position < len(responses), ("unterminated multi-line", command)
                line = responses[position]
                position += 1
                if line == b".":
                    break
                assert not line.startswith(b".") or line.startswith(b".."), (command, line)
    if tooLong and responses[position:] == [b"-ERR Line too long."]:
        return
    if responses[position:] == [b"-ERR Too many bad commands."]:
        return
    assert position == len(responses), ("unexplained output", responses[position:])


class POP3FuzzTests(SynchronousTestCase):
    """
    Properties of the POP3 protocol under arbitrary input.
    """

    def setUp(self) -> None:
        self.suite = makeSuite(self)
        self.factory = self.suite.factories["pop3"]
        for message in MESSAGES:
            pending = self.suite.store.beginDelivery(["alice"])
            pending.write(message)
            self.successResultOf(pending.commit())

    def feed(self, chunks: list[bytes], steps: list[float]) -> bytes:
        transport = peerTransport()
        protocol = self.factory.buildProtocol(transport.getPeer())
        protocol.makeConnection(transport)
        for chunk, step in zip(chunks, steps):
            if transport.disconnecting:
                break
            protocol.dataReceived(chunk)
            self.suite.reactor.advance(step)
        self.suite.reactor.advance(10)
        output = transport.value()
        protocol.connectionLost(Failure(ConnectionLost()))
        self.suite.reactor.advance(self.suite.config.auth.window + 1)   # forget failed logins
        return output

    def test_arbitraryStreams(self) -> None:
        """
        Any stream, cut anywhere: no exception, no logged error, responses
        well-formed and in step with the commands, and no message deleted
        by a session that never sent QUIT.
        """
        counter = ExampleCounter("pop3.arbitraryStreams")

        @FUZZ
        @given(streams())
        def check(stream: tuple[bytes, list[bytes], list[float]]) -> None:
            counter()
            data, chunks, steps = stream
            before = [m.uid for m in self.successResultOf(self.suite.store.listMessages("alice"))]
            with LoggedFailures() as watcher:
                output = self.feed(chunks, steps)
            noFailures(self, watcher, lambda: repr(data))
            checkResponses(data, output)
            after = [m.uid for m in self.successResultOf(self.suite.store.listMessages("alice"))]
            if b"QUIT" not in data.upper():
                self.assertEqual(before, after)
            if len(after) < len(MESSAGES):              # put the fixture back for the next example
                self.setUp()

        check()
        counter.report()
