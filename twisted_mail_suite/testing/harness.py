# -*- test-case-name: tests.test_testing -*-
"""
The suite in-process, for people who test code that sends mail or chats.

    harness = MailSuiteHarness(users={"alice": "secret"})
    yield harness.start()
    ...  # send mail to harness.address("alice") on 127.0.0.1:harness.smtpPort
    message = yield harness.waitForMessage(to="alice", subject="Welcome")
    yield harness.stop()

In a trial test, C{harness = yield startHarness(self)} does the start and
registers the stop.  With pytest, the C{mailsuite} fixture (installed with
the package) gives a started harness with users alice and bob.

Faults for testing how an application copes: L{MailSuiteHarness.failDeliveries},
L{MailSuiteHarness.delayDeliveries}, L{MailSuiteHarness.rejectRecipients},
L{MailSuiteHarness.dropConnections}; L{MailSuiteHarness.reset} undoes them all.
"""
from __future__ import annotations

import email
import email.policy
import os
import shutil
import ssl as stdlibSSL
import tempfile
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Any, Callable, Mapping, Pattern

from twisted.internet import ssl
from twisted.internet.defer import Deferred, DeferredList, succeed
from twisted.internet.interfaces import IReactorTime

from ..config import Config, configFromDict
from ..delivery.router import Router
from ..events import NewMailEvent
from ..identity.passwd import InMemoryUsers
from ..reactor import globalReactor
from ..registry import PROTOCOLS
from ..service import MailSuiteService
from ..store.maildir import MaildirStore
from .configfile import EPHEMERAL, suiteConfig
from .faults import Faults, FaultyRouter, FaultyStore, WatchingFactory, matcher

__all__ = ["MailSuiteHarness", "DeliveredMessage", "MessageTimeout", "startHarness"]

DEFAULT_DOMAIN = "example.test"


class MessageTimeout(Exception):
    """
    L{MailSuiteHarness.waitForMessage} saw no matching message in time.
    """


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


