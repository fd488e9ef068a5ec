# -*- test-case-name: tests.test_service -*-
"""
Assembly: one C{MultiService} holding one named child per listener endpoint
string, sharing one store, one event bus and one portal.
"""
from __future__ import annotations

import importlib
import os
from typing import Any, Callable

from twisted.application.internet import StreamServerEndpointService, TimerService
from twisted.application.service import MultiService
from twisted.internet.defer import Deferred, DeferredList, maybeDeferred
from twisted.internet.endpoints import serverFromString
from twisted.internet.interfaces import IProtocolFactory
from twisted.logger import Logger

from . import tls
from .chat import avatars as chatAvatars
from .config import Config
from .events import EventBus
from .identity.passwd import PasswdFile, inThreadPool
from .identity.realm import makePortal
from .interfaces import IEventBus, IMailStore, IUserDatabase
from .pop3 import avatars as pop3Avatars
from .pop3.locks import MaildropLocks
from .smtp import avatars as smtpAvatars
from .store.maildir import MaildirStore
from .store.notifying import NotifyingStore

# role -> (config section, "module:function" building its protocol factory)
PROTOCOLS: dict[str, tuple[str, str]] = {
    "smtp": ("smtp", "twisted_mail_suite.smtp.protocol:makeFactory"),
    "submission": ("submission", "twisted_mail_suite.smtp.protocol:makeFactory"),
    "pop3": ("pop3", "twisted_mail_suite.pop3.protocol:makeFactory"),
    "chat": ("chat", "twisted_mail_suite.chat.protocol:makeFactory"),
}

FactoryMaker = Callable[["MailSuiteService", str], IProtocolFactory]


def _loadMaker(path: str) -> FactoryMaker | None:
    module, _, name = path.partition(":")
    try:
        return getattr(importlib.import_module(module), name)  # type: ignore[no-any-return]
    except ModuleNotFoundError as e:
        if e.name and module.startswith(e.name):
            return None
        raise


class ListenerService(StreamServerEndpointService):
    """
    One listening endpoint; logs where it listens and remembers the port.
    """

    log = Logger()

    def __init__(self, role: str, description: str, endpoint: Any, factory: IProtocolFactory) -> None:
        super().__init__(endpoint, factory)
        self.role = role
        self.description = description
        self.port: Any = None

    def privilegedStartService(self) -> None:
        super().privilegedStartService()
        self._waitingForPort.addCallback(self._listening)

    def _listening(self, port: Any) -> Any:
        self.port = port
        host = port.getHost()
        self.log.info("{role} listening on {host}:{port} ({description})", role=self.role,
                      host=getattr(host, "host", host), port=getattr(host, "port", ""),
                      description=self.description)
        return port


class MailSuiteService(MultiService):
    """
    The whole suite.  Attributes shared with the protocols: C{config},
    C{reactor} (listening, threads), C{clock} (every timeout and delay:
    injectable, so tests drive time with C{task.Clock}), C{store}, C{bus},
    C{portal}, C{users}, C{maildropLocks}, C{tlsOptions}.
    """

    log = Logger()

    def __init__(self, config: Config, reactor: Any = None, users: IUserDatabase | None = None,
                 store: IMailStore | None = None, bus: IEventBus | None = None,
                 runInThread: Callable[..., Any] | None = None, clock: Any = None) -> None:
        super().__init__()
        if reactor is None:
            from twisted.internet import reactor as globalReactor
            reactor = globalReactor

        self.config = config
        self.reactor = reactor
        self.clock = clock if clock is not None else reactor
        self.bus = bus if bus is not None else EventBus()
        os.makedirs(config.mailDir, mode=0o700, exist_ok=True)
        # Whatever backend, new mail is announced on the bus after commit.
        self.store = NotifyingStore(store if store is not None else MaildirStore(config.mailDir), self.bus)
        self.store.setServiceParent(self)   # started before the listeners, stopped after
        self.users = users if users is not None else PasswdFile(config.usersFile)
        self.portal = makePortal(config, self.users, self.clock, runInThread or inThreadPool(reactor))
        self.maildropLocks = MaildropLocks()
        smtpAvatars.registerAvatars(self.portal.realm, config, self.store, self.users)
        pop3Avatars.registerAvatars(self.portal.realm, self.store, self.maildropLocks)
        chatAvatars.registerAvatars(self.portal.realm)
        self.certPath, self.keyPath = tls.ensureCertificate(config)
        # None: STARTTLS/STLS are not offered (implicit-TLS listeners still work).
        self.tlsOptions = tls.serverOptions(self.certPath, self.keyPath) if config.tls.starttls else None
        self.listeners: list[ListenerService] = []
        self.factories: dict[str, IProtocolFactory] = {}
        for role, (section, makerPath) in PROTOCOLS.items():
            descriptions = getattr(config, section).listen
            if not descriptions:
                continue
            maker = _loadMaker(makerPath)
            if maker is None:
                self.log.warn("{role}: not available in this build, not listening", role=role)
                continue
            factory = maker(self, role)
            self.factories[role] = factory
            for description in descriptions:
                full = tls.withCertificate(description, self.certPath, self.keyPath)
                listener = ListenerService(role, description, serverFromString(reactor, full), factory)
                listener.setName(f"{role} {description}")
                listener.setServiceParent(self)
                self.listeners.append(listener)
        if isinstance(self.users, PasswdFile):
            reload = TimerService(2.0, self.users.reloadIfChanged)
            reload.clock = self.clock
            reload.setName("users-file-reload")
            reload.setServiceParent(self)

    def startService(self) -> None:
        super().startService()
        self.reactor.callLater(0, self._ready)

    def stopService(self) -> Deferred:
        """
        Graceful shutdown: close every listener first, then let each
        protocol factory that can (C{drain(timeout)} -> Deferred) finish or
        refuse what is in flight within C{config.shutdown_timeout}, then
        stop the rest.
        """
        listening = [maybeDeferred(listener.stopService) for listener in self.listeners if listener.running]
        d = DeferredList(listening, consumeErrors=True)

        def drain(_: object) -> Deferred:
            timeout = self.config.shutdown_timeout
            draining = [maybeDeferred(factory.drain, timeout) for factory in set(self.factories.values())
                        if hasattr(factory, "drain")]
            return DeferredList(draining, consumeErrors=True)

        d.addCallback(drain)
        d.addCallback(lambda _: super(MailSuiteService, self).stopService())
        return d

    def _ready(self) -> None:
        self.log.info("twisted-mail-suite ready: {roles}", roles=", ".join(sorted(self.factories)) or "nothing")

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
