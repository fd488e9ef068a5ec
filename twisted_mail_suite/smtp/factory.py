# -*- test-case-name: tests.smtp.test_limits -*-
"""
The SMTP protocol factory: one class for both roles (C{smtp}: MX, AUTH
optional; C{submission}: AUTH required), connection counting for the
limits in total and per client address, and graceful shutdown.
"""
from __future__ import annotations

from typing import Any

from twisted.internet.defer import Deferred, DeferredList, succeed
from twisted.internet.protocol import Factory
from zope.interface import implementer

from ..net.lifecycle import IDrainable
from .protocol import SMTPServer

__all__ = ["SMTPFactory", "makeFactory"]


@implementer(IDrainable)
class SMTPFactory(Factory):
    """
    Builds L{SMTPServer}s for one role and counts their connections.

    @ivar connections: open connections in total.
    @ivar perAddress: open connections per client address.
    """

    def __init__(self, suite: Any, role: str) -> None:
        self.suite = suite
        self.role = role
        self.config = getattr(suite.config, role)
        self.authRequired = role == "submission"
        self.connections = 0
        self.perAddress: dict[str, int] = {}
        self.protocols: set[SMTPServer] = set()
        self.draining = False

    def buildProtocol(self, addr: Any) -> SMTPServer:
        return SMTPServer(self)

    def admit(self, host: str, protocol: SMTPServer | None = None) -> str | None:
        """
        Count a new connection from C{host}.

        @return: L{None} to serve it, or why it is refused (it still
            counts until L{release}).
        """
        if protocol is not None:
            self.protocols.add(protocol)
        self.connections += 1
        count = self.perAddress[host] = self.perAddress.get(host, 0) + 1
        if self.draining:
            return "shutting down"
        if self.config.max_connections and self.connections > self.config.max_connections:
            return "too many connections"
        if self.config.max_connections_per_ip and count > self.config.max_connections_per_ip:
            return "too many connections from this address"
        return None

    def release(self, host: str, protocol: SMTPServer | None = None) -> None:
        self.protocols.discard(protocol)  # type: ignore[arg-type]
        self.connections -= 1
        count = self.perAddress.get(host, 0) - 1
        if count > 0:
            self.perAddress[host] = count
        else:
            self.perAddress.pop(host, None)


    def drain(self, timeout: float) -> Deferred:
        """
        Graceful shutdown (the listeners are closed already): every
        connection finishes the message in hand and closes; after
        C{timeout} seconds the rest get 421 and are closed (see
        L{SMTPServer.abandon}), keeping nothing half-written.

        @return: a Deferred firing when every connection is gone.
        """
        self.draining = True
        protocols = list(self.protocols)
        if not protocols:
            return succeed(None)
        clock = getattr(self.suite, "clock", None) or self.suite.reactor

        def giveUp() -> None:
            for protocol in list(self.protocols):
                protocol.log.warn("SMTP connection from {peer} abandoned at shutdown", peer=protocol.peerHost)
                protocol.abandon()

        timer = clock.callLater(timeout, giveUp)

        def finished(result: object) -> None:
            if timer.active():
                timer.cancel()

        return DeferredList([p.shutdown() for p in protocols], consumeErrors=True).addBoth(finished)


def makeFactory(suite: Any, role: str) -> SMTPFactory:
    """
    The factory for C{role} (C{"smtp"} or C{"submission"}).
    """
    if role not in ("smtp", "submission"):
        raise ValueError(f"unknown SMTP role {role!r}")
    return SMTPFactory(suite, role)
