# -*- test-case-name: tests.test_testing -*-
"""
The suite in-process on a reactor you run, with the Deferred API (trial,
pytest-twisted).  Code that blocks (smtplib, Django, Flask) uses
L{twisted_mail_suite.testing.threaded.ThreadedHarness} instead, which runs
this harness on a reactor thread of its own.

    harness = MailSuiteHarness()            # users alice and bob, random passwords
    yield harness.start()
    ...  # send mail to harness.address("alice") on 127.0.0.1:harness.smtpPort
    message = yield harness.waitForMessage(to="alice", subject="Welcome")
    yield harness.stop()

In a trial test, C{harness = yield startHarness(self)} does the start and
registers the stop.

Faults for testing how an application copes: L{MailSuiteHarness.failDeliveries},
L{MailSuiteHarness.delayDeliveries}, L{MailSuiteHarness.rejectRecipients},
L{MailSuiteHarness.dropConnections}; L{MailSuiteHarness.reset} undoes them all,
and L{MailSuiteHarness.clear} also empties every mailbox (what a harness shared
by several tests does between them).
"""
from __future__ import annotations

import email
import email.policy
import os
import secrets
import shutil
import tempfile
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Any, Callable, Iterable, Mapping, Pattern

from twisted.internet.defer import Deferred, DeferredList, maybeDeferred, succeed
from twisted.internet.interfaces import IReactorTime
from twisted.internet.task import deferLater

from ..config import Config, configFromDict
from ..delivery.router import Router
from ..events import NewMailEvent
from ..identity.passwd import InMemoryUsers, inThreadPool
from ..identity.policy import LoginPolicy
from ..reactor import globalReactor
from ..registry import PROTOCOLS
from ..service import MailSuiteService
from ..metrics import PrometheusMetrics, timedFsync
from ..store.maildir import MaildirStore
from .configfile import setListen, suiteConfig
from .outbound import OutboundCapture, OutboundMessage
from .faults import Faults, FaultyRouter, FaultyStore, WatchingFactory, matcher
from .faultsapi import faultSwitches
from .trust import TrustingClients

__all__ = ["MailSuiteHarness", "DeliveredMessage", "MessageTimeout", "startHarness"]

DEFAULT_DOMAIN = "example.test"
DEFAULT_USERS = ("alice", "bob")
DEFAULT_SCHEME = "SHA512-CRYPT"


class MessageTimeout(AssertionError):
    """
    L{MailSuiteHarness.waitForMessage} saw no matching message in time; the
    message says what was awaited and what did arrive.  An C{AssertionError},
    so the test fails (rather than errors) in every runner.
    """


def randomUsers(names: Iterable[str] = DEFAULT_USERS) -> dict[str, str]:
    """
    C{names} with a fresh random password each.
    """
    return {name: secrets.token_urlsafe(12) for name in names}


@dataclass(frozen=True)
class DeliveredMessage:
    """
    One message in a user's mailbox.

    @ivar raw: the bytes as stored (LF line ends).
    @ivar message: the parsed message (C{email.policy.default}).
    """

    user: str
    uid: str
    raw: bytes
    message: EmailMessage

    @property
    def subject(self) -> str:
        return str(self.message.get("Subject", ""))

    def __getitem__(self, header: str) -> Any:
        return self.message[header]


