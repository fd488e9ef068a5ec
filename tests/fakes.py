# -*- test-case-name: tests -*-
"""
Shared fakes for the unit tests: a whole suite on a C{MemoryReactorClock},
with in-memory users, a temporary data directory, password checks and store
commits run synchronously, and a transport that looks like a TCP peer.
"""
from __future__ import annotations

import os
import tempfile
from typing import Any, Callable, Mapping

from twisted.internet.address import IPv4Address
from twisted.internet.testing import MemoryReactorClock, StringTransport

from twisted_mail_suite.config import Config, configFromDict
from twisted_mail_suite.testing.configfile import suiteConfig
from twisted_mail_suite.identity.passwd import InMemoryUsers
from twisted_mail_suite.store.maildir import MaildirStore, runSynchronously
from twisted_mail_suite.service import MailSuiteService

DEFAULT_USERS = {"alice": "secret", "bob": "hunter2"}


def makeConfig(dataDir: str, **overrides: Any) -> Config:
    """
    A config for tests: listeners on port 0, the given dotted overrides.
    """
    return configFromDict(suiteConfig(dataDir), "test.yaml", overrides)


def makeSuite(testCase: Any, users: Mapping[str, str] | None = None,
              wrapStore: Callable[[Any], Any] | None = None, outbound: Any = None,
              folders: Any = None, **overrides: Any) -> MailSuiteService:
    """
    A L{MailSuiteService} on a L{MemoryReactorClock} (C{suite.reactor}),
    nothing listening, every blocking step synchronous; the data directory
    is a fresh temporary folder.  C{wrapStore(maildirStore)} gives the
    store the suite is built with (a test double around the real one);
    C{folders}, IMAP's folders (default: the Maildirs).
    """
    dataDir = testCase.mktemp() if hasattr(testCase, "mktemp") else tempfile.mkdtemp()
    config = makeConfig(dataDir, **overrides)
    reactor = MemoryReactorClock()
    from twisted_mail_suite.bus import EventBus

    bus = EventBus()
    os.makedirs(config.mailDir, exist_ok=True)
    store = MaildirStore(config.mailDir, runBlocking=runSynchronously)
    if wrapStore is not None:
        store = wrapStore(store)
    suite = MailSuiteService(config, reactor, users=InMemoryUsers(users or DEFAULT_USERS),
                             store=store, bus=bus, runInThread=runSynchronously, outbound=outbound,
                             folders=folders)
    suite.tls.ensure()          # as the start would: the protocols are driven without starting the suite
    return suite


def maildirOf(suite: MailSuiteService) -> MaildirStore:
    """
    The Maildir backend behind C{suite.store} (under its decorators), for
    tests that look at files or inject fsync failures.
    """
    store: Any = suite.store
    while not isinstance(store, MaildirStore):
        store = store.inner if hasattr(store, "inner") else store._inner
    return store


def makeSuiteAround(testCase: Any, double: Callable[[Any], Any], **overrides: Any) -> tuple[MailSuiteService, Any]:
    """
    L{makeSuite} built on C{double(realStore)}; returns the suite and the double.
    """
    made: list[Any] = []

    def wrap(store: Any) -> Any:
        made.append(double(store))
        return made[0]

    suite = makeSuite(testCase, wrapStore=wrap, **overrides)
    return suite, made[0]


def writeConfigFile(testCase: Any, text: str, name: str = "tap.yaml") -> str:
    """
    Write C{text} as C{name} in a new temporary folder; return its absolute path.
    """
    folder = os.path.abspath(testCase.mktemp())
    os.makedirs(folder)
    path = os.path.join(folder, name)
    with open(path, "w") as f:
        f.write(text)
    return path


def peerTransport(host: str = "127.0.0.1", port: int = 40000) -> StringTransport:
    """
    A C{StringTransport} whose peer is C{host} (loopback by default).
    """
    return StringTransport(peerAddress=IPv4Address("TCP", host, port),
                           hostAddress=IPv4Address("TCP", "127.0.0.1", 25))


ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def interactiveSignals() -> None:
    """
    A C{preexec_fn} for a child that a test stops with SIGINT: it starts
    with SIGINT handled by default and no signal blocked, as a shell's
    child does, whatever this test process's state is (an ignored signal
    and a thread's mask survive C{exec}; a long test run may have left
    SIGINT ignored here).
    """
    import signal

    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.pthread_sigmask(signal.SIG_SETMASK, [])
