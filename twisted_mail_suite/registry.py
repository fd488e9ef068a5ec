# -*- test-case-name: tests.test_registry -*-
"""
The protocols of the suite, one record each.  Everything that lists the
protocols is generated from L{PROTOCOLS}: the twistd plugin's options
(C{--smtp ENDPOINT} ...), the service assembly (one listener per endpoint),
the test harness's listeners and the configuration written for tests,
scripts and benchmarks.  Adding a protocol is one package plus one line
here (and its section in L{twisted_mail_suite.config}).

The records name their factory maker as C{"module:function"}, so this
module imports no protocol: the service imports the maker when the
protocol is configured to listen, and a maker that cannot be imported is a
start-up error, never a silent "not listening".
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any, Callable

from .config import Config
from .errors import ConfigError
from .interfaces import NULL_METRICS, IEventBus, IMaildropLocks, IMailStore, IMetrics, IOutboundQueue, IUserDatabase

__all__ = ["ProtocolRecord", "PROTOCOLS", "SuiteParts", "record", "loadMaker", "loadFunction", "sectionOf"]


@dataclass(frozen=True)
class SuiteParts:
    """
    What a protocol is built from: the typed pieces of one suite, given to
    each maker, which hands its factory only the ones it needs.

    @ivar reactor: for listening and threads.
    @ivar clock: every timeout and delay (a C{task.Clock} in tests).
    @ivar portal: the one portal (L{twisted_mail_suite.identity.realm.MailSuitePortal}).
    @ivar router: address -> local users or remote
        (L{twisted_mail_suite.delivery.router.Router}).
    @ivar tls: the server certificate and STARTTLS options
        (L{twisted_mail_suite.net.tls.ServerTLS}); C{tls.options} is
        L{None} before start and when STARTTLS is off.
    @ivar budget: the process-wide connection budget every protocol's
        connection registry shares
        (L{twisted_mail_suite.net.admission.ConnectionBudget}), or L{None}.
    @ivar outbound: where mail for other domains goes
        (L{twisted_mail_suite.interfaces.IOutboundQueue}), or L{None}
        (C{relay.mode: off}): give it to every C{DeliveryTarget}.
    @ivar queueControl: C{queueControl(command, queueID)} -> a JSON-able
        result or a Deferred of one: the operator's commands on the
        outbound queue (C{list}, C{show}, C{flush}, C{delete}, C{hold},
        C{release}, as C{mailsuite-admin queue}); raises
        L{twisted_mail_suite.errors.QueueControlError} for a refusal.
        L{None} when the relay is off.
    @ivar runInThread: C{runInThread(f, *args)} -> Deferred: the password
        hashing pool (slow work that must stay off the reactor thread).
    @ivar online: C{online()} -> role -> list of
        L{twisted_mail_suite.net.presence.Presence}: who is connected to
        each protocol now (the service asks the live factories), or L{None}.
    @ivar factoryFor: role -> the protocol factory of that role in this
        suite, or L{None} if it does not listen (looked up when called, so
        any maker may use it): how one protocol serves another's over its
        own transport (the chat over the web's WebSocket) without
        importing it.
    @ivar portsFor: C{portsFor(role)} -> the TCP ports that role listens
        on once started (the service's), or L{None}.
    @ivar metrics: what the protocols count (L{IMetrics}); by default
        L{NullMetrics <twisted_mail_suite.interfaces.NullMetrics>}, which
        keeps nothing: parts built alone (in a unit test) count nothing,
        and the service, which serves the metrics, gives its own
        L{PrometheusMetrics <twisted_mail_suite.metrics.PrometheusMetrics>}.
    @ivar shared: the link to the other processes
        (L{twisted_mail_suite.cluster.shared.SharedState}) when
        C{cluster.redis} is set, else L{None}.
    @ivar folders: IMAP's folder store
        (L{twisted_mail_suite.mailfolders.IMailFolders}) over the store the
        suite delivers to: Maildir++, or PostgreSQL with C{cluster.postgres}.
    """

    config: Config
    reactor: Any
    clock: Any
    portal: Any
    users: IUserDatabase
    store: IMailStore
    bus: IEventBus
    router: Any
    tls: Any
    maildropLocks: IMaildropLocks
    budget: Any = None
    outbound: IOutboundQueue | None = None
    queueControl: Callable[[str, Any], Any] | None = None
    online: Callable[[], Any] | None = None
    runInThread: Callable[..., Any] | None = None
    factoryFor: Callable[[str], Any] = lambda role: None
    portsFor: Callable[[str], list[int]] | None = None
    metrics: IMetrics = NULL_METRICS
    shared: Any = None
    folders: Any = None


@dataclass(frozen=True)
class ProtocolRecord:
    """
    One kind of listener.

    @ivar role: the listener's name, also its config section and its
        plugin option (C{--<role> ENDPOINT}).
    @ivar maker: C{"module:function"}; the function takes the suite's
        L{twisted_mail_suite.service.SuiteParts} and the role and returns
        the protocol factory (one per role, shared by its endpoints).
    @ivar summary: one line for C{--help}.
    @ivar avatars: C{"module:function"} registering the protocol's avatars
        with the realm, called with the realm and the L{SuiteParts} (once
        per function, for the configured protocols).
    @ivar files: the file descriptors one connection may hold besides its
        socket (a message file being received or sent), for the
        process-wide connection budget.
    @ivar section: the dotted path of its config section (with
        C{listen} and C{max_connections}), when it is not C{role}
        (C{"proxy.auth_http"}).
    """

    role: str
    maker: str
    summary: str
    avatars: str | None = None
    files: int = 1
    section: str | None = None

    @property
    def sectionPath(self) -> str:
        """
        The dotted config key of this listener's section (C{role} unless
        told otherwise).
        """
        return self.section or self.role


PROTOCOLS: tuple[ProtocolRecord, ...] = (
    ProtocolRecord("smtp", "twisted_mail_suite.smtp.factory:makeFactory", "MX SMTP (AUTH optional)",
                   "twisted_mail_suite.smtp.avatars:register"),
    ProtocolRecord("submission", "twisted_mail_suite.smtp.factory:makeFactory", "submission (AUTH required)",
                   "twisted_mail_suite.smtp.avatars:register"),
    ProtocolRecord("pop3", "twisted_mail_suite.pop3.factory:makeFactory", "POP3",
                   "twisted_mail_suite.pop3.avatars:register"),
    ProtocolRecord("chat", "twisted_mail_suite.chat.factory:makeFactory", "the chat room",
                   "twisted_mail_suite.chat.avatars:register", files=0),
    ProtocolRecord("imap", "twisted_mail_suite.imap.factory:makeFactory", "IMAP",
                   "twisted_mail_suite.imap.avatars:register"),
    ProtocolRecord("http", "twisted_mail_suite.http.factory:makeFactory",
                   "web pages, the JSON API and /metrics", "twisted_mail_suite.http.avatars:register",
                   files=0),     # a message is read whole and closed within one call
    ProtocolRecord("auth_http", "twisted_mail_suite.proxy.factory:makeFactory",
                   "nginx's mail auth_http requests (proxy.auth_http)", "twisted_mail_suite.proxy.avatars:register",
                   files=0, section="proxy.auth_http"),
)


def sectionOf(config: Any, entry: ProtocolRecord) -> Any:
    """
    The config section of C{entry} in C{config} (a L{Config}, or the raw
    mapping of tap.yaml), following its dotted L{ProtocolRecord.sectionPath}.
    """
    node = config
    for part in entry.sectionPath.split("."):
        node = node[part] if isinstance(node, dict) else getattr(node, part)
    return node


def record(role: str) -> ProtocolRecord:
    """
    The record of C{role}.

    @raise KeyError: for an unknown role.
    """
    for candidate in PROTOCOLS:
        if candidate.role == role:
            return candidate
    raise KeyError(role)


def loadMaker(entry: ProtocolRecord) -> Callable[..., Any]:
    """
    Import the factory maker of C{entry}.

    @raise ConfigError: if its module or function is missing: the config
        asks for a listener this installation cannot serve.
    """
    return loadFunction(entry, entry.maker)


def loadFunction(entry: ProtocolRecord, path: str) -> Callable[..., Any]:
    """
    Import C{"module:function"} for C{entry}; see L{loadMaker}.
    """
    module, _, name = path.partition(":")
    try:
        return getattr(importlib.import_module(module), name)  # type: ignore[no-any-return]
    except (ImportError, AttributeError) as e:
        raise ConfigError("<registry>", f"{entry.role}.listen",
                          f"the {entry.role} protocol is not available in this installation ({e})") from e
