# -*- test-case-name: tests.identity.test_policy -*-
"""
The one failed-login policy, shared by SMTP AUTH, POP3 and chat /login:
failures are counted per user and per client address (within a window);
each failure is answered later than the one before; past the limits the
client is refused and disconnected.  Protocols ask; they never count.

L{AuthSession.login} answers every attempt with a L{LoginResult} whose
L{LoginOutcome} each protocol maps to its reply through one table.
"""
from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from enum import Enum
from typing import Any, Callable

from twisted.cred.credentials import IUsernamePassword
from twisted.cred.error import UnauthorizedLogin
from twisted.internet.defer import Deferred, fail, maybeDeferred
from twisted.internet.interfaces import IReactorTime
from twisted.logger import Logger
from twisted.python.failure import Failure

from ..config import AuthConfig
from ..errors import LoginRefused, MailboxInUse, PlaintextRefused

__all__ = ["AuthSession", "LoginFailed", "LoginOutcome", "LoginPolicy", "LoginResult", "isLoopback"]


def isLoopback(host: str | None) -> bool:
    if not host:
        return False
    try:
        return ipaddress.ip_address(host.split("%", 1)[0]).is_loopback
    except ValueError:
        return False


class LoginFailed(UnauthorizedLogin):
    """
    A wrong user or password; C{disconnect} tells the protocol to close the
    connection after its reply.
    """

    def __init__(self, disconnect: bool) -> None:
        super().__init__("authentication failed")
        self.disconnect = disconnect


class LoginOutcome(Enum):
    """
    How a login attempt ended, in words every protocol shares.
    """

    SUCCEEDED = "succeeded"
    FAILED = "failed"                        # wrong user or password; try again
    FAILED_DISCONNECT = "failed-disconnect"  # wrong, and this connection has had enough
    REFUSED = "refused"                      # too many failures: refused unchecked, disconnect
    PLAINTEXT_REFUSED = "plaintext-refused"  # a password in the clear on an insecure channel
    IN_USE = "in-use"                        # the avatar is held elsewhere (POP3 maildrop lock)
    TEMPORARY = "temporary"                  # anything unexpected (logged): try again later


@dataclass(frozen=True)
class LoginResult:
    """
    The result of L{AuthSession.login}: the outcome, and for
    L{LoginOutcome.SUCCEEDED} the avatar and its logout callable (which
    the protocol must call exactly once, however the connection ends).
    """

    outcome: LoginOutcome
    avatar: Any = None
    logout: Callable[[], object] | None = None


def _outcomeOf(failure: Failure) -> LoginOutcome:
    error = failure.value
    if isinstance(error, LoginFailed):
        return LoginOutcome.FAILED_DISCONNECT if error.disconnect else LoginOutcome.FAILED
    if isinstance(error, LoginRefused):
        return LoginOutcome.REFUSED
    if isinstance(error, PlaintextRefused):
        return LoginOutcome.PLAINTEXT_REFUSED
    if isinstance(error, MailboxInUse):
        return LoginOutcome.IN_USE
    if isinstance(error, UnauthorizedLogin):
        return LoginOutcome.FAILED
    return LoginOutcome.TEMPORARY


@dataclass
class _Counter:
    count: int = 0
    since: float = 0.0


