# -*- test-case-name: tests.pop3.test_protocol -*-
"""
Shared helpers for the POP3 tests: a transport that can start TLS and set
TCP_NODELAY, a connected protocol driven by bytes, fixture messages and a
way to put mail into a mailbox through the store.
"""
from __future__ import annotations

import base64
import os
from typing import Any

from twisted.internet.address import IPv4Address
from twisted.internet.interfaces import INegotiated, ITCPTransport, ITLSTransport
from twisted.internet.testing import StringTransport
from zope.interface import alsoProvides, implementer

from tests.fakes import makeSuite

REMOTE = "192.0.2.10"   # a non-loopback client address (TEST-NET-1)
APOP_ON = {"pop3.apop": True}   # newSuite(self, **APOP_ON): APOP offered (it is off by default)


def plain(user: bytes, password: bytes, authzid: bytes = b"") -> bytes:
    """
    A SASL PLAIN response, base64-encoded.
    """
    return base64.b64encode(authzid + b"\0" + user + b"\0" + password)


# Fixture messages as delivered (CRLF wire form) and what RETR must send.
DOTTED = (b"Subject: dots\r\n\r\n.starts with a dot\r\n..two dots\r\n.\r\nmiddle . dot\r\n"
          b"end\r\n")
DOTTED_RETR = (b"Subject: dots\r\n\r\n..starts with a dot\r\n...two dots\r\n..\r\nmiddle . dot\r\n"
               b"end\r\n.\r\n")
EIGHT_BIT = b"Subject: =?utf-8?q?caf=C3=A9?=\r\n\r\ncaf\xc3\xa9 \x80\xff\x00 binary\r\n"
NO_NEWLINE = b"Subject: unterminated\r\n\r\nno newline at the end"
LONG_BODY = b"Subject: long\r\n\r\n" + b"".join(b"line %d\r\n" % i for i in range(1, 21))


@implementer(ITLSTransport, ITCPTransport)
class FakeTCPTransport(StringTransport):
    """
    A C{StringTransport} that looks like a TCP connection which can start
    TLS: records C{setTcpNoDelay} and C{startTLS} calls.
    """

    def __init__(self, host: str = "127.0.0.1") -> None:
        super().__init__(peerAddress=IPv4Address("TCP", host, 40000),
                         hostAddress=IPv4Address("TCP", "127.0.0.1", 110))
        self.noDelay = False
        self.tlsOptions: Any = None
        self.writtenBeforeTLS: bytes | None = None

    def setTcpNoDelay(self, enabled: bool) -> None:
        self.noDelay = enabled

    def getTcpNoDelay(self) -> bool:
        return self.noDelay

    def setTcpKeepAlive(self, enabled: bool) -> None:
        pass

    def getTcpKeepAlive(self) -> bool:
        return False

    def loseWriteConnection(self) -> None:
        self.loseConnection()

    def startTLS(self, contextFactory: Any, normal: bool = True) -> None:
        self.tlsOptions = contextFactory
        self.writtenBeforeTLS = self.value()
        alsoProvides(self, INegotiated)


class Client:
    """
    One POP3 connection to C{suite}'s POP3 factory over a fake transport.
    """

    def __init__(self, suite: Any, host: str = "127.0.0.1", secure: bool = False,
                 transport: StringTransport | None = None) -> None:
        self.suite = suite
        self.transport = transport if transport is not None else FakeTCPTransport(host)
        if secure:
            alsoProvides(self.transport, INegotiated)
        self.protocol = suite.factories["pop3"].buildProtocol(self.transport.getPeer())
        self.protocol.makeConnection(self.transport)
        self.greeting = self.take()

    def take(self) -> bytes:
        """
        Everything the server wrote since the last call.
        """
        data = self.transport.value()
        self.transport.clear()
        return data

    def send(self, *lines: bytes) -> bytes:
        """
        Send C{lines} (CRLF added) in one segment; return the server's output.
        """
        self.protocol.dataReceived(b"".join(line + b"\r\n" for line in lines))
        return self.take()

    def login(self, user: bytes = b"alice", password: bytes = b"secret") -> bytes:
        return self.send(b"USER " + user, b"PASS " + password)

    @property
    def closed(self) -> bool:
        return bool(self.transport.disconnecting)

    def drop(self) -> None:
        """
        The client goes away without QUIT.
        """
        from twisted.internet.error import ConnectionLost
        from twisted.python.failure import Failure

        self.protocol.connectionLost(Failure(ConnectionLost()))


def newSuite(testCase: Any, **overrides: Any) -> Any:
    """
    A suite for POP3 tests (alice/secret and bob/hunter2, PLAIN-stored).
    """
    return makeSuite(testCase, **overrides)


def holdPasswordChecks(suite: Any) -> list[Any]:
    """
    Make password checks wait: each check appends a Deferred to the list
    returned, to be fired with the check's outcome (C{True} for a right
    password).  Only the first check is held; later ones run at once.
    """
    from twisted.internet.defer import Deferred, maybeDeferred

    checker = suite.portal.checker
    original = checker._runInThread
    held: list[Deferred] = []

    def runInThread(f: Any, *args: Any) -> Deferred:
        if held:
            return maybeDeferred(f, *args)
        held.append(Deferred())
        return held[-1]

    checker._runInThread = runInThread
    return held


def deliver(suite: Any, user: str, data: bytes) -> str:
    """
    Put C{data} (CRLF wire form) into C{user}'s mailbox through the store.

    @return: the new message's UID.
    """
    delivery = suite.store.beginDelivery([user])
    delivery.write(data)
    result: list[list[str]] = []
    delivery.commit().addCallback(result.append)
    assert result, "the fake store commits synchronously"
    return result[0][0]


def storeFile(suite: Any, user: str, name: str, data: bytes, folder: str = "new") -> str:
    """
    Put a file into C{user}'s Maildir as another program would (no size
    fields in its name, stored bytes as given).
    """
    path = os.path.join(suite.config.mailDir, user, folder)
    for sub in ("tmp", "new", "cur"):
        os.makedirs(os.path.join(suite.config.mailDir, user, sub), exist_ok=True)
    full = os.path.join(path, name)
    with open(full, "wb") as f:
        f.write(data)
    return full


def maildirFiles(suite: Any, user: str) -> dict[str, list[str]]:
    """
    The file names in C{user}'s C{new/} and C{cur/}.
    """
    root = os.path.join(suite.config.mailDir, user)
    return {sub: sorted(os.listdir(os.path.join(root, sub))) for sub in ("new", "cur")}
