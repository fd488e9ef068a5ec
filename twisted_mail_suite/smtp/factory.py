# -*- test-case-name: tests.smtp.test_limits -*-
"""
The SMTP protocol factory: one class for both roles (C{smtp}: MX, AUTH
optional; C{submission}: AUTH required), built from explicit dependencies.
Admission (the connection limits) and the graceful shutdown are the
chassis's L{ConnectionManager}; the command and DATA timeouts one
L{IdleTracker} with two lanes.
"""
from __future__ import annotations

from operator import methodcaller
from typing import Any

from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IReactorTime
from twisted.internet.protocol import Factory
from zope.interface import implementer

from ..config import SMTPConfig
from ..proxyconfig import ProxyConfig
from ..delivery import DeliveryTarget
from ..interfaces import NULL_METRICS, IMetrics
from ..net.admission import ConnectionBudget
from ..net.transport import idnaHost
from ..net.idle import IdleTracker
from ..net.lifecycle import ConnectionManager, IDrainable
from ..registry import SuiteParts
from .protocol import SMTPServer
from .proxied import ProxiedSMTPServer

__all__ = ["SMTPFactory", "makeFactory"]

ROLES = ("smtp", "submission")


@implementer(IDrainable)
class SMTPFactory(Factory):
    """
    Builds L{SMTPServer}s for one listener role (provides the
    L{twisted_mail_suite.smtp.connection.SMTPContext} they read).

    @param config: the role's config section.
    @param hostname: the server's name in replies (ASCII, IDNA-encoded).
    @param portal: the suite's portal.
    @param target: where every connection's messages go.
    @param tls: the server's TLS (its C{options} are read at EHLO and
        STARTTLS, so they may appear after the factory is built), or
        L{None} for no STARTTLS.
    @param clock: the idle timeouts and the shutdown's delays.
    @param authRequired: MAIL needs AUTH first (submission).
    @param budget: the process's connection budget, shared with the other
        protocols (L{None}: only this factory's limits).
    @param proxy: the C{proxy} section (its C{trusted} peers may send
        XCLIENT), or L{None}: no XCLIENT.
    @param role: the listener role (C{smtp} or C{submission}), the name
        its connections and logins are counted under.
    @param metrics: what its connections count (L{IMetrics}).

    @ivar manager: admission (C{manager.registry} counts the connections)
        and the drain.
    @ivar idle: the command timeout (default lane), the DATA timeout and
        the close grace; it keeps its timer between connections.
    """

    protocol = SMTPServer

    def __init__(self, config: SMTPConfig, hostname: bytes, portal: Any, target: DeliveryTarget,
                 tls: Any, clock: IReactorTime, authRequired: bool = False,
                 budget: ConnectionBudget | None = None, proxy: ProxyConfig | None = None, role: str = "smtp",
                 metrics: IMetrics = NULL_METRICS) -> None:
        self.config = config
        self.proxy = proxy
        self.role = role
        self.metrics = metrics
        self.hostname = hostname
        self.portal = portal
        self.target = target
        self.tls = tls
        self.clock = clock
        self.authRequired = authRequired
        self.manager = ConnectionManager.forSection(clock, config, budget, metrics=metrics, protocol=role)
        # keepTimer: a connection per message would otherwise make and cancel a delayed call each.
        self.idle = IdleTracker(clock, config.command_timeout, methodcaller("idleExpired"), keepTimer=True)

    def buildProtocol(self, addr: Any) -> SMTPServer:
        proxy, host = self.proxy, getattr(addr, "host", None)
        if proxy is not None and proxy.trusted and host and proxy.isTrusted(host):
            return ProxiedSMTPServer(self)      # nginx: ACK at once (see smtp/proxied.py)
        return self.protocol(self)

    def drain(self, timeout: float) -> Deferred:
        """
        Graceful shutdown (L{IDrainable}; the listeners are closed
        already): see L{ConnectionManager.drain} and
        L{SMTPServer.shutdown}/L{SMTPServer.abandon}.  Once every
        connection is gone, the idle timer goes too.
        """
        return self.manager.drain(timeout).addCallback(lambda _: self.idle.stop())


def makeFactory(parts: SuiteParts, role: str) -> SMTPFactory:
    """
    The factory for C{role} (C{"smtp"} or C{"submission"}), from the
    suite's parts (the registry's maker).
    """
    if role not in ROLES:
        raise ValueError(f"unknown SMTP role {role!r}")
    return SMTPFactory(
        config=getattr(parts.config, role), hostname=idnaHost(parts.config.hostname),
        portal=parts.portal, target=DeliveryTarget(parts.store, parts.outbound, parts.metrics), tls=parts.tls,
        clock=parts.clock, authRequired=role == "submission", budget=parts.budget, proxy=parts.config.proxy, role=role,
        metrics=parts.metrics)
