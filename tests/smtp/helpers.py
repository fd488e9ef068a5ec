# -*- test-case-name: tests.smtp.test_protocol -*-
"""
Helpers for the SMTP protocol tests: a TLS-capable C{StringTransport}, a
store whose commits the test fires by hand, and a client-side view of one
connection.
"""
from __future__ import annotations

import os
from typing import Any

from twisted.internet.address import IPv4Address
from twisted.internet.defer import Deferred
from twisted.internet.interfaces import ISSLTransport, ITLSTransport
from twisted.internet.testing import StringTransport
from zope.interface import alsoProvides, implementer

from ..fakes import maildirOf, makeSuite, peerTransport


@implementer(ITLSTransport)
class TLSStringTransport(StringTransport):
    """
    A C{StringTransport} that can start TLS: it records the context
    factory and from then on provides C{ISSLTransport}.
    """

    def __init__(self, host: str = "127.0.0.1", secure: bool = False) -> None:
        super().__init__(peerAddress=IPv4Address("TCP", host, 40000),
                         hostAddress=IPv4Address("TCP", "127.0.0.1", 25))
        self.tlsContext: Any = None
        self.noDelay = False
        if secure:
            alsoProvides(self, ISSLTransport)

    def startTLS(self, contextFactory: Any) -> None:
        self.tlsContext = contextFactory
        alsoProvides(self, ISSLTransport)

    def setTcpNoDelay(self, enabled: bool) -> None:
        self.noDelay = enabled


class ReaderTransport(TLSStringTransport):
    """
    A L{TLSStringTransport} that treats its streaming producer as Twisted's
    TCP transport does: a write that takes what it holds past
    L{highWater} pauses the producer (once); L{drain} (the client reads
    everything) resumes it.  L{feed} delivers input only while the
    protocol has not paused reading, as the reactor would.
    """

    highWater = 64 * 1024        # twisted.internet.abstract.FileDescriptor.bufferSize
    producerPaused = False

    def write(self, data: bytes) -> None:
        super().write(data)
        if (self.producer is not None and self.streaming and not self.producerPaused
                and self.io.tell() > self.highWater):
            self.producerPaused = True
            self.producer.pauseProducing()

    @property
    def held(self) -> int:
        """
        Octets written and not yet taken by the client.
        """
        return self.io.tell()

    def drain(self) -> bytes:
        """
        The client takes everything written so far.
        """
        data = self.value()
        self.clear()
        if self.producerPaused and self.producer is not None:
            self.producerPaused = False
            self.producer.resumeProducing()
        return data

    def feed(self, protocol: Any, data: bytes, chunk: int = 64 * 1024) -> int:
        """
        Deliver C{data} in reads of C{chunk} octets while reading is not
        paused.

        @return: how many octets were delivered.
        """
        fed = 0
        while fed < len(data) and self.producerState == "producing" and not self.disconnecting:
            protocol.dataReceived(data[fed:fed + chunk])
            fed += len(data[fed:fed + chunk])
        return fed


class ManualCommitStore:
    """
    Wraps a store: every commit waits until the test calls L{release}.
    """

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.waiting: list[tuple[Deferred, Any]] = []

    def beginDelivery(self, users: Any, sender: str = "", subject: str = "") -> Any:
        pending = self.inner.beginDelivery(users, sender, subject)
        store = self

        class Delayed:
            size = 0

            def write(self, data: bytes) -> None:
                pending.write(data)

            def commit(self) -> Deferred:
                d: Deferred = Deferred()
                store.waiting.append((d, pending))
                return d

            def abort(self) -> None:
                pending.abort()

        return Delayed()

    def release(self) -> None:
        d, pending = self.waiting.pop(0)
        pending.commit().chainDeferred(d)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


class Client:
    """
    One server connection seen from the client: C{send} bytes, get back
    the reply lines written since the last call.
    """

    def __init__(self, suite: Any, role: str = "smtp", transport: Any = None) -> None:
        self.suite = suite
        self.factory = suite.factories[role]
        self.transport = transport if transport is not None else TLSStringTransport()
        self.protocol = self.factory.buildProtocol(self.transport.getPeer())
        self.protocol.makeConnection(self.transport)

    def replies(self) -> list[bytes]:
        data = self.transport.value()
        self.transport.clear()
        return data.split(b"\r\n")[:-1]

    def send(self, data: bytes) -> list[bytes]:
        self.protocol.dataReceived(data)
        return self.replies()

    def codes(self, data: bytes) -> list[bytes]:
        """
        The final-line codes (C{b"250 2.1.0"}) of the replies to C{data}.
        """
        return [b" ".join(line.split(b" ")[:2]) if line[4:5].isdigit() else line[:3]
                for line in self.send(data) if line[3:4] != b"-"]

    @property
    def closed(self) -> bool:
        return bool(self.transport.disconnecting)

    def greet(self, name: bytes = b"client.test") -> list[bytes]:
        self.replies()
        return self.send(b"EHLO " + name + b"\r\n")


def newSuite(testCase: Any, **overrides: Any) -> Any:
    return makeSuite(testCase, **overrides)


def storedMessages(suite: Any, user: str) -> list[bytes]:
    result = []
    maildir = maildirOf(suite)
    for message in maildir.storedMessages(user):
        with maildir.openStored(user, message.uid) as f:
            result.append(f.read())
    return result


def tmpFiles(suite: Any, user: str) -> list[str]:
    folder = os.path.join(suite.config.mailDir, user, "tmp")
    return os.listdir(folder) if os.path.isdir(folder) else []


__all__ = ["TLSStringTransport", "ReaderTransport", "ManualCommitStore", "Client", "newSuite", "storedMessages",
           "tmpFiles", "peerTransport"]
