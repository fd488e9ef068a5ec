# -*- test-case-name: tests.test_pytest_plugin -*-
"""
The pytest plugin (registered through the C{pytest11} entry point, so
installing the package is enough): a C{mailsuite} fixture giving a started
L{twisted_mail_suite.testing.MailSuiteHarness} with users alice and bob.

    def test_welcomeMail(mailsuite):
        sendWelcome(f"127.0.0.1:{mailsuite.smtpPort}", mailsuite.address("alice"))
        message = pytest_twisted.blockon(mailsuite.waitForMessage(to="alice"))

Configure in pytest.ini / pyproject: C{mailsuite_scope = session} (or
C{module}) shares one harness; override the C{mailsuite_options} fixture
(session scope) to pass harness arguments (users, domain, tls, overrides).
Built on pytest-twisted: the reactor runs in its greenlet.
"""
from __future__ import annotations

from typing import Any, Iterator

import pytest

DEFAULT_USERS = {"alice": "alice-password", "bob": "bob-password"}


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addini("mailsuite_scope", "scope of the mailsuite fixture: function (default), module or session",
                  default="function")


def _scope(fixture_name: str, config: pytest.Config) -> str:
    scope = str(config.getini("mailsuite_scope") or "function")
    if scope not in ("function", "class", "module", "package", "session"):
        raise pytest.UsageError(f"mailsuite_scope: expected function, module or session, got {scope!r}")
    return scope


@pytest.fixture(scope="session")
def mailsuite_options() -> dict[str, Any]:
    """
    Keyword arguments for the harness; override in a conftest.py.
    """
    return {"users": dict(DEFAULT_USERS)}


def _startedHarness(options: dict[str, Any]) -> Iterator[Any]:
    import pytest_twisted

    from .testing import MailSuiteHarness

    harness = MailSuiteHarness(**options)
    pytest_twisted.blockon(harness.start())
    try:
        yield harness
    finally:
        pytest_twisted.blockon(harness.stop())


@pytest.fixture(scope=_scope)  # type: ignore[call-overload]
def mailsuite(mailsuite_options: dict[str, Any]) -> Iterator[Any]:
    """
    A started harness; stopped (ports closed, data removed) afterwards.
    """
    yield from _startedHarness(mailsuite_options)


@pytest.fixture(scope="session")
def mailsuite_session(mailsuite_options: dict[str, Any]) -> Iterator[Any]:
    """
    One harness for the whole session (faults are reset between uses by
    nobody but you: call C{reset()}).
    """
    yield from _startedHarness(mailsuite_options)
