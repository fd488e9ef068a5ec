# -*- test-case-name: tests.imap.test_protocol -*-
"""
Shared helpers for the IMAP tests: a whole suite on a fake clock, a
client driving the protocol over a fake TCP transport, and mail put into
mailboxes through the store.
"""
from __future__ import annotations

import base64
import re
from typing import Any

from twisted.internet.interfaces import INegotiated
from zope.interface import alsoProvides

from tests.fakes import makeSuite
from tests.pop3.support import REMOTE, FakeTCPTransport, deliver, storeFile

__all__ = ["REMOTE", "Client", "deliver", "newSuite", "plain", "storeFile", "MESSAGE"]

MESSAGE = (b"From: Bob <bob@example.test>\r\nTo: alice@example.test\r\nSubject: Hello\r\n"
           b"Date: Tue, 2 Jan 2024 10:00:00 +0000\r\nMessage-ID: <m1@example.test>\r\n\r\nHi Alice!\r\n")


def plain(user: bytes, password: bytes) -> bytes:
    return base64.b64encode(b"\0" + user + b"\0" + password)


def newSuite(testCase: Any, **overrides: Any) -> Any:
    """
    A suite for IMAP tests (alice/secret and bob/hunter2).
    """
    return makeSuite(testCase, **overrides)


class Client:
    """
    One IMAP connection to C{suite}'s IMAP factory over a fake transport.
    """

    def __init__(self, suite: Any, host: str = "127.0.0.1", secure: bool = False,
                 transport: Any = None) -> None:
        self.suite = suite
        self.transport = transport if transport is not None else FakeTCPTransport(host)
        if secure:
            alsoProvides(self.transport, INegotiated)
        self.protocol = suite.factories["imap"].buildProtocol(self.transport.getPeer())
        self.protocol.makeConnection(self.transport)
        self.greeting = self.take()
        self._tags = 0

    def take(self) -> bytes:
        data = self.transport.value()
        self.transport.clear()
        return data

    def raw(self, data: bytes) -> bytes:
        """
        Send C{data} as it is; return the server's output.
        """
        self.protocol.dataReceived(data)
        return self.take()

    def send(self, line: bytes) -> bytes:
        """
        Send one line (CRLF added); return the server's output.
        """
        return self.raw(line + b"\r\n")

    def command(self, text: bytes) -> tuple[list[bytes], bytes]:
        """
        Send a tagged command; return its untagged lines and its tagged
        status (C{b"OK ..."}), failing if no tagged line came back.
        """
        self._tags += 1
        tag = b"t%d" % self._tags
        out = self.send(tag + b" " + text)
        return split(out, tag)

    def ok(self, text: bytes) -> list[bytes]:
        """
        Like L{command}, asserting the status is OK; return the untagged lines.
        """
        lines, status = self.command(text)
        assert status.startswith(b"OK"), (text, lines, status)
        return lines

    def login(self, user: bytes = b"alice", password: bytes = b"secret") -> bytes:
        lines, status = self.command(b"LOGIN " + user + b" " + password)
        return status

    def select(self, name: bytes = b"INBOX") -> list[bytes]:
        return self.ok(b"SELECT " + name)

    @property
    def closed(self) -> bool:
        return bool(self.transport.disconnecting)

    def drop(self) -> None:
        from twisted.internet.error import ConnectionLost
        from twisted.python.failure import Failure

        self.protocol.connectionLost(Failure(ConnectionLost()))


def split(output: bytes, tag: bytes) -> tuple[list[bytes], bytes]:
    """
    The untagged part of C{output} as lines (literals kept inside their
    line) and the status of C{tag}'s tagged line.
    """
    lines: list[bytes] = []
    rest = output
    current = b""
    while rest:
        end = rest.find(b"\r\n")
        if end < 0:
            current += rest
            break
        line, rest = rest[:end], rest[end + 2:]
        literal = re.search(rb"\{(\d+)\}$", line)
        if literal:
            size = int(literal.group(1))
            current += line + b"\r\n" + rest[:size]
            rest = rest[size:]
            continue
        current += line
        if current.startswith(tag + b" "):
            return lines, current[len(tag) + 1:]
        lines.append(current)
        current = b""
    raise AssertionError(f"no tagged reply for {tag!r} in {output!r}")
