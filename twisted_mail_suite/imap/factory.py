# -*- test-case-name: tests.imap.test_protocol -*-
"""
The IMAP factory: one per suite, shared by every C{imap} listener (plain
C{tcp:} with STARTTLS, C{ssl:} with implicit TLS).  It holds what the
connections share: the chassis (admission and the drain through a
L{ConnectionManager}, one L{IdleTracker} for every idle timeout), the
portal, the TLS options, and who is logged in, so that new mail announced
on the bus (C{NewMailEvent}) reaches the user's sessions at once.
"""
from __future__ import annotations

from operator import methodcaller
from typing import Any

from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IReactorTime
from twisted.internet.protocol import ServerFactory
from zope.interface import implementer

from ..config import IMAPConfig
from ..events import NewMailEvent
from ..interfaces import NULL_METRICS, IEventBus, IMetrics
from ..net.admission import ConnectionBudget
from ..net.transport import idnaHost
from ..net.idle import IdleTracker
from ..net.lifecycle import ConnectionManager, IDrainable
from ..registry import SuiteParts
from .protocol import IMAPServerProtocol

__all__ = ["IMAPFactory", "makeFactory"]


@implementer(IDrainable)
class IMAPFactory(ServerFactory):
    """
    Builds L{IMAPServerProtocol}s for one suite.

    @ivar config: the C{imap} section (limits, idle timeout).
    @ivar hostname: the name in the greeting.
    @ivar portal: checks logins (C{portal.session(address, secure)}).
    @ivar tls: the suite's L{twisted_mail_suite.net.tls.ServerTLS}; its
        C{options} (for STARTTLS) exist once the suite has started.
    @ivar manager: admission (total and per-address limits) and the drain.
    @ivar idle: the idle timeout of every connection, one timer for all.
    """

    protocol = IMAPServerProtocol

    def __init__(self, config: IMAPConfig, hostname: str, portal: Any, tls: Any, clock: IReactorTime,
                 bus: IEventBus | None = None, budget: ConnectionBudget | None = None, role: str = "imap",
                 metrics: IMetrics = NULL_METRICS) -> None:
        """
        @param bus: where new mail is announced (L{None}: IDLE hears of
            deliveries at the client's next command only).
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
        self._sessions: dict[str, set[Any]] = {}
        if bus is not None:
            bus.subscribe(NewMailEvent, self._newMail)

    def buildProtocol(self, addr: Any) -> IMAPServerProtocol:
        return self.protocol(self)

    @property
    def connections(self) -> int:
        return self.manager.registry.connections

    def drain(self, timeout: float) -> Deferred[None]:
        """
        Graceful shutdown (L{IDrainable}): refuse new connections, let each
        finish its command and say BYE; abort the rest after C{timeout}.
        """
        return self.manager.drain(timeout)

    def watch(self, user: str, session: Any) -> None:
        """
        C{session} is logged in as C{user}: tell it of C{user}'s new mail.
        """
        self._sessions.setdefault(user, set()).add(session)

    def unwatch(self, user: str, session: Any) -> None:
        sessions = self._sessions.get(user)
        if sessions is not None:
            sessions.discard(session)
            if not sessions:
                del self._sessions[user]

    def _newMail(self, event: NewMailEvent) -> None:
        for session in list(self._sessions.get(event.user, ())):
            session.newMail()


def makeFactory(parts: SuiteParts, role: str = "imap") -> IMAPFactory:
    """
    The factory the registry names: one per suite, shared by every
    C{imap.listen} endpoint.
    """
    return IMAPFactory(config=getattr(parts.config, role), hostname=parts.config.hostname,
                       portal=parts.portal, tls=parts.tls, clock=parts.clock, bus=parts.bus,
                       budget=parts.budget, role=role, metrics=parts.metrics)