class MailSuiteHarness:
    """
    The whole suite on ephemeral loopback ports with a temporary data
    directory and in-memory users.

    @param users: user name -> password (default alice/secret, bob/hunter2).
    @param domain: the local mail domain.
    @param tls: offer STARTTLS/STLS and also listen with implicit TLS
        (C{smtpsPort}, C{pop3sPort}, C{chatsPort}), with a self-signed
        certificate to trust (L{tlsCertificate}).  Off by default, so a
        client that upgrades opportunistically and verifies (Twisted's
        C{sendmail}) works without setup.
    @param clock: the time source for every timeout and delay of the suite
        and the harness (a C{task.Clock} lets a test drive idle kicks).
    @param reactor: the reactor to listen on (default: the global one).
    @param overrides: dotted config keys, e.g. C{{"smtp.max_message_size": 1000}}.
    """

    def __init__(self, users: Mapping[str, str] | None = None, domain: str = DEFAULT_DOMAIN,
                 tls: bool = False, clock: IReactorTime | None = None, reactor: Any = None,
                 dataDir: str | None = None, overrides: Mapping[str, object] | None = None) -> None:
        reactor = reactor if reactor is not None else globalReactor()
        self.reactor = reactor
        self.clock: IReactorTime = clock if clock is not None else reactor
        self.users: dict[str, str] = dict(users if users is not None else {"alice": "secret", "bob": "hunter2"})
        self.domain = domain.lower()
        self._ownDataDir = dataDir is None
        self.dataDir = dataDir or tempfile.mkdtemp(prefix="mailsuite-")
        self.config: Config = configFromDict(self._raw(tls), "<harness>", overrides)
        self._faults = Faults()
        self._userDatabase = InMemoryUsers(self.users)
        # The harness reads mailboxes synchronously, through the Maildir
        # backend's own helpers (messagesFor's API is synchronous).
        self._maildir = MaildirStore(self.config.mailDir)
        self._watched: list[WatchingFactory] = []

        def watch(factory: Any) -> WatchingFactory:
            watching = WatchingFactory(factory, self._faults)
            self._watched.append(watching)
            return watching

        self.suite = MailSuiteService(
            self.config, reactor, users=self._userDatabase, clock=self.clock,
            store=FaultyStore(self._maildir, self._faults, self.clock),
            router=FaultyRouter(Router.fromConfig(self.config, self._userDatabase), self._faults),
            wrapFactory=watch)
        self.store = self.suite.store
        self.running = False

    def _raw(self, tls: bool) -> dict[str, Any]:
        listen = [EPHEMERAL, EPHEMERAL.replace("tcp:", "ssl:", 1)] if tls else [EPHEMERAL]
        return suiteConfig(self.dataDir, hostname=f"mail.{self.domain}", domains=[self.domain, "localhost"],
                           listen=listen, sections={"tls": {"starttls": tls}})

    # Life cycle

    def start(self) -> Deferred:
        """
        Listen on every endpoint.

        @return: a Deferred firing with this harness once every port is bound.
        """
        self.suite.privilegedStartService()
        self.suite.startService()
        self.running = True
        return self.suite.whenListening().addCallback(lambda _: self)

    def stop(self) -> Deferred:
        """
        Close every connection and every listening port; remove the
        temporary data directory.  Safe to call twice.
        """
        if not self.running:
            return succeed(None)
        self.running = False
        self.reset()
        d = DeferredList([watching.abortAll() for watching in self._watched])
        d.addCallback(lambda _: self.suite.stopService())
        d.addCallback(self._removeData)
        return d

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


    @property
    def tlsCertificatePath(self) -> str:
        """
        The PEM file of the server's (self-signed) certificate.
        """
        return self.suite.certPath

    @property
    def tlsCertificate(self) -> ssl.Certificate:
        """
        The server certificate, to trust in a Twisted client
        (C{optionsForClientTLS(host, trustRoot=harness.tlsCertificate)}).
        """
        with open(self.suite.certPath, "rb") as f:
            return ssl.Certificate.loadPEM(f.read())

    def clientTLSOptions(self, hostname: str = "localhost") -> Any:
        """
        Twisted client TLS options that trust the server certificate.
        """
        return ssl.optionsForClientTLS(hostname, trustRoot=self.tlsCertificate)

    def sslContext(self) -> stdlibSSL.SSLContext:
        """
        A standard-library context (smtplib, poplib) trusting the server.
        """
        context = stdlibSSL.create_default_context(cafile=self.suite.certPath)
        context.check_hostname = False
        return context

    def address(self, user: str) -> str:
        """
        The mail address of C{user} in the harness's domain.
        """
        return f"{user}@{self.domain}"

    def addUser(self, name: str, password: str) -> None:
        self.users[name] = password
        self._userDatabase.setPassword(name, password)

    # Mail

    def _userOf(self, to: str) -> str:
        local, at, domain = to.lower().rpartition("@")
        return local if at else to.lower()

    def _read(self, user: str, uid: str) -> DeliveredMessage:
        with self._maildir.openStored(user, uid) as f:
            raw = f.read()
        parsed = email.message_from_bytes(raw, policy=email.policy.default)
        return DeliveredMessage(user, uid, raw, parsed)  # type: ignore[arg-type]

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
            L{MessageTimeout}.
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

        users = [user] if user else sorted(os.listdir(self.config.mailDir)) \
            if os.path.isdir(self.config.mailDir) else []
        for name in users:
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
            result.errback(MessageTimeout(
                f"no message{' for ' + to if to else ''} matching within {timeout} s"))

        unsubscribe = self.suite.bus.subscribe(NewMailEvent, onEvent)
        timer = self.clock.callLater(timeout, onTimeout)

        def finish() -> None:
            unsubscribe()
            if timer.active():
                timer.cancel()

        return result

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