class MailSuiteHarness(TrustingClients):
    """
    The whole suite on ephemeral loopback ports with a temporary data
    directory and in-memory users.

    @param users: user name -> password (default: alice and bob with random
        passwords, new for each harness; read them in L{users}).
    @param domain: the local mail domain.
    @param tls: offer STARTTLS/STLS and also listen with implicit TLS
        (C{smtpsPort}, C{pop3sPort}, C{chatsPort}), with a self-signed
        certificate to trust (L{sslContext}, L{clientTLSOptions},
        L{caFile}).  Off by default, so a client that upgrades
        opportunistically and verifies (Twisted's C{sendmail}) works
        without setup.
    @param clock: the time source for every timeout and delay of the suite
        and the harness (a C{task.Clock} lets a test drive idle kicks).
    @param reactor: the reactor to listen on (default: the global one).
    @param overrides: dotted config keys, e.g. C{{"smtp.max_message_size": 1000}}.
    @param ports: fixed ports by role (C{{"smtp": 2525, "smtps": 2465}});
        the others are ephemeral.
    @param interface: the address every listener binds.
    @param passwordScheme: how the users are stored (C{SHA512-CRYPT}, fast
        but hashed; C{PLAIN} where a test needs APOP).
    @param relay: L{None} (the default): mail for other domains (from an
        authenticated client or C{suite.sendMail}) is kept, not sent
        (L{outboundMessages}, L{waitForOutbound}); a C{relay:} config
        section (e.g. C{{"mode": "smarthost", "smarthost": "127.0.0.1:2525",
        "smarthost_tls": "none"}}) lets it through for real.
    @ivar users: user name -> password, as given or generated.
    @ivar metrics: the suite's own L{PrometheusMetrics} (its fsyncs too).
    """

    def __init__(self, users: Mapping[str, str] | None = None, domain: str = DEFAULT_DOMAIN,
                 tls: bool = False, clock: IReactorTime | None = None, reactor: Any = None,
                 dataDir: str | None = None, overrides: Mapping[str, object] | None = None,
                 ports: Mapping[str, int] | None = None, interface: str = "127.0.0.1",
                 passwordScheme: str = DEFAULT_SCHEME, relay: Mapping[str, object] | None = None) -> None:
        reactor = reactor if reactor is not None else globalReactor()
        self.reactor = reactor
        self.clock: IReactorTime = clock if clock is not None else reactor
        self.users: dict[str, str] = dict(users) if users is not None else randomUsers()
        self._initialUsers = dict(self.users)
        self.domain = domain.lower()
        self._ownDataDir = dataDir is None
        self.dataDir = dataDir or tempfile.mkdtemp(prefix="mailsuite-")
        raw = self._raw(tls, dict(ports or {}), interface)
        if relay is not None:
            raw["relay"] = dict(relay)
        self.config: Config = configFromDict(raw, "<harness>",
                                             overrides)
        self._faults = Faults()
        self._userDatabase = InMemoryUsers(self.users, scheme=passwordScheme)
        # The harness reads mailboxes synchronously, through the Maildir
        # backend's own helpers (messagesFor's API is synchronous).
        self.metrics = PrometheusMetrics()
        self._maildir = MaildirStore(self.config.mailDir, timedFsync(os.fsync, self.metrics),
                                     runBlocking=inThreadPool(reactor))
        self._store = FaultyStore(self._maildir, self._faults, self.clock)
        self._watched: list[WatchingFactory] = []
        self._waiters: set[Deferred] = set()

        def watch(factory: Any) -> WatchingFactory:
            watching = WatchingFactory(factory, self._faults)
            self._watched.append(watching)
            return watching

        self._outbound = OutboundCapture(self.clock) if relay is None else None
        self.suite = MailSuiteService(
            self.config, reactor, users=self._userDatabase, clock=self.clock, store=self._store,
            router=FaultyRouter(Router.fromConfig(self.config, self._userDatabase), self._faults),
            wrapFactory=watch, outbound=self._outbound.outbox if self._outbound is not None else None,
            metrics=self.metrics)
        self.store = self.suite.store
        self.running = False
        web = self.suite.factories.get("http")
        if web is not None:                        # a browser test switches the faults over HTTP
            web.mount(b"api/v1/test/faults", faultSwitches(self))

    def _raw(self, tls: bool, ports: dict[str, int], interface: str) -> dict[str, Any]:
        roles = [entry.role for entry in PROTOCOLS]
        unknown = set(ports) - set(roles) - {role + "s" for role in roles}
        if unknown:
            raise ValueError(f"ports: unknown roles {sorted(unknown)} (known: {', '.join(roles)}, "
                             f"and the same with 's' for implicit TLS)")
        where = interface.replace(":", "\\:")
        raw = suiteConfig(self.dataDir, hostname=f"mail.{self.domain}", domains=[self.domain, "localhost"],
                          sections={"tls": {"starttls": tls}})
        for entry in PROTOCOLS:
            role = entry.role
            if entry.section is not None and role not in ports:
                continue                # a nested listener (auth_http) listens when asked (overrides)
            listen = [f"tcp:{ports.get(role, 0)}:interface={where}"]
            if tls:
                listen.append(f"ssl:{ports.get(role + 's', 0)}:interface={where}")
            setListen(raw, entry, listen)
        return raw

    # Life cycle

    def start(self) -> Deferred:
        """
        Listen on every endpoint.

        @return: a Deferred firing with this harness once every port is
            bound, or failing (everything stopped and removed) if one cannot be.
        """
        self.running = True

        def failed(failure: Any) -> Deferred:
            return self.stop().addBoth(lambda _: failure)

        return maybeDeferred(self._startSuite).addCallbacks(lambda _: self, failed)

    def _startSuite(self) -> Deferred:
        self.suite.privilegedStartService()
        self.suite.startService()
        return self.suite.whenListening()

    def stop(self) -> Deferred:
        """
        Close every connection and every listening port; remove the
        temporary data directory.  Safe to call twice.
        """
        if not self.running:
            return succeed(None)
        self.running = False
        d = self._quiesce()
        d.addCallback(lambda _: self.suite.stopService())
        d.addCallback(self._removeData)
        return d

    def clear(self) -> Deferred:
        """
        Make the harness as new, for the next test: undo every fault, cut
        every connection, drop the mail still in flight (it never lands),
        empty every mailbox, cancel pending L{waitForMessage} calls, forget
        failed logins and restore the users it was made with.

        @return: a Deferred firing with this harness when done.
        """
        d = self._quiesce()
        if self._outbound is not None:
            d.addCallback(lambda _: self._outbound.clear())
        d.addCallback(lambda _: deferLater(self.reactor, 0, self._emptyMailboxes))
        return d.addCallback(lambda _: self)

    def _quiesce(self) -> Deferred:
        self._faults.generation += 1
        self.reset()
        for waiter in list(self._waiters):
            waiter.cancel()
        d = DeferredList([watching.abortAll() for watching in self._watched])
        d.addCallback(lambda _: self._store.settle())
        return d

    def _emptyMailboxes(self) -> None:
        for name in self._mailboxNames():
            self._maildir.deleteMessages(name, [stored.uid for stored in self._maildir.storedMessages(name)])
        portal = self.suite.portal
        portal.policy = LoginPolicy(portal.policy.config, portal.policy.clock)
        for name in set(self.users) | set(self._initialUsers):
            if name not in self._initialUsers:
                self._userDatabase.remove(name)
            elif self.users.get(name) != self._initialUsers[name]:
                self._userDatabase.setPassword(name, self._initialUsers[name])
        self.users = dict(self._initialUsers)

    def _mailboxNames(self) -> list[str]:
        try:
            return sorted(os.listdir(self.config.mailDir))
        except FileNotFoundError:
            return []

    def _removeData(self, result: object) -> object:
        if self._ownDataDir:
            shutil.rmtree(self.dataDir, ignore_errors=True)
        return result

    # Where things are

    def _port(self, role: str, implicitTLS: bool) -> int:
        for listener in self.suite.listeners:
            if listener.role == role and listener.description.startswith("ssl:") == implicitTLS \
                    and listener.port is not None:
                return listener.port.getHost().port  # type: ignore[no-any-return]
        raise RuntimeError(f"no {'TLS ' if implicitTLS else ''}{role} listener (started? tls=True?)")

    def ports(self) -> dict[str, int]:
        """
        Every bound port by role, C{"smtps"} etc. for implicit TLS (after start).
        """
        return {listener.role + ("s" if listener.description.startswith("ssl:") else ""):
                listener.port.getHost().port
                for listener in self.suite.listeners if listener.port is not None}


    def address(self, user: str) -> str:
        """
        The mail address of C{user} in the harness's domain.
        """
        return f"{user}@{self.domain}"

    def addUser(self, name: str, password: str | None = None) -> str:
        """
        One more user (or a new password), at once; until L{clear}.

        @return: the password (a random one unless given).
        """
        password = password if password is not None else secrets.token_urlsafe(12)
        self.users[name] = password
        self._userDatabase.setPassword(name, password)
        return password

    # Mail

    def _userOf(self, to: str) -> str:
        local, at, domain = to.lower().rpartition("@")
        return local if at else to.lower()

    def _read(self, user: str, uid: str) -> DeliveredMessage:
        with self._maildir.openStored(user, uid) as f:
            raw = f.read()
        parsed = email.message_from_bytes(raw, policy=email.policy.default)
        return DeliveredMessage(user, uid, raw, parsed)  # type: ignore[arg-type]

    def outboundMessages(self, to: str | None = None) -> list[OutboundMessage]:
        """
        The mail for other domains kept instead of sent (to C{to}, an
        address, if given), oldest first; see L{waitForOutbound}.
        """
        return self._capture().messages(to)

    def waitForOutbound(self, to: str | None = None, subject: str | Pattern[str] | None = None,
                        predicate: Callable[[OutboundMessage], bool] | None = None,
                        timeout: float = 10.0) -> Deferred:
        """
        Like L{waitForMessage}, for mail to other domains: a Deferred firing
        with the first kept L{OutboundMessage} matching every condition
        (C{recipients}, C{sender}, C{subject}, C{message}, C{data} as it
        would leave, DKIM-signed if configured), or failing with
        L{OutboundTimeout}.
        """
        return self._capture().waitFor(to, subject, predicate, timeout)

    def _capture(self) -> OutboundCapture:
        if self._outbound is None:
            raise RuntimeError("this harness relays outbound mail for real (relay= was given): nothing is kept")
        return self._outbound

    def messagesFor(self, user: str) -> list[DeliveredMessage]:
        """
        Every message in C{user}'s mailbox (a name or an address), oldest first.
        """
        name = self._userOf(user)
        return [self._read(name, stored.uid) for stored in self._maildir.storedMessages(name)]

    def waitForMessage(self, to: str | None = None, subject: str | Pattern[str] | None = None,
                       predicate: Callable[[DeliveredMessage], bool] | None = None,
                       timeout: float = 10.0) -> Deferred:
        """
        Wait for a message matching every given condition: already in the
        mailbox, or the next to be delivered (driven by the delivery event,
        not by polling).

        @param to: a user name or address (default: any user).
        @param subject: the exact subject, or a compiled regex to search.
        @param predicate: any further test on the L{DeliveredMessage}.
        @param timeout: seconds on the harness clock before failing with
            L{MessageTimeout}, which says what was awaited and what arrived.
        @return: a Deferred firing with the L{DeliveredMessage}.
        """
        user = self._userOf(to) if to else None

        def matches(message: DeliveredMessage) -> bool:
            if subject is not None:
                if isinstance(subject, str):
                    if message.subject != subject:
                        return False
                elif not subject.search(message.subject):
                    return False
            return predicate is None or bool(predicate(message))

        for name in [user] if user else self._mailboxNames():
            for message in self.messagesFor(name):
                if matches(message):
                    return succeed(message)

        result: Deferred = Deferred(lambda d: finish())

        def onEvent(event: NewMailEvent) -> None:
            if result.called or (user and event.user != user):
                return
            try:
                message = self._read(event.user, event.uid)
            except (OSError, KeyError):
                return
            if matches(message):
                finish()
                result.callback(message)

        def onTimeout() -> None:
            finish()
            result.errback(MessageTimeout(self._timeoutText(user, subject, predicate, timeout)))

        unsubscribe = self.suite.bus.subscribe(NewMailEvent, onEvent)
        timer = self.clock.callLater(timeout, onTimeout)
        self._waiters.add(result)

        def finish() -> None:
            self._waiters.discard(result)
            unsubscribe()
            if timer.active():
                timer.cancel()

        return result

    def _timeoutText(self, user: str | None, subject: str | Pattern[str] | None,
                     predicate: object, timeout: float) -> str:
        wanted = "a message" + (f" to {self.address(user)}" if user else "")
        if isinstance(subject, str):
            wanted += f" with subject {subject!r}"
        elif subject is not None:
            wanted += f" with a subject matching {subject.pattern!r}"
        if predicate is not None:
            wanted += " accepted by the predicate"
        seen = []
        for name in [user] if user else self._mailboxNames():
            subjects = [m.subject for m in self.messagesFor(name)]
            if subjects:
                shown = ", ".join(repr(s) for s in subjects[:5]) + (", ..." if len(subjects) > 5 else "")
                seen.append(f"{name}: {len(subjects)} ({shown})")
        arrived = "; ".join(seen) if seen else "none"
        return f"waited {timeout:g} s for {wanted}; none came. Mailboxes now: {arrived}"

    # Faults

    def failDeliveries(self, count: int = 1, code: int = 451) -> None:
        """
        The next C{count} messages are refused after DATA with C{code}
        (4xx: temporary, 5xx: permanent); nothing of them is kept.
        """
        self._faults.failCount = count
        self._faults.failCode = code

    def delayDeliveries(self, seconds: float) -> None:
        """
        Every delivery is acknowledged C{seconds} later (on the harness clock).
        """
        self._faults.delay = seconds

    def rejectRecipients(self, pattern: str | Pattern[str], code: int = 550) -> None:
        """
        RCPT TO addresses matching C{pattern} (a glob such as
        C{"*@bounce.test"}, or a compiled regex) are refused with C{code}.
        """
        self._faults.rejections.append((matcher(pattern), code))

    def dropConnections(self, after: int = 0) -> None:
        """
        New and open connections of every protocol are cut (TCP abort, no
        reply) once the client has sent C{after} lines (0: at connect).
        """
        self._faults.dropAfter = after

    def reset(self) -> None:
        """
        Undo every fault.
        """
        self._faults.reset()


def _portProperty(role: str, implicitTLS: bool) -> property:
    return property(lambda self: self._port(role, implicitTLS),
                    doc=f"The {'implicit-TLS ' if implicitTLS else ''}{role} port (after start).")


# smtpPort, smtpsPort, pop3Port, pop3sPort, ...: one pair per protocol of the registry.
for _entry in PROTOCOLS:
    setattr(MailSuiteHarness, f"{_entry.role}Port", _portProperty(_entry.role, False))
    setattr(MailSuiteHarness, f"{_entry.role}sPort", _portProperty(_entry.role, True))
del _entry


def startHarness(testCase: Any, **kwargs: Any) -> Deferred:
    """
    For trial: C{harness = yield startHarness(self, users=...)} starts a
    L{MailSuiteHarness} and registers its stop as a cleanup of C{testCase}.
    """
    harness = MailSuiteHarness(**kwargs)
    testCase.addCleanup(harness.stop)
    return harness.start()

