# -*- test-case-name: tests.chat -*-
"""
Shared helpers for the chat unit tests: a chat factory on a whole fake suite
(L{tests.fakes.makeSuite}), clients on C{StringTransport}s, and a transport
whose peer stops reading, or reads at a pace.
"""
from __future__ import annotations

from typing import Any, Mapping

from twisted.internet.address import IPv4Address, IPv6Address
from twisted.internet.testing import StringTransport

from tests.fakes import makeSuite
from twisted_mail_suite.chat.factory import ChatFactory
from twisted_mail_suite.chat.protocol import ChatProtocol

# Only the chat listens in these suites: the other protocols are not needed.
_ONLY_CHAT = {"smtp.listen": [], "submission.listen": [], "pop3.listen": []}


def chatSuite(testCase: Any, overrides: dict[str, Any] | None = None,
              users: Mapping[str, str] | None = None, **chat: Any) -> tuple[Any, ChatFactory]:
    """
    A fake suite whose C{chat} section has the given keys (plus any other
    dotted C{overrides}) and the given C{users} (name: password; by default
    the fakes' alice and bob), and its chat factory, started (nothing listens).
    """
    dotted: dict[str, Any] = dict(_ONLY_CHAT)
    dotted.update({f"chat.{key}": value for key, value in chat.items()})
    dotted.update(overrides or {})
    suite = makeSuite(testCase, users, **dotted)
    factory = suite.factories["chat"]
    factory.doStart()           # as its first listener would: the new-mail subscription
    return suite, factory


class StallingTransport(StringTransport):
    """
    Like a TCP transport whose peer stopped reading: once more than
    C{bufferSize} bytes are unsent, it pauses its streaming producer, and
    resumes it only when L{drain} is called.
    """

    bufferSize = 64 * 1024

    def __init__(self, host: str = "127.0.0.1") -> None:
        peer = IPv6Address("TCP", host, 40000) if ":" in host else IPv4Address("TCP", host, 40000)
        super().__init__(peerAddress=peer, hostAddress=IPv4Address("TCP", "127.0.0.1", 7000))
        self.producerPaused = False
        self.aborted = False

    def write(self, data: bytes) -> None:
        super().write(data)
        if (self.producer is not None and self.streaming and not self.producerPaused
                and len(self.io.getvalue()) > self.bufferSize):
            self.producerPaused = True
            self.producer.pauseProducing()

    def drain(self) -> bytes:
        data = self.value()
        self.clear()
        if self.producerPaused and self.producer is not None:
            self.producerPaused = False
            self.producer.resumeProducing()
        return data

    def abortConnection(self) -> None:
        self.aborted = True
        super().abortConnection()


class PacedTransport(StallingTransport):
    """
    A L{StallingTransport} whose peer reads at its own pace: L{read} takes
    at most C{size} bytes of what is unsent (and, as a TCP transport, it
    resumes its producer once it has sent everything).
    """

    def __init__(self, host: str = "127.0.0.1") -> None:
        super().__init__(host)
        self.taken = 0

    def read(self, size: int) -> bytes:
        data = self.value()
        taken, rest = data[:size], data[size:]
        self.clear()
        self.io.write(rest)
        self.taken += len(taken)
        if self.producerPaused and self.producer is not None and not rest:
            self.producerPaused = False
            self.producer.resumeProducing()
        return taken


class Client:
    """
    One chat connection driven by a test: L{send} lines, read L{lines}.
    """

    def __init__(self, factory: ChatFactory, host: str = "127.0.0.1",
                 transport: StringTransport | None = None) -> None:
        self.factory = factory
        self.transport = transport if transport is not None else StallingTransport(host)
        self.protocol: ChatProtocol = factory.buildProtocol(self.transport.getPeer())
        self.protocol.makeConnection(self.transport)

    def send(self, *textLines: str | bytes) -> None:
        for line in textLines:
            data = line if isinstance(line, bytes) else line.encode("utf-8")
            self.protocol.dataReceived(data + b"\n")

    def lines(self) -> list[str]:
        """
        The lines received since the last call.
        """
        data = self.transport.value()
        self.transport.clear()
        return [line.decode("utf-8") for line in data.split(b"\n")[:-1]]

    def disconnect(self) -> None:
        from twisted.internet.error import ConnectionDone
        from twisted.python.failure import Failure

        self.protocol.connectionLost(Failure(ConnectionDone()))

    @property
    def closing(self) -> bool:
        return bool(self.transport.disconnecting)

    @property
    def name(self) -> str | None:
        return self.protocol.name
