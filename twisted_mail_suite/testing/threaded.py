# -*- test-case-name: tests.test_threaded -*-
"""
The harness for code that blocks: smtplib, Django's C{send_mail},
Flask-Mail, any test that is not Twisted code.

L{ThreadedHarness} runs a L{MailSuiteHarness} on a reactor of its own in a
daemon thread, as aiosmtpd's C{Controller} runs its event loop, so a client
blocking the test's thread cannot stall the server.  That reactor is a
private instance, never installed as Twisted's global reactor: trial or
pytest-twisted keep the global one, and both run side by side in one
process.  Every call that touches the suite runs in the reactor thread and
blocks the caller until it is done, always with a timeout.

    with ThreadedHarness() as mail:                 # users alice and bob, random passwords
        with smtplib.SMTP("127.0.0.1", mail.smtpPort) as client:
            client.sendmail("app@example.test", [mail.address("bob")], b"Subject: hi\\r\\n\\r\\nhi\\r\\n")
        message = mail.waitForMessage(to="bob", subject="hi", timeout=5)

Every L{ThreadedHarness} of a process shares one reactor thread
(L{sharedReactorThread}); starting a harness on it binds its ports and
makes its folder, which takes milliseconds.
"""
from __future__ import annotations

import concurrent.futures
import functools
import threading
from typing import Any, Callable, Mapping, Pattern

from twisted.internet.defer import maybeDeferred

from ..registry import PROTOCOLS
from .harness import DEFAULT_DOMAIN, DEFAULT_SCHEME, DeliveredMessage, MailSuiteHarness
from .outbound import OutboundMessage
from .trust import loadCertificate, trustingSSLContext, trustingTLSOptions

__all__ = ["HarnessTimeout", "ReactorThread", "ThreadedHarness", "newReactor", "sharedReactorThread",
           "stopSharedReactorThread"]

GRACE = 10.0    # seconds a blocking wait allows beyond the harness's own timeout


class HarnessTimeout(TimeoutError):
    """
    The harness's reactor thread did not finish a call in time: it is stuck
    or gone.  (A message that does not come is a L{MessageTimeout}.)
    """


def newReactor() -> Any:
    """
    A new reactor instance of the platform's best kind, not installed as the
    global reactor.
    """
    try:
        from twisted.internet.epollreactor import EPollReactor as Reactor
    except ImportError:
        try:
            from twisted.internet.pollreactor import PollReactor as Reactor  # type: ignore[assignment]
        except ImportError:
            from twisted.internet.selectreactor import SelectReactor as Reactor  # type: ignore[assignment]
    return Reactor()


_local = threading.local()


def _useThreadReactorForTLS() -> None:
    """
    Make TLS started in a L{ReactorThread} flush its writes on that thread's
    reactor.

    Twisted builds the TLS layer of C{transport.startTLS()} and of C{ssl:}
    ports without a clock, so it schedules its write flushes on the global
    reactor, which never runs in a plain pytest test (and runs elsewhere
    under trial or pytest-twisted): STARTTLS on a private reactor would
    stall after the handshake.  Twisted keeps that default behind
    C{twisted.protocols.tls._get_default_clock}, a function it keeps "so it
    can be monkey-patched in tests"; we wrap it once, per thread: in a
    reactor thread of ours it answers that thread's reactor, anywhere else
    exactly what it answered before.
    """
    from twisted.protocols import tls

    original = getattr(tls, "_get_default_clock", None)
    if original is None or getattr(original, "perReactorThread", False):
        return

    def defaultClock() -> Any:
        reactor = getattr(_local, "reactor", None)
        return reactor if reactor is not None else original()

    defaultClock.perReactorThread = True  # type: ignore[attr-defined]
    tls._get_default_clock = defaultClock


