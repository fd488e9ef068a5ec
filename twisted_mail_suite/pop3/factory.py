# -*- test-case-name: tests.pop3.test_connection,tests.pop3.test_protocol -*-
"""
The POP3 factory: one per suite, shared by every C{pop3} listener (plain
C{tcp:} with STLS, and C{ssl:} with implicit TLS).  It holds what the
connections share: the chassis (admission and the drain through a
L{ConnectionManager}, one L{IdleTracker} for every idle timeout), the
portal, the STLS options and whether APOP is offered (only when
C{pop3.apop} is on, and then only while some stored password allows it).
"""
from __future__ import annotations

from operator import methodcaller
from typing import Any, Callable

from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IReactorTime
from twisted.internet.protocol import ServerFactory
from zope.interface import implementer

from ..config import POP3Config
from ..interfaces import NULL_METRICS, IMetrics
from ..net.admission import ConnectionBudget
from ..net.transport import idnaHost
from ..net.idle import IdleTracker
from ..net.lifecycle import ConnectionManager, IDrainable
from ..registry import SuiteParts
from .protocol import POP3ServerProtocol

__all__ = ["POP3Factory", "makeFactory"]


@implementer(IDrainable)
class POP3Factory(ServerFactory):
    """
    Builds L{POP3ServerProtocol}s for one suite.

    @ivar config: the C{pop3} section (limits, idle timeout).
    @ivar hostname: the name in the greeting and the APOP timestamp.
    @ivar portal: checks logins (C{portal.session(address, secure)}).
    @ivar tls: the suite's L{twisted_mail_suite.net.tls.ServerTLS}; its
        C{options} (for STLS) are read per connection, as they exist only
        once the suite has started.
    @ivar manager: admission (total and per-address limits) and the drain.
    @ivar idle: the idle timeout of every connection, one timer for all.
    """

    protocol = POP3ServerProtocol
    APOP_RECHECK = 2.0   # seconds between looks at the users database for APOP

    def __init__(self, config: POP3Config, hostname: str, portal: Any,
                 apopAllowed: Callable[[], bool], tls: Any, clock: IReactorTime,
                 budget: ConnectionBudget | None = None, role: str = "pop3",
                 metrics: IMetrics = NULL_METRICS) -> None:
        """
        @param apopAllowed: does some user's stored password allow APOP
            (C{PasswordChecker.anyAllowsHashedCredentials})?  Asked at most
            every L{APOP_RECHECK} seconds, and only if C{config.apop}.
        @param budget: the process's connection budget, shared with the
            other protocols (L{None}: only this factory's limits).
        @param role: the name its connections and logins are counted
            under in C{metrics} (L{IMetrics}).
        """
        self.config = config
        self.role = role
        self.hostname = idnaHost(hostname)
        self.portal = portal
        self.tls = tls
        self.clock = clock
        self.manager = ConnectionManager.forSection(clock, config, budget, metrics=metrics, protocol=role)
        self.idle = IdleTracker(clock, config.idle_timeout, methodcaller("idleExpired"))
        self._apopAllowed = apopAllowed
        self._apop: tuple[float, bool] | None = None

    def buildProtocol(self, addr: Any) -> POP3ServerProtocol:
        return self.protocol(self)

    @property
    def connections(self) -> int:
        """
        The number of admitted connections not yet gone.
        """
        return self.manager.registry.connections

    def drain(self, timeout: float) -> Deferred[None]:
        """
        Graceful shutdown (after the listeners closed; L{IDrainable}): new
        connections are refused, every connection finishes what it is
        doing and closes; after C{timeout} seconds the rest are aborted.
        Nothing marked for deletion without QUIT is deleted.

        @return: a Deferred firing when every connection is gone.
        """
        return self.manager.drain(timeout)

    def apopOffered(self) -> bool:
        """
        Is APOP configured (C{pop3.apop}, off by default: APOP is an MD5
        challenge over a password stored in the clear) and does some
        user's stored password allow it (rechecked every few seconds, so a
        changed users file is noticed)?
        """
        if not self.config.apop:
            return False
        now = self.clock.seconds()
        if self._apop is None or now - self._apop[0] >= self.APOP_RECHECK:
            self._apop = (now, self._apopAllowed())
        return self._apop[1]


def makeFactory(parts: SuiteParts, role: str = "pop3") -> POP3Factory:
    """
    The factory the registry names: one per suite, shared by every
    C{pop3.listen} endpoint.
    """
    return POP3Factory(
        config=getattr(parts.config, role), hostname=parts.config.hostname, portal=parts.portal,
        apopAllowed=parts.portal.checker.anyAllowsHashedCredentials, tls=parts.tls, clock=parts.clock,
        budget=parts.budget, role=role, metrics=parts.metrics)
