# -*- test-case-name: tests.reliability.test_fuzz_chat -*-
"""
Fuzzing the chat server (the protocol over C{StringTransport}s, time on
the fake clock): a client sending arbitrary bytes cut at arbitrary offsets
never makes the protocol raise or log an unexpected error; every line the
server writes, to it or to anyone else, is one well-formed line of the
chat format (UTF-8, a known prefix, no control characters, LF-ended); and
another member of the room is still served afterwards.
"""
from __future__ import annotations

import unicodedata

from hypothesis import given
from hypothesis import strategies as st
from twisted.internet.error import ConnectionLost
from twisted.python.failure import Failure
from twisted.trial.unittest import SynchronousTestCase

from ..fakes import makeSuite, peerTransport
from .support import FUZZ, ExampleCounter, LoggedFailures, noFailures

PREFIXES = (b"[#", b"[private] ", b"*** ", b"!!! ")
COMMANDS = [
    b"hello\n", b"hello\r\n", b"/me waves\n", b"/who\n", b"/nick fuzzer\n", b"/nick bob\n", b"/nick \xff\n",
    b"/join #other\n", b"/join\n", b"/part\n", b"/rooms\n", b"/help\n", b"/msg observer hi\n",
    b"/msg alice offline note\n", b"/login alice secret\n", b"/login alice wrong\n", b"/quit\n",
    b"/bogus\n", b"/\n", b"\n", b"\r\n", b"caf\xc3\xa9\n", b"\xc3\n", b"\x00\x1b[31m\n", b"tab\there\n",
    b"\xe2\x80\xa8sep\n", b"x" * 5000 + b"\n", b"y" * 4096 + b"\r\n",
]
FRAGMENTS = st.one_of(st.sampled_from(COMMANDS), st.sampled_from(COMMANDS), st.binary(max_size=40),
                      st.text(max_size=20).map(lambda t: t.encode("utf-8", "surrogatepass")))


@st.composite
def streams(draw: st.DrawFn) -> tuple[bytes, list[bytes], list[float]]:
    data = b"".join(draw(st.lists(FRAGMENTS, max_size=40)))
    cuts = sorted(set(draw(st.lists(st.integers(0, len(data)), max_size=10))))
    bounds = [0, *cuts, len(data)]
    chunks = [data[a:b] for a, b in zip(bounds, bounds[1:])]
    steps = draw(st.lists(st.sampled_from([0.0, 0.0, 0.5, 5.0]), min_size=len(chunks), max_size=len(chunks)))
    return data, chunks, steps


def checkLines(output: bytes) -> list[str]:
    """
    @return: the lines of C{output}, each checked.
    @raise AssertionError: for a line that is not one well-formed chat line.
    """
    if not output:
        return []
    assert output.endswith(b"\n"), output[-80:]
    result = []
    for raw in output[:-1].split(b"\n"):
        assert raw.startswith(PREFIXES), raw[:80]
        text = raw.decode("utf-8")
        for char in text:
            assert unicodedata.category(char) not in ("Cc", "Zl", "Zp"), (raw[:80], char)
        result.append(text)
    return result


class ChatFuzzTests(SynchronousTestCase):
    """
    Properties of the chat protocol under arbitrary input.
    """

    def setUp(self) -> None:
        self.suite = makeSuite(self, **{"smtp.listen": [], "submission.listen": [], "pop3.listen": []})
        self.factory = self.suite.factories["chat"]
        self.observer = self.connect("127.0.0.2")
        self.observer[0].dataReceived(b"/nick observer\n")

    def connect(self, host: str) -> tuple:
        transport = peerTransport(host)
        protocol = self.factory.buildProtocol(transport.getPeer())
        protocol.makeConnection(transport)
        return protocol, transport

    def test_arbitraryStreams(self) -> None:
        """
        Any stream, cut anywhere: no exception, no logged error, only
        well-formed lines to anyone, and the room still works.
        """
        counter = ExampleCounter("chat.arbitraryStreams")

        @FUZZ
        @given(streams())
        def check(stream: tuple[bytes, list[bytes], list[float]]) -> None:
            counter()
            data, chunks, steps = stream
            observer, observed = self.observer
            with LoggedFailures() as watcher:
                protocol, transport = self.connect("127.0.0.1")
                for chunk, step in zip(chunks, steps):
                    if protocol.outputClosed:
                        break
                    protocol.dataReceived(chunk)
                    self.suite.reactor.advance(step)
                output = transport.value()
                protocol.connectionLost(Failure(ConnectionLost()))
                self.suite.reactor.advance(60)            # flood buckets refill
                observer.dataReceived(b"/who\n")
            noFailures(self, watcher, lambda: repr(data))
            checkLines(output)
            seen = checkLines(observed.value())
            observed.clear()
            self.assertTrue(seen and seen[-1].startswith("*** "), seen[-3:])
            self.assertFalse(observer.outputClosed)

        check()
        counter.report()
