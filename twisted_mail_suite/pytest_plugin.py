# -*- test-case-name: tests.test_pytest_plugin -*-
"""
The pytest plugin (registered through the C{pytest11} entry point, so
installing the package is enough).

C{mailsuite}: a started L{twisted_mail_suite.testing.ThreadedHarness} with
users alice and bob (random passwords, in C{mailsuite.users}).  It runs on
a reactor thread of its own, so plain synchronous tests use blocking
clients (smtplib, Django, Flask-Mail) and blocking methods:

    def test_welcome(mailsuite):
        with smtplib.SMTP("127.0.0.1", mailsuite.smtpPort) as client:
            client.sendmail("app@example.test", [mailsuite.address("bob")], b"Subject: Welcome\\r\\n\\r\\nhi\\r\\n")
        assert mailsuite.waitForMessage(to="bob", subject="Welcome", timeout=5)

C{mailsuite_twisted}: a L{twisted_mail_suite.testing.MailSuiteHarness} on
the global reactor, with the Deferred API, for pytest-twisted tests.

Configure in pytest.ini / pyproject: C{mailsuite_scope = session} (or
C{module}) shares one C{mailsuite} server, emptied before each test (a
clear, under a millisecond, instead of a start, about 11 ms);
override the C{mailsuite_options} fixture (session scope) to pass harness
arguments (users, domain, tls, overrides).  Every test starts with empty
mailboxes and no faults, whatever the scope.
"""
from __future__ import annotations

from typing import Any, Iterator

import pytest

SCOPES = ("function", "class", "module", "package", "session")
_shared = pytest.StashKey[list]()


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addini("mailsuite_scope", "scope of the mailsuite fixture: function (default), module or session "
                  "(a shared server is emptied before each test)", default="function")


def pytest_configure(config: pytest.Config) -> None:
    config.stash[_shared] = []


def pytest_unconfigure(config: pytest.Config) -> None:
    from .testing.threaded import stopSharedReactorThread

    stopSharedReactorThread()


def _scope(fixture_name: str, config: pytest.Config) -> str:
    scope = str(config.getini("mailsuite_scope") or "function")
    if scope not in SCOPES:
        raise pytest.UsageError(f"mailsuite_scope: expected function, module or session, got {scope!r}")
    return scope


@pytest.fixture(scope="session")
def mailsuite_options() -> dict[str, Any]:
    """
    Keyword arguments for the harness; override in a conftest.py.
    """
    return {}


def _threaded(options: dict[str, Any], request: pytest.FixtureRequest) -> Iterator[Any]:
    from .testing import ThreadedHarness

    harness = ThreadedHarness(**options).start()
    shared = request.config.stash[_shared] if request.scope != "function" else []
    shared.append(harness)
    try:
        yield harness
    finally:
        shared.remove(harness)
        harness.stop()


@pytest.fixture(scope=_scope)  # type: ignore[call-overload]
def mailsuite(mailsuite_options: dict[str, Any], request: pytest.FixtureRequest) -> Iterator[Any]:
    """
    A started ThreadedHarness (blocking methods); stopped afterwards.
    """
    yield from _threaded(mailsuite_options, request)


@pytest.fixture(scope="session")
def mailsuite_session(mailsuite_options: dict[str, Any], request: pytest.FixtureRequest) -> Iterator[Any]:
    """
    One ThreadedHarness for the whole session (for session-scoped fixtures
    of your own), emptied before each test like every shared one.
    """
    yield from _threaded(mailsuite_options, request)


@pytest.fixture(autouse=True)
def _mailsuite_isolation(request: pytest.FixtureRequest) -> None:
    """
    Empty every shared harness before each test: no mail, no faults, no
    connection, nothing in flight from an earlier test.
    """
    for harness in request.config.stash[_shared]:
        harness.clear()


@pytest.fixture
def mailsuite_twisted(mailsuite_options: dict[str, Any], request: pytest.FixtureRequest) -> Iterator[Any]:
    """
    A started MailSuiteHarness on the global reactor, with the Deferred API,
    for pytest-twisted tests (C{@pytest_twisted.inlineCallbacks}).
    """
    if not request.config.pluginmanager.hasplugin("twisted"):
        pytest.fail("mailsuite_twisted needs pytest-twisted, installed and active (pip install pytest-twisted; "
                    "no -p no:twisted); plain tests use the mailsuite fixture", pytrace=False)
    import pytest_twisted

    from .testing import MailSuiteHarness

    harness = MailSuiteHarness(**mailsuite_options)
    pytest_twisted.blockon(harness.start())
    try:
        yield harness
    finally:
        pytest_twisted.blockon(harness.stop())
