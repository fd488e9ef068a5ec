# -*- test-case-name: tests.test_service -*-
"""
The one wiring site: the protocol registry -> the suite's parts -> one
C{MultiService} with one named listener per endpoint string, all sharing
one store, one event bus, one router and one portal.

Building the service does no I/O; starting it creates folders, the
certificate and the store's state, then listens.  Stopping it closes the
listeners first, then drains every protocol (L{IDrainable}) within
C{shutdown_timeout}, then stops the store.
"""
from __future__ import annotations

import os
from dataclasses import replace
from typing import Any, Callable, Mapping

from twisted.application.internet import TimerService
from twisted.application.service import MultiService, Service
from twisted.internet.defer import Deferred, DeferredList, fail, maybeDeferred, succeed
from twisted.internet.interfaces import IListeningPort, IProtocolFactory
from twisted.logger import Logger
from twisted.python.failure import Failure

from .bus import EventBus
from .bus.redis import RedisEventBus
from .cluster.counters import RedisFailureCounters
from .cluster.locks import RedisMaildropLocks
from .cluster.members import Heartbeat
from .cluster.shared import SharedState, nodeName
from .config import Config
from .delivery.router import Router
from .delivery.target import DeliveryTarget
from .identity.passwd import PasswdFile, inThreadPool
from .identity.realm import makePortal
from .identity.workers import AuthWorkers
from .interfaces import IEventBus, IMailStore, IMetrics, IOutboundQueue, IUserDatabase
from .metrics import PrometheusMetrics, timedFsync
from .net.admission import ConnectionBudget, Share, raiseFileLimit
from .net.inherited import adoptListening
from .net.lifecycle import IDrainable
from .net.presence import Presence, presenceOf
from .net.tls import ServerTLS
from .pop3.locks import MaildropLocks
from .reactor import globalReactor
from .registry import PROTOCOLS, SuiteParts, loadFunction, loadMaker, sectionOf
from .relay.pgqueue import PostgresQueue
from .relay.service import RelayService, sendMail
from .store.maildir import CommitThread, MaildirStore
from .store.maildir.mailboxes import MaildirMailFolders
from .store.notifying import NotifyingStore
from .store.postgres import Database, PostgresFolders, PostgresStore

__all__ = ["ListenerService", "MailSuiteService", "makeService"]

FactoryWrapper = Callable[[IProtocolFactory], IProtocolFactory]


class ListenerService(Service):
    """
    One listening endpoint.  The endpoint is parsed at start (an C{ssl:}
    endpoint reads its certificate then); L{whenListening} tells when the
    port is bound.
    """

    log = Logger()

    def __init__(self, role: str, description: str, reactor: Any, factory: IProtocolFactory,
                 tls: ServerTLS, adopted: tuple[int, int] | None = None) -> None:
        self.role = role
        self.adopted = adopted            # (fd, family): a socket the parent of the workers bound
        self.description = description
        self.factory = factory
        self.port: IListeningPort | None = None
        self._reactor = reactor
        self._tls = tls
        self._waiting: list[Deferred] = []
        self._failure: Failure | None = None
        self._listened = False

    def privilegedStartService(self) -> None:
        super().privilegedStartService()
        self._listened = True
        if self.adopted is not None:        # a worker: the socket is the supervisor's (docs/scaling.md)
            d = adoptListening(self._reactor, self.adopted, self.description, self.factory, self._tls)
        else:
            d = self._tls.serverEndpoint(self._reactor, self.description).listen(self.factory)
        d.addCallbacks(self._listening, self._failed)
        if self._failure is not None:        # a port that cannot be bound stops the start
            self._failure.raiseException()

    def _listening(self, port: IListeningPort) -> None:
        self.port = port
        host = port.getHost()
        self.log.info("{role} listening on {host}:{port} ({description})", role=self.role,
                      host=getattr(host, "host", host), port=getattr(host, "port", ""),
                      description=self.description)
        waiting, self._waiting = self._waiting, []
        for d in waiting:
            d.callback(port)

    def _failed(self, failure: Failure) -> None:
        self._failure = failure
        waiting, self._waiting = self._waiting, []
        for d in waiting:
            d.errback(failure)

    def startService(self) -> None:
        super().startService()
        if not self._listened:              # started without the privileged step
            self.privilegedStartService()

    def whenListening(self) -> Deferred:
        """
        @return: a Deferred firing with the C{IListeningPort} once bound
            (at once if it is), or failing with why it could not be.
        """
        if self.port is not None:
            return succeed(self.port)
        if self._failure is not None:
            return fail(self._failure)
        d: Deferred = Deferred()
        self._waiting.append(d)
        return d

    def stopService(self) -> Deferred:
        super().stopService()
        port, self.port = self.port, None
        self._listened = False
        if port is None:
            return succeed(None)
        return maybeDeferred(port.stopListening)


