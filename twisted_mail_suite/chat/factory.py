# -*- test-case-name: tests.chat.test_factory -*-
"""
The chat service of one suite (L{ChatFactory}) and the registry's maker
(L{makeFactory}), which hands the factory the pieces it needs and nothing
else: its config section, the hostname, the portal, the users database,
the event bus, the offline mail (through one L{DeliveryTarget}) and the
clock.  The chat has no TLS of its own (no STARTTLS): an C{ssl:} listener
is the service's business.
"""
from __future__ import annotations

from functools import partial
from typing import Callable

from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IAddress, IReactorTime
from twisted.internet.protocol import ServerFactory
from twisted.logger import Logger
from zope.interface import implementer

from ..cluster.shared import SharedState
from ..config import ChatConfig
from ..delivery import DeliveryTarget, deliverChatMail
from ..events import NewMailEvent
from ..identity.policy import AuthSession
from ..identity.realm import MailSuitePortal
from ..interfaces import NULL_METRICS, IEventBus, IMetrics, IUserDatabase
from ..net.admission import ConnectionBudget
from ..net.idle import IdleTracker
from ..net.lifecycle import ConnectionManager, IDrainable
from ..registry import SuiteParts
from . import lines
from .limits import AddressBudgets
from .names import lookupKeys
from .protocol import ChatProtocol
from .cluster import ClusterHub
from .room import ChatHub

__all__ = ["ABANDON_GRACE", "ChatFactory", "makeFactory"]

# A chat connection has no work in hand for the shutdown to finish: its
# goodbye goes out at once, and whoever is still there at the drain's
# timeout is aborted then, without a further grace.
ABANDON_GRACE = 0.0

OfflineMail = Callable[[str, str, str], Deferred]
"""
C{mailOffline(sender, recipient, text)}: mail a private message to a
registered user who is offline; fires once the mail is durable.
"""


@implementer(IDrainable)
class ChatFactory(ServerFactory):
    """
    The chat service: one hub, one idle tracker (one timer for every
    connection), one connection manager (admission and the drain), and the
    new-mail subscription while listening.

    @ivar config: the chat's config section.
    @ivar hub: the rooms and names (L{ChatHub}).
    @ivar idle: the shared idle timer.
    @ivar manager: admission and the graceful drain.
    @ivar budgets: the flood budgets shared by the connections of one
        address (L{AddressBudgets}).
    @ivar shedAbove: past this many bytes pending, a member skips the lines
        of senders over their budget (half of C{max_pending_output}: the
        other half is kept for everyone else).
    @ivar role: the name its connections and logins are counted under.
    @ivar metrics: counts its connections, logins, members and lines
        (L{IMetrics}).
    """

    log = Logger()
    protocol = ChatProtocol

    def __init__(self, config: ChatConfig, hostname: str, portal: MailSuitePortal,
                 users: IUserDatabase, bus: IEventBus, mailOffline: OfflineMail,
                 clock: IReactorTime, budget: ConnectionBudget | None = None, role: str = "chat",
                 metrics: IMetrics = NULL_METRICS, shared: SharedState | None = None) -> None:
        self.config = config
        self.role = role
        self.metrics = metrics
        self.clock = clock
        self.mailOffline = mailOffline
        self.maxLine = config.max_line_length
        self.maxPending = config.max_pending_output
        self.shedAbove = config.max_pending_output // 2
        self.budgets = AddressBudgets(config.addressLineRate, config.addressLineBurst,
                                      config.address_bytes_per_second, config.address_bytes_burst,
                                      config.address_ipv6_prefix)
        self.greeting = lines.system(f"welcome to the chat on {hostname}; /help lists the commands")
        self.hub = ChatHub(self.ownerOf, config.announce_limit) if shared is None else \
            ClusterHub(shared, self.ownerOf, config.announce_limit)     # several processes: docs/scaling.md
        self.idle = IdleTracker(clock, config.idle_timeout, ChatProtocol.idleExpired)
        self.manager = ConnectionManager.forSection(clock, config, budget, abandonGrace=ABANDON_GRACE,
                                                    metrics=metrics, protocol=role)
        metrics.watchChatMembers(lambda: len(self.hub.online))
        self._portal = portal
        self._users = users
        self._bus = bus
        self._unsubscribe: Callable[[], object] | None = None

    def buildProtocol(self, addr: IAddress) -> ChatProtocol:
        protocol = ChatProtocol()
        protocol.factory = self
        return protocol

    @property
    def connections(self) -> int:
        """
        The number of admitted connections still open.
        """
        return self.manager.registry.connections

    def ownerOf(self, name: str) -> str | None:
        """
        The registered user whose name C{name} is, by the chat's one
        normalisation (C{ſam}, C{SAM} and a fullwidth C{ｓａｍ} are C{sam}),
        or whose name a non-ASCII C{name} looks like (C{ѕаm} in Cyrillic):
        see L{names <twisted_mail_suite.chat.names>}.
        """
        lookup = self._users.lookup
        for key in lookupKeys(name):
            entry = lookup(key)
            if entry is not None:
                return entry.name
        return None

    def loginSession(self, peerHost: str, secure: bool) -> AuthSession:
        """
        The login helper for one connection from C{peerHost}.
        """
        return self._portal.session(peerHost, secure, self.role)

    # -- listening -------------------------------------------------------------

    def startFactory(self) -> None:
        """
        The first listener started: hear of new mail.
        """
        if self._unsubscribe is None:
            self._unsubscribe = self._bus.subscribe(NewMailEvent, self.newMail)
            if isinstance(self.hub, ClusterHub):
                self.hub.timer.startService()

    def newMail(self, event: NewMailEvent) -> None:
        """
        Tell a logged-in user about mail that reached their mailbox.
        """
        participant = self.hub.findUser(event.user)
        if participant is not None:
            sender = lines.oneLine(event.sender or "<>", 100)
            subject = lines.oneLine(event.subject or "(no subject)")
            participant.deliver(lines.system(f"new mail from {sender}: {subject}"))

    def stopFactory(self) -> None:
        """
        The last listener stopped: stop hearing of new mail, tell everyone
        and close their connections.
        """
        unsubscribe, self._unsubscribe = self._unsubscribe, None
        if unsubscribe is not None:
            unsubscribe()
        if isinstance(self.hub, ClusterHub):
            self.hub.stop()
        self.idle.stop()
        for protocol in list(self.manager.registry.live):
            protocol.shutdown()

    # -- IDrainable --------------------------------------------------------------

    def drain(self, timeout: float) -> Deferred:
        """
        Graceful shutdown (called by the service once the listeners are
        closed): refuse newcomers, tell everyone and close them; abort
        those still there after C{timeout} seconds.

        @return: a Deferred firing when no chat connection is left.
        """
        self.idle.stop()
        return self.manager.drain(timeout)


def makeFactory(parts: SuiteParts, role: str = "chat") -> ChatFactory:
    """
    The chat factory of a suite from its parts (one per suite, shared by
    every C{chat.listen} endpoint); C{role} names the config section.
    """
    config = parts.config
    return ChatFactory(
        config=getattr(config, role), hostname=config.hostname, portal=parts.portal,
        users=parts.users, bus=parts.bus,
        mailOffline=partial(deliverChatMail, config, DeliveryTarget(parts.store, metrics=parts.metrics)),
        clock=parts.clock, budget=parts.budget, role=role, metrics=parts.metrics, shared=parts.shared)