class ReactorThread:
    """
    A private reactor running in a daemon thread, without signal handlers
    (the main thread keeps Ctrl-C).  Its thread pool's threads are daemons
    too, so a process that forgets to stop it still exits.
    """

    def __init__(self, name: str = "mailsuite-reactor") -> None:
        self.reactor = newReactor()
        self.reactor.getThreadPool().threadFactory = functools.partial(threading.Thread, daemon=True)
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._running = threading.Event()
        self.reactor.callWhenRunning(self._running.set)
        _useThreadReactorForTLS()

    def _run(self) -> None:
        _local.reactor = self.reactor
        self.reactor.run(installSignalHandlers=False)

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    def start(self, timeout: float = 10.0) -> ReactorThread:
        self._thread.start()
        if not self._running.wait(timeout):
            raise HarnessTimeout(f"the harness's reactor thread did not start within {timeout:g} s")
        return self

    def stop(self, timeout: float = 10.0) -> None:
        """
        Stop the reactor (its shutdown triggers run) and join the thread.
        """
        if self._thread.is_alive():
            self.reactor.callFromThread(self.reactor.stop)
            self._thread.join(timeout)

    def call(self, f: Callable[..., Any], *args: Any, timeout: float, what: str, **kwargs: Any) -> Any:
        """
        Run C{f(*args, **kwargs)} in the reactor thread and wait for its
        result (a Deferred is waited for).

        @param what: what the call does, for the timeout's message.
        @raise HarnessTimeout: no result within C{timeout} seconds (the call
            is cancelled).
        @raise KeyboardInterrupt: Ctrl-C while waiting (the call is cancelled).
        """
        if threading.current_thread() is self._thread:
            raise RuntimeError("a blocking harness call from the harness's own reactor thread would wait "
                               "forever; use the Deferred API (ThreadedHarness.harness) there")
        if not self._thread.is_alive():
            raise RuntimeError(f"{what}: the harness's reactor thread is not running")
        future: concurrent.futures.Future = concurrent.futures.Future()
        started: list[Any] = []

        def inReactor() -> None:
            if not future.set_running_or_notify_cancel():
                return
            d = maybeDeferred(f, *args, **kwargs)
            started.append(d)
            d.addCallbacks(future.set_result, lambda failure: future.set_exception(failure.value))

        def cancel() -> None:
            if not future.cancel():
                self.reactor.callFromThread(lambda: started and started[0].cancel())

        self.reactor.callFromThread(inReactor)
        try:
            return future.result(timeout)
        except concurrent.futures.TimeoutError:
            if future.done():
                raise
            cancel()
            raise HarnessTimeout(f"{what}: no answer from the harness within {timeout:g} s") from None
        except BaseException:
            if not future.done():
                cancel()
            raise


_shared: ReactorThread | None = None
_sharedLock = threading.Lock()


def sharedReactorThread() -> ReactorThread:
    """
    The process's one L{ReactorThread} for harnesses, started on first use.
    """
    global _shared
    with _sharedLock:
        if _shared is None or not _shared.alive:
            _shared = ReactorThread().start()
        return _shared


def stopSharedReactorThread(timeout: float = 10.0) -> None:
    """
    Stop the shared reactor thread if it runs (the next harness starts a new one).
    """
    global _shared
    with _sharedLock:
        thread, _shared = _shared, None
    if thread is not None:
        thread.stop(timeout)


