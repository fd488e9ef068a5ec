# -*- test-case-name: tests.test_auth -*-
"""
The one failed-login policy, shared by SMTP AUTH, POP3 and chat /login:
failures are counted per user and per client address (within a window);
each failure is answered later than the one before; past the limits the
client is refused and disconnected.  Protocols ask; they never count.
"""
from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from twisted.cred.credentials import IUsernamePassword
from twisted.cred.error import UnauthorizedLogin
from twisted.internet.defer import Deferred, fail
from twisted.internet.interfaces import IReactorTime
from twisted.logger import Logger

from .config import AuthConfig
from .errors import LoginRefused, PlaintextRefused


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
