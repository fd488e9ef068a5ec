# -*- test-case-name: tests.reliability -*-
"""
Shared pieces of the reliability tests: the Hypothesis profiles, a count
of the examples each fuzz test ran, a watcher for errors logged by the
code under test, and a runner for the scripts in C{scripts/}.

Profiles (chosen with C{MAILSUITE_FUZZ_PROFILE}, default C{ci}):

  - C{ci}: a few hundred examples per test, no deadline (CI machines are
    shared and slow);
  - C{long}: C{MAILSUITE_FUZZ_EXAMPLES} examples per test (default
    200,000), for a local run of hours (C{scripts/fuzz_long.sh}).

The profiles (registered as C{mailsuite-ci} and C{mailsuite-long}, apart
from Hypothesis's own C{ci}) are applied per test (C{@FUZZ}), never loaded
globally, so the other Hypothesis tests of the project keep their settings.  When
C{MAILSUITE_FUZZ_STATS} names a file, each fuzz test appends a JSON line
with how many examples it ran.
"""
from __future__ import annotations

import json
import os
import sys
import time
from typing import Any, Callable

from hypothesis import HealthCheck, settings
from twisted.internet.utils import getProcessOutputAndValue
from twisted.logger import globalLogPublisher

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SCRIPTS = os.path.join(ROOT, "scripts")

settings.register_profile(
    "mailsuite-ci", max_examples=int(os.environ.get("MAILSUITE_FUZZ_EXAMPLES", "150")), deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large], derandomize=False,
    print_blob=True)
settings.register_profile(
    "mailsuite-long", max_examples=int(os.environ.get("MAILSUITE_FUZZ_EXAMPLES", "200000")), deadline=None,
    suppress_health_check=list(HealthCheck), print_blob=True)

PROFILE = os.environ.get("MAILSUITE_FUZZ_PROFILE", "ci")
_BASE = settings.get_profile(f"mailsuite-{PROFILE}")
FUZZ = settings(_BASE)
STATEFUL = settings(_BASE, stateful_step_count=60, max_examples=max(1, _BASE.max_examples * 2 // 5))


class ExampleCounter:
    """
    Counts the examples of one fuzz test; L{report} appends the figure to
    C{$MAILSUITE_FUZZ_STATS} (a JSON line) when that is set.
    """

    def __init__(self, name: str) -> None:
        self.name = name
        self.count = 0
        self.began = time.monotonic()

    def __call__(self) -> None:
        self.count += 1

    def report(self) -> None:
        path = os.environ.get("MAILSUITE_FUZZ_STATS")
        if path:
            with open(path, "a", encoding="utf-8") as f:
                f.write(json.dumps({"test": self.name, "examples": self.count, "profile": PROFILE,
                                    "seconds": round(time.monotonic() - self.began, 1)}) + "\n")


class LoggedFailures:
    """
    Collects the failures logged (C{log.failure}) while it is installed:
    the protocols log an unexpected exception instead of raising it, and
    a fuzz test must see those too.
    """

    def __init__(self) -> None:
        self.failures: list[Any] = []

    def __call__(self, event: dict) -> None:
        if "log_failure" in event:
            self.failures.append(event["log_failure"])

    def __enter__(self) -> "LoggedFailures":
        globalLogPublisher.addObserver(self)
        return self

    def __exit__(self, *exc: object) -> None:
        globalLogPublisher.removeObserver(self)


def runScript(name: str, *arguments: str, timeout: float = 120.0) -> Any:
    """
    Run C{scripts/NAME} with this interpreter and C{--json}.

    @return: a Deferred firing with (the parsed JSON report, exit code,
        stderr), failing if the output is not JSON.
    """
    from twisted.internet import reactor

    env = {**os.environ, "PYTHONPATH": ROOT}
    d = getProcessOutputAndValue(sys.executable, [os.path.join(SCRIPTS, name), *arguments, "--json"],
                                 env=env, path=ROOT, reactor=reactor)

    def parsed(result: tuple[bytes, bytes, int]) -> tuple[dict, int, bytes]:
        out, err, code = result
        lines = [line for line in out.splitlines() if line.startswith(b"{")]
        if not lines:
            raise AssertionError(f"{name} printed no JSON (exit {code}):\n{out!r}\n{err[-3000:]!r}")
        return json.loads(lines[-1]), code, err

    return d.addCallback(parsed)


def noFailures(testCase: Any, watcher: LoggedFailures, describe: Callable[[], str] = lambda: "") -> None:
    if watcher.failures:
        testCase.fail(f"logged failure: {watcher.failures[0].getTraceback()}\n{describe()}")


class Collector:
    """
    A client protocol for integration tests: keeps what it received and
    fires Deferreds when a marker shows up or the connection ends.
    """

    def __init__(self) -> None:
        from twisted.internet.defer import Deferred

        self.received = b""
        self.waiting: list[tuple[bytes, Any]] = []
        self.lost: Any = Deferred()
        self.transport: Any = None

    def makeConnection(self, transport: Any) -> None:
        self.transport = transport
        self.connectionMade()

    def connectionMade(self) -> None:
        pass

    def dataReceived(self, data: bytes) -> None:
        self.received += data
        for item in list(self.waiting):
            marker, d = item
            if marker in self.received:
                self.waiting.remove(item)
                d.callback(self.received)

    def connectionLost(self, reason: Any) -> None:
        for marker, d in self.waiting:
            d.errback(AssertionError(f"connection lost before {marker!r}; got {self.received[-300:]!r}"))
        self.waiting = []
        self.lost.callback(self.received)

    def waitFor(self, marker: bytes) -> Any:
        from twisted.internet.defer import Deferred, succeed

        if marker in self.received:
            return succeed(self.received)
        d: Any = Deferred()
        self.waiting.append((marker, d))
        return d

    def send(self, data: bytes) -> None:
        self.transport.write(data)


def connect(port: int, host: str = "127.0.0.1", bindAddress: str | None = None) -> Any:
    """
    A L{Collector} connected to C{port} (a Deferred).
    """
    from twisted.internet import reactor
    from twisted.internet.endpoints import TCP4ClientEndpoint
    from twisted.internet.protocol import Factory, Protocol

    class _Protocol(Collector, Protocol):
        pass

    bind = (bindAddress, 0) if bindAddress else None
    endpoint = TCP4ClientEndpoint(reactor, host, port, timeout=10, bindAddress=bind)
    return endpoint.connect(Factory.forProtocol(_Protocol))


def writeConfig(testCase: Any, text: str, users: dict[str, str] | None = None) -> str:
    """
    A config file with C{text} (which should say C{data_dir: ./data}) in a
    new temporary folder (L{tests.fakes.writeConfigFile}), and a users file
    with C{users} hashed with SHA512-CRYPT.

    @return: the config's absolute path.
    """
    from twisted_mail_suite.testing.configfile import writeUsers

    from ..fakes import writeConfigFile

    path = writeConfigFile(testCase, text)
    writeUsers(os.path.join(os.path.dirname(path), "data", "users.passwd"),
               users or {"alice": "secret", "bob": "hunter2"}, "SHA512-CRYPT")
    return path