class ThreadedHarness:
    """
    A L{MailSuiteHarness} in a reactor thread, with blocking methods: use it
    from any test that is not Twisted code.  A context manager, or
    L{start} then L{stop}.

    The arguments are L{MailSuiteHarness}'s (C{users} default: alice and bob
    with random passwords, in L{users}), plus:

    @param reactorThread: the L{ReactorThread} to run on (default: the
        process's shared one).
    @param callTimeout: seconds any call but L{waitForMessage} may take
        before L{HarnessTimeout}.
    @ivar harness: the L{MailSuiteHarness}; touch it only in the reactor
        thread (L{callInReactor}).
    """

    def __init__(self, users: Mapping[str, str] | None = None, domain: str = DEFAULT_DOMAIN,
                 tls: bool = False, overrides: Mapping[str, object] | None = None, dataDir: str | None = None,
                 ports: Mapping[str, int] | None = None, interface: str = "127.0.0.1",
                 passwordScheme: str = DEFAULT_SCHEME, reactorThread: ReactorThread | None = None,
                 callTimeout: float = 30.0, relay: Mapping[str, object] | None = None) -> None:
        self._options: dict[str, Any] = dict(users=users, domain=domain, tls=tls, overrides=overrides,
                                             dataDir=dataDir, ports=ports, interface=interface,
                                             passwordScheme=passwordScheme, relay=relay)
        self.domain = domain.lower()
        self.callTimeout = callTimeout
        self.harness: MailSuiteHarness | None = None
        self._reactorThread = reactorThread
        self._thread: ReactorThread | None = None
        self._ports: dict[str, int] = {}
        self._users: dict[str, str] = {}
        self._certPath = ""

    def __repr__(self) -> str:
        ports = ", ".join(f"{role}={port}" for role, port in sorted(self._ports.items())) or "not started"
        return f"<ThreadedHarness {self.domain} {ports}>"

    # Life cycle

    def start(self) -> ThreadedHarness:
        """
        Start the suite in the reactor thread; return once every port is bound.
        """
        if self.harness is not None:
            raise RuntimeError("this harness is started already")
        self._thread = self._reactorThread or sharedReactorThread()
        reactor = self._thread.reactor

        def build() -> Any:
            self.harness = MailSuiteHarness(reactor=reactor, **self._options)
            return self.harness.start().addCallback(lambda harness: (harness.ports(), dict(harness.users)))

        try:
            self._ports, self._users = self._thread.call(build, timeout=self.callTimeout,
                                                         what="starting the harness")
        except BaseException:
            self.stop()
            raise
        assert self.harness is not None
        self._certPath = self.harness.suite.certPath
        return self

    def stop(self, timeout: float | None = None) -> None:
        """
        Close every connection and port and remove the data; safe twice.
        """
        harness, self.harness = self.harness, None
        if harness is not None and self._thread is not None and self._thread.alive:
            self._thread.call(harness.stop, timeout=timeout or self.callTimeout, what="stopping the harness")
        self._ports = {}

    def __enter__(self) -> ThreadedHarness:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def callInReactor(self, f: Callable[..., Any], *args: Any, timeout: float | None = None,
                      **kwargs: Any) -> Any:
        """
        Run C{f(*args, **kwargs)} in the reactor thread (where L{harness}
        lives) and return its result, waiting for a Deferred.
        """
        if self.harness is None or self._thread is None:
            raise RuntimeError("the harness is not started")
        what = getattr(f, "__name__", "a call")
        return self._thread.call(f, *args, timeout=timeout or self.callTimeout, what=what, **kwargs)

    def _call(self, name: str, *args: Any, timeout: float | None = None, **kwargs: Any) -> Any:
        if self.harness is None or self._thread is None:
            raise RuntimeError(f"{name}: the harness is not started")
        return self._thread.call(getattr(self.harness, name), *args, timeout=timeout or self.callTimeout,
                                 what=name, **kwargs)

    # Where things are (no call into the reactor thread)

    @property
    def users(self) -> dict[str, str]:
        """
        User name -> password (a copy).
        """
        return dict(self._users)

    def ports(self) -> dict[str, int]:
        """
        Every bound port by role (C{"smtps"} etc. for implicit TLS).
        """
        return dict(self._ports)

    def _port(self, key: str) -> int:
        try:
            return self._ports[key]
        except KeyError:
            raise RuntimeError(f"no {key} listener (started? tls=True?)") from None

    def address(self, user: str) -> str:
        """
        The mail address of C{user} in the harness's domain.
        """
        return f"{user}@{self.domain}"

    @property
    def tlsCertificatePath(self) -> str:
        """
        The PEM file of the server's self-signed certificate (after start).
        """
        return self._certPath

    caFile = tlsCertificatePath

    def sslContext(self) -> Any:
        """
        A standard-library SSL context (smtplib, poplib, imaplib) trusting
        the server, host names checked.
        """
        return trustingSSLContext(self._certPath)

    @property
    def tlsCertificate(self) -> Any:
        """
        The server certificate as a Twisted C{Certificate}.
        """
        return loadCertificate(self._certPath)

    def clientTLSOptions(self, hostname: str = "localhost") -> Any:
        """
        Twisted client TLS options trusting the server.
        """
        return trustingTLSOptions(self._certPath, hostname)

    # Users and mail

    def addUser(self, name: str, password: str | None = None) -> str:
        """
        One more user (or a new password), at once, until L{clear}.

        @return: the password (random unless given).
        """
        password = self._call("addUser", name, password)
        self._users[name] = password
        return password  # type: ignore[no-any-return]

    def messagesFor(self, user: str) -> list[DeliveredMessage]:
        """
        Every message in C{user}'s mailbox (a name or an address), oldest first.
        """
        return self._call("messagesFor", user)  # type: ignore[no-any-return]

    def waitForMessage(self, to: str | None = None, subject: str | Pattern[str] | None = None,
                       predicate: Callable[[DeliveredMessage], bool] | None = None,
                       timeout: float = 10.0) -> DeliveredMessage:
        """
        The first message matching every condition, already there or the
        next delivered.

        @param to: a user name or address (default: any user).
        @param subject: the exact subject, or a compiled regex to search.
        @param predicate: any further test (it runs in the reactor thread).
        @raise MessageTimeout: none within C{timeout} seconds; the message
            says what was awaited and what arrived.
        """
        return self._call("waitForMessage", to, subject, predicate, timeout,  # type: ignore[no-any-return]
                          timeout=timeout + GRACE)

    def outboundMessages(self, to: str | None = None) -> list[OutboundMessage]:
        """
        The mail for other domains kept instead of sent, oldest first.
        """
        return self._call("outboundMessages", to)  # type: ignore[no-any-return]

    def waitForOutbound(self, to: str | None = None, subject: str | Pattern[str] | None = None,
                        predicate: Callable[[OutboundMessage], bool] | None = None,
                        timeout: float = 10.0) -> OutboundMessage:
        """
        The first kept outbound message matching every condition, already
        there or the next committed.

        @raise OutboundTimeout: none within C{timeout} seconds.
        """
        return self._call("waitForOutbound", to, subject, predicate, timeout,  # type: ignore[no-any-return]
                          timeout=timeout + GRACE)

    def metric(self, name: str, **labels: str) -> float | None:
        """
        The value of the suite's metric sample C{name} with C{labels}
        (C{metric("mailsuite_smtp_messages_accepted_total")}; see
        C{docs/metrics.md}), or L{None} if it has none yet.
        """
        return self.callInReactor(lambda: self.harness.metrics.value(name, **labels))  # type: ignore[union-attr]

    def clear(self, timeout: float | None = None) -> None:
        """
        As new: no fault, no connection, no mail (none in flight will land),
        failed logins forgotten, the original users.
        """
        self._call("clear", timeout=timeout)
        assert self.harness is not None
        self._users = self._thread.call(lambda: dict(self.harness.users), timeout=self.callTimeout,  # type: ignore
                                        what="reading the users")

    # Faults, in force when the call returns

    def failDeliveries(self, count: int = 1, code: int = 451) -> None:
        """
        The next C{count} messages are refused after DATA with C{code}.
        """
        self._call("failDeliveries", count, code)

    def delayDeliveries(self, seconds: float) -> None:
        """
        Every delivery is acknowledged C{seconds} later.
        """
        self._call("delayDeliveries", seconds)

    def rejectRecipients(self, pattern: str | Pattern[str], code: int = 550) -> None:
        """
        RCPT TO addresses matching C{pattern} (a glob or a compiled regex)
        are refused with C{code}.
        """
        self._call("rejectRecipients", pattern, code)

    def dropConnections(self, after: int = 0) -> None:
        """
        Connections of every protocol are cut once the client sent C{after} lines.
        """
        self._call("dropConnections", after)

    def reset(self) -> None:
        """
        Undo every fault.
        """
        self._call("reset")


def _portProperty(key: str) -> property:
    return property(lambda self: self._port(key), doc=f"The {key} port (after start).")


for _entry in PROTOCOLS:
    setattr(ThreadedHarness, f"{_entry.role}Port", _portProperty(_entry.role))
    setattr(ThreadedHarness, f"{_entry.role}sPort", _portProperty(_entry.role + "s"))
del _entry