class MailSuiteService(MultiService):
    """
    The whole suite.

    @param reactor: listening and threads (default: the global reactor).
    @param clock: every timeout and delay (default: C{reactor}).
    @param users: the users database (default: the passwd-file of the config).
    @param store: the mail store (default: Maildir under C{data_dir/mail},
        or PostgreSQL when C{cluster.postgres} is set, with the outbound
        queue there too); whatever it is, new mail is announced on C{bus}
        after commit.
    @param router: address -> local users or remote (default: from the config).
    @param wrapFactory: applied to each protocol factory before it listens
        (the test harness observes and cuts connections this way).
    @param fileLimit: raises the soft C{RLIMIT_NOFILE} as far as it goes
        and returns C{(soft, hard)} (default: L{raiseFileLimit}); called at
        start to size the connection budget.
    @param outbound: where mail for other domains goes instead of the
        relay's durable queue and delivery (an L{IOutboundQueue}; the test
        harness keeps outbound mail in memory with
        L{twisted_mail_suite.relay.memory.MemoryOutbox}).
    @param inherited: C{"role description"} -> C{(fd, family)} of a
        listening socket to adopt instead (a worker of C{workers: N}).
    @param worker: this worker's number (0: not a worker); a worker's
        relay keeps its own queue, C{data_dir/worker-N/queue}, so that no
        queued message is tried by two processes.
    @param relayOptions: keyword arguments for the L{RelayService}
        (C{resolver}, C{timeouts}, C{perDestination}, C{rng}), for tests.
    @param metrics: what the suite counts (L{IMetrics}); default: a new
        L{PrometheusMetrics} with a registry of this service's own.
    @param folders: IMAP's folders (L{twisted_mail_suite.mailfolders.IMailFolders});
        default: over the store the suite builds (PostgreSQL with
        C{cluster.postgres}), else over the Maildirs of C{data_dir/mail}.
    @ivar parts: the L{SuiteParts} the protocols were built from.
    @ivar budget: the connections of every protocol together, sized at
        start (L{fitConnections}).
    @ivar relay: the L{RelayService} (L{None} when C{relay.mode} is off
        and no C{outbound} is given).
    @ivar outbound: the outbound queue every delivery target uses, or L{None}.
    @ivar factories: role -> protocol factory.
    @ivar metrics: the suite's L{IMetrics} (C{metrics.registry}: the
        C{prometheus_client} registry to expose).
    """

    log = Logger()

    def __init__(self, config: Config, reactor: Any = None, users: IUserDatabase | None = None,
                 store: IMailStore | None = None, bus: IEventBus | None = None,
                 runInThread: Callable[..., Any] | None = None, clock: Any = None,
                 router: Router | None = None, wrapFactory: FactoryWrapper | None = None,
                 fileLimit: Callable[[], tuple[int, int]] = raiseFileLimit,
                 outbound: IOutboundQueue | None = None, relayOptions: dict[str, Any] | None = None,
                 metrics: IMetrics | None = None,
                 inherited: Mapping[str, tuple[int, int]] | None = None, worker: int = 0,
                 folders: Any = None) -> None:
        super().__init__()
        reactor = reactor if reactor is not None else globalReactor()
        self.config = config
        self.metrics = metrics = metrics if metrics is not None else PrometheusMetrics()
        self.reactor = reactor
        self.clock = clock if clock is not None else reactor
        self.shared: SharedState | None = None          # several processes: docs/scaling.md
        locks: Any = MaildropLocks()
        counters = None
        if config.cluster.redis is not None:
            self.shared = SharedState(config.cluster, reactor, self.clock)
            self.shared.setServiceParent(self)              # connects first, closes last
            bus = bus if bus is not None else RedisEventBus(
                self.shared.client, self.shared.subscriber, self.shared.origin)
            locks = RedisMaildropLocks(self.shared.client, self.clock)
            locks.setServiceParent(self)
            counters = RedisFailureCounters(self.shared.client)
        self.bus = bus if bus is not None else EventBus()
        # Password hashing and users-file reading get their own bounded pool,
        # started first and stopped last; the store's commits have a thread of their own.
        self.authWorkers = AuthWorkers(reactor, config.auth.hash_threads)
        self.authWorkers.setServiceParent(self)
        relayBlocking = runInThread            # the queue's fsyncs: as given (tests), else the reactor's pool
        runInThread = runInThread or self.authWorkers.runInThread
        self.database: Database | None = None
        relayOptions = dict(relayOptions or {})
        if config.cluster.postgres and (store is None or outbound is None):
            # cluster.postgres: mail and the outbound queue shared by every node
            # not a child: started before every child, stopped once they all have stopped
            self.database = Database(config.cluster.postgres, reactor)
            if store is None:
                store = PostgresStore(self.database)
                folders = folders if folders is not None else PostgresFolders(self.database)  # the same store
            relayOptions.setdefault("queue", PostgresQueue(
                self.database, self.clock, f"{config.cluster.node or config.hostname}:{os.getpid()}",
                os.path.join(config.data_dir, f"worker-{worker}", "queue") if worker else config.queueDir))
        self.store = NotifyingStore(store if store is not None else MaildirStore(
            config.mailDir, timedFsync(os.fsync, metrics), runBlocking=CommitThread(reactor)), self.bus)
        self.store.setServiceParent(self)   # started before the listeners, stopped after
        self.users = users if users is not None else PasswdFile(config.usersFile, runInThread, self.clock)
        self.portal = makePortal(config, self.users, self.clock, runInThread, metrics, counters)
        self.tls = ServerTLS(config)
        router = router or Router.fromConfig(config, self.users)
        self.relay: RelayService | None = None
        if config.relay.mode != "off" or outbound is not None:
            relayConfig = replace(config, data_dir=os.path.join(config.data_dir, f"worker-{worker}")) \
                if worker else config
            self.relay = RelayService(relayConfig, reactor, self.clock, self.store, router,
                                      relayBlocking or inThreadPool(reactor), outbound, metrics=metrics,
                                      **relayOptions)
            self.relay.setName("relay")
            self.relay.setServiceParent(self)   # after the store, before the listeners
        self.outbound = self.relay.outbound if self.relay is not None else None
        self.target = self.relay.target if self.relay is not None else DeliveryTarget(self.store, metrics=metrics)
        self.budget = ConnectionBudget()
        self._fileLimit = fileLimit
        self.parts = SuiteParts(
            config=config, reactor=reactor, clock=self.clock, portal=self.portal, users=self.users,
            store=self.store, bus=self.bus, router=router, tls=self.tls, maildropLocks=locks,
            budget=self.budget, outbound=self.outbound,
            queueControl=self.relay.operate if self.relay is not None else None, online=self.online,
            runInThread=runInThread, factoryFor=self._factoryFor,
            portsFor=self.portsFor, metrics=metrics, shared=self.shared,
            folders=folders if folders is not None else MaildirMailFolders(config.mailDir))
        self.listeners: list[ListenerService] = []
        self.factories: dict[str, IProtocolFactory] = {}
        registered: set[str] = set()
        for entry in PROTOCOLS:
            descriptions = sectionOf(config, entry).listen
            if not descriptions:
                continue
            if entry.avatars and entry.avatars not in registered:
                registered.add(entry.avatars)
                loadFunction(entry, entry.avatars)(self.portal.realm, self.parts)
            factory = self.factories[entry.role] = loadMaker(entry)(self.parts, entry.role)
            listening = wrapFactory(factory) if wrapFactory is not None else factory
            for description in descriptions:
                listener = ListenerService(entry.role, description, reactor, listening, self.tls,
                                           (inherited or {}).get(f"{entry.role} {description}"))
                listener.setName(f"{entry.role} {description}")
                listener.setServiceParent(self)
                self.listeners.append(listener)
        self.heartbeat: Heartbeat | None = None         # read by `mailsuite-admin cluster status`
        if self.shared is not None:
            self.heartbeat = Heartbeat(self.shared.client, self.shared.origin, nodeName(config.cluster.node), worker,
                                       self._ports, self.clock)
            self.heartbeat.setServiceParent(self.shared)   # stops before the Redis connection
        metrics.nodeInfo(nodeName(config.cluster.node), worker)
        if isinstance(self.users, PasswdFile):
            reload = TimerService(2.0, self.users.reloadIfChanged)
            reload.clock = self.clock
            reload.setName("users-file-reload")
            reload.setServiceParent(self)

    def _factoryFor(self, role: str) -> IProtocolFactory | None:
        return self.factories.get(role)

    @property
    def maildropLocks(self) -> Any:
        return self.parts.maildropLocks

    @property
    def certPath(self) -> str:
        """
        The PEM certificate clients should trust (L{ServerTLS.trustPath}):
        the local CA's C{ca.pem} when the suite made its own certificate,
        else the configured one.
        """
        return self.tls.trustPath

    @property
    def tlsOptions(self) -> Any:
        return self.tls.options

    def fitConnections(self) -> int:
        """
        Raise the soft file limit to the hard one and size the connection
        budget shared by every protocol (see L{ConnectionBudget.fit}).

        @return: the budget (the most connections open at once).
        @raise twisted_mail_suite.net.admission.BudgetError: the limits of
            the config cannot be held (a L{twisted_mail_suite.errors.ConfigError}).
        """
        shares = [Share(f"{entry.sectionPath}.max_connections", sectionOf(self.config, entry).max_connections,
                        entry.files) for entry in PROTOCOLS if entry.role in self.factories]
        return self.budget.fit(shares, self.config.max_connections, self._fileLimit()[0])

    def privilegedStartService(self) -> None:
        self.fitConnections()
        self.tls.ensure()
        super().privilegedStartService()

    def startService(self) -> None:
        if not self.budget.limit:           # started without the privileged step
            self.fitConnections()
        self.tls.ensure()                   # idempotent: started without the privileged step
        if self.database is not None and not self.database.running:
            self.database.startService()    # the children stop concurrently: it is stopped after them
        super().startService()
        self.reactor.callLater(0, self._ready)

    def stopService(self) -> Deferred:
        """
        Graceful shutdown: close every listener first, then let each
        protocol factory (L{IDrainable}) finish or refuse what is in
        flight within C{config.shutdown_timeout}, then stop the rest.
        """
        listening = [maybeDeferred(listener.stopService) for listener in self.listeners if listener.running]
        d = DeferredList(listening, consumeErrors=True)

        def drain(_: object) -> Deferred:
            timeout = self.config.shutdown_timeout
            draining = [maybeDeferred(factory.drain, timeout) for factory in set(self.factories.values())
                        if IDrainable.providedBy(factory)]
            return DeferredList(draining, consumeErrors=True)

        d.addCallback(drain)
        d.addCallback(lambda _: super(MailSuiteService, self).stopService())
        if self.database is not None:
            database = self.database

            def closeDatabase(result: object) -> Deferred:
                return database.stopService().addBoth(lambda _: result) if database.running else succeed(result)

            d.addBoth(closeDatabase)
        return d

    def _ports(self) -> dict[str, list[int]]:
        return {role: self.portsFor(role) for role in sorted(self.factories)}

    def _ready(self) -> None:
        if self.heartbeat is not None and self.heartbeat.running:
            self.heartbeat.beat()                       # with the ports, now bound
        self.log.info("twisted-mail-suite ready: {roles}", roles=", ".join(sorted(self.factories)) or "nothing")

    def whenListening(self) -> Deferred:
        """
        @return: a Deferred firing with this service once every listener
            is bound (after start), failing if one cannot be.
        """
        d = DeferredList([listener.whenListening() for listener in self.listeners],
                         fireOnOneErrback=True, consumeErrors=True)
        d.addErrback(lambda failure: failure.value.subFailure)
        return d.addCallback(lambda _: self)

    def sendMail(self, sender: str, recipients: Any, message: Any) -> Deferred:
        """
        Send C{message} (bytes, or an C{email.message.Message}) from
        C{sender} (an address, C{""} for none) to C{recipients} (an
        address or a list): local recipients get it in their mailboxes,
        the others through the outbound queue (DKIM-signed for the
        domains of C{relay.dkim}).

        @return: a Deferred firing with the queue id once the message is
            durable (with the local UID when every recipient is local), or
            failing with nothing kept; see L{twisted_mail_suite.relay.service.sendMail}.
        """
        return sendMail(self.target, self.parts.router, self.config.hostname, sender, recipients, message)

    def online(self) -> dict[str, list[Presence]]:
        """
        Who is connected now: role -> one L{Presence} per connection (for
        the protocols whose factory has a connection manager).
        """
        found: dict[str, list[Presence]] = {}
        for role, factory in self.factories.items():
            manager = getattr(factory, "manager", None)
            if manager is not None:
                found[role] = presenceOf(manager)
        return found

    def portsFor(self, role: str) -> list[int]:
        """
        The TCP ports a role listens on (after start), e.g. for tests.
        """
        return [listener.port.getHost().port for listener in self.listeners
                if listener.role == role and listener.port is not None]


def makeService(config: Config, reactor: Any = None, **kwargs: Any) -> MailSuiteService:
    """
    The suite as a C{MultiService}, for twistd, a .tac or any application.
    """
    return MailSuiteService(config, reactor, **kwargs)