class LoginPolicy:
    """
    Failure bookkeeping for every protocol, with an injectable clock.
    """

    def __init__(self, config: AuthConfig, clock: IReactorTime) -> None:
        self.config = config
        self.clock = clock
        self._byAddress: dict[str, _Counter] = {}
        self._byUser: dict[str, _Counter] = {}

    def _current(self, table: dict[str, _Counter], key: str) -> int:
        counter = table.get(key)
        if counter is None:
            return 0
        if self.clock.seconds() - counter.since > self.config.window:
            del table[key]
            return 0
        return counter.count

    def _bump(self, table: dict[str, _Counter], key: str) -> int:
        count = self._current(table, key) + 1
        counter = table.setdefault(key, _Counter(0, self.clock.seconds()))
        counter.count = count
        if len(table) > 100_000:   # bounded memory under a spray of addresses
            table.pop(next(iter(table)))
        return count

    def isRefused(self, address: str) -> bool:
        """
        Too many failures from C{address}: refuse without checking.
        """
        return self._current(self._byAddress, address) >= self.config.max_failures

    def recordFailure(self, user: str, address: str) -> float:
        """
        @return: how long to wait before answering this failure.
        """
        byAddress = self._bump(self._byAddress, address)
        byUser = self._bump(self._byUser, user.lower())
        worst = max(byAddress, byUser)
        return min(self.config.failure_delay * 2 ** (worst - 1), self.config.max_delay)

    def recordSuccess(self, user: str, address: str) -> None:
        self._byUser.pop(user.lower(), None)


class AuthSession:
    """
    One connection's view of the portal: applies the plaintext rule, the
    refusal and delay policy and the per-connection failure limit.
    """

    log = Logger()

    def __init__(self, portal, address: str, secure: bool) -> None:  # type: ignore[no-untyped-def]
        self.portal = portal
        self.address = address
        self.secure = secure
        self.failures = 0

    @property
    def plaintextAllowed(self) -> bool:
        """
        May this connection send a password in the clear (TLS or loopback
        or C{allow_plaintext_auth})?
        """
        return self.secure or self.portal.allowPlaintext or isLoopback(self.address)

    def authenticate(self, credentials: object, interface: type, mind: object = None) -> Deferred:
        """
        Log in for C{interface}.

        @return: a Deferred firing with C{(interface, avatar, logout)}, or
            failing with L{PlaintextRefused}, L{LoginRefused} (disconnect at
            once) or L{LoginFailed} (after the policy's delay).
        """
        policy: LoginPolicy = self.portal.policy
        if IUsernamePassword.providedBy(credentials) and not self.plaintextAllowed:
            return fail(PlaintextRefused())
        if policy.isRefused(self.address):
            self.log.warn("Login refused for {address}: too many failures", address=self.address)
            return fail(LoginRefused())
        user = credentials.username  # type: ignore[attr-defined]
        if isinstance(user, bytes):
            user = user.decode("utf-8", "replace")
        d = self.portal.login(credentials, mind, interface)

        def succeeded(result: tuple) -> tuple:
            policy.recordSuccess(user, self.address)
            return result

        def failed(failure):  # type: ignore[no-untyped-def]
            failure.trap(UnauthorizedLogin)
            if isinstance(failure.value, LoginFailed):
                return failure
            self.failures += 1
            delay = policy.recordFailure(user, self.address)
            self.log.info("Failed login for {user} from {address}", user=user, address=self.address)
            disconnect = (self.failures >= self.portal.policy.config.max_failures_per_connection
                          or policy.isRefused(self.address))
            later: Deferred = Deferred()
            self.portal.clock.callLater(delay, later.errback, LoginFailed(disconnect))
            return later

        return d.addCallbacks(succeeded, failed)

    def login(self, credentials: object, interface: type) -> Deferred:
        """
        Log in for C{interface}, as L{authenticate} does, with the same
        policy.

        @return: a Deferred that never fails, firing with a L{LoginResult}
            (after the policy's delay for a wrong password).  An unexpected
            error is logged here and becomes L{LoginOutcome.TEMPORARY}.
        """

        def succeeded(result: tuple) -> LoginResult:
            interface, avatar, logout = result
            return LoginResult(LoginOutcome.SUCCEEDED, avatar, logout)

        def failed(failure: Failure) -> LoginResult:
            outcome = _outcomeOf(failure)
            if outcome is LoginOutcome.TEMPORARY:
                self.log.failure("Login from {address} failed unexpectedly", failure, address=self.address)
            return LoginResult(outcome)

        return maybeDeferred(self.authenticate, credentials, interface).addCallbacks(succeeded, failed)
