# -*- test-case-name: tests.pop3.test_protocol -*-
"""
The POP3 factory: one per suite, shared by every C{pop3} listener (plain
C{tcp:} with STLS, and C{ssl:} with implicit TLS).  It counts connections
against the configured limits, knows whether APOP is offered, and drains
the connections at shutdown.
"""
from __future__ import annotations

from collections import Counter
from typing import Any

from twisted.internet.defer import Deferred, DeferredList, succeed
from twisted.internet.protocol import ServerFactory
from twisted.logger import Logger
from zope.interface import implementer

from ..net.lifecycle import IDrainable
from .protocol import POP3ServerProtocol

__all__ = ["POP3Factory"]


@implementer(IDrainable)
class POP3Factory(ServerFactory):
    """
    Builds L{POP3ServerProtocol}s for one suite; counts connections (total
    and per client address) against the configured limits.
    """

    protocol = POP3ServerProtocol
    log = Logger()
    APOP_RECHECK = 2.0   # seconds between looks at the users database for APOP

    def __init__(self, suite: Any) -> None:
        self.suite = suite
        self.protocols: set[POP3ServerProtocol] = set()
        self.config = suite.config.pop3
        self.clock = getattr(suite, "clock", None) or suite.reactor
        try:
            self.hostname = suite.config.hostname.encode("idna")
        except UnicodeError:
            self.hostname = suite.config.hostname.encode("ascii", "replace")
        self.connections = 0
        self.perAddress: Counter[str] = Counter()
        self._apop: tuple[float, bool] | None = None

    def buildProtocol(self, addr: Any) -> POP3ServerProtocol:
        return POP3ServerProtocol(self)

    def admit(self, address: str) -> bool:
        """
        Count a new connection from C{address}, unless a limit is reached.
        """
        if (self.config.max_connections and self.connections >= self.config.max_connections) \
                or (self.config.max_connections_per_ip
                    and self.perAddress[address] >= self.config.max_connections_per_ip):
            self.log.warn("POP3 connection from {address} refused: too many connections",
                          address=address)
            return False
        self.connections += 1
        self.perAddress[address] += 1
        return True

    def release(self, address: str) -> None:
        self.connections -= 1
        self.perAddress[address] -= 1
        if self.perAddress[address] <= 0:
            del self.perAddress[address]

    def drain(self, timeout: float) -> Deferred:
        """
        Graceful shutdown (after the listeners closed): every connection
        finishes what it is doing and closes; after C{timeout} seconds the
        rest are aborted.  Nothing marked for deletion without QUIT is
        deleted.

        @return: a Deferred firing when every connection is gone.
        """
        protocols = list(self.protocols)
        if not protocols:
            return succeed(None)
        d = DeferredList([protocol.shutdown() for protocol in protocols], consumeErrors=True)

        def giveUp() -> None:
            for protocol in list(self.protocols):
                self.log.warn("POP3 connection from {peer} aborted at shutdown", peer=protocol.peer)
                protocol.transport.abortConnection()

        timer = self.clock.callLater(timeout, giveUp)

        def finished(result: object) -> None:
            if timer.active():
                timer.cancel()

        return d.addBoth(finished)

    def apopOffered(self) -> bool:
        """
        Does some user's stored password allow APOP (rechecked every few
        seconds, so a changed users file is noticed)?
        """
        now = self.clock.seconds()
        if self._apop is None or now - self._apop[0] >= self.APOP_RECHECK:
            self._apop = (now, self.suite.portal.checker.anyAllowsHashedCredentials())
        return self._apop[1]


def makeFactory(parts: Any, role: str = "pop3") -> POP3Factory:
    """
    The factory the registry names: one per suite, shared by every
    C{pop3.listen} endpoint.
    """
    return POP3Factory(parts)
