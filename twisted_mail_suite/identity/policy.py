# -*- test-case-name: tests.identity.test_policy -*-
"""
The one failed-login policy, shared by SMTP AUTH, POP3 and chat /login:
failures are counted per user (by normalised login name) and per client
address group (IPv4 /32 and IPv6 /64 by default) within a window, and an
attempt counts from the moment it is made, not when its check ends; each
failure is answered later than the one before; past the limits the client
is refused and disconnected.  Over-long credentials fail unchecked.
Protocols ask; they never count.

L{AuthSession.login} answers every attempt with a L{LoginResult} whose
L{LoginOutcome} each protocol maps to its reply through one table; it is
also where the metrics hear of every failed login (by protocol and
outcome) and of every logged-in session, until its logout.
"""
from __future__ import annotations

import functools
import ipaddress
from collections import deque
from dataclasses import dataclass
from enum import Enum
from typing import Any, Callable

from twisted.cred.credentials import IUsernamePassword
from twisted.cred.error import UnauthorizedLogin
from twisted.internet.defer import Deferred, fail, gatherResults, maybeDeferred, succeed
from twisted.internet.interfaces import IReactorTime
from twisted.logger import Logger
from twisted.python.failure import Failure

from ..config import AuthConfig
from ..errors import LoginRefused, MailboxInUse, PlaintextRefused, SharedStateUnavailable
from ..interfaces import IFailureCounters

__all__ = ["AuthSession", "LoginAttempt", "LoginFailed", "LoginOutcome", "LoginPolicy", "LoginResult", "isLoopback"]


@functools.lru_cache(maxsize=1024)
def isLoopback(host: str | None) -> bool:
    """
    Is C{host} a loopback address?  (Asked at every EHLO and login: the
    answer for the last 1,024 addresses is remembered, as parsing one
    costs more than the rest of the question.)
    """
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


def _lower(name: str) -> str:
    return name.strip().lower()


def _text(value: object) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def _size(value: object) -> int:
    return len(value) if isinstance(value, bytes) else len(str(value).encode("utf-8"))


class LoginAttempt:
    """
    One login attempt's place in its address group's count, taken before
    the password is checked (L{LoginPolicy.reserve}) and given back once,
    whatever the outcome (L{release}).
    """

    def __init__(self, policy: LoginPolicy, key: str) -> None:
        self._policy = policy
        self._key = key
        self._held = True

    def release(self) -> None:
        if self._held:
            self._held = False
            self._policy._release(self._key)


class LoginPolicy:
    """
    Failure bookkeeping for every protocol, with an injectable clock.

    Addresses are counted by group (C{auth.ipv4_prefix}, C{auth.ipv6_prefix}:
    one IPv6 /64 is one client by default, as Dovecot's auth penalty groups
    them), and an attempt counts from the moment it is made: L{reserve}
    takes a place before the check, so a burst of parallel attempts cannot
    all be checked while none has failed yet.  Users are counted by their
    normalised login name (C{normalizeUser}: the checker's).
    """

    def __init__(self, config: AuthConfig, clock: IReactorTime,
                 normalizeUser: Callable[[str], str | None] | None = None,
                 shared: IFailureCounters | None = None) -> None:
        self.config = config
        self.clock = clock
        self.shared = shared        # counts shared with other processes (Redis); None: this process's only
        self._normalizeUser = normalizeUser or _lower
        self._byAddress: dict[str, _Counter] = {}
        self._byUser: dict[str, _Counter] = {}
        self._pending: dict[str, int] = {}      # address group -> attempts being checked
        self._waiting: dict[str, deque[Deferred]] = {}   # address group -> attempts waiting their turn

    def addressKey(self, address: str) -> str:
        """
        The group C{address} is counted in: its network of
        C{auth.ipv4_prefix} or C{auth.ipv6_prefix} bits (an IPv4-mapped
        IPv6 address as IPv4); anything else as it is.
        """
        try:
            ip = ipaddress.ip_address(address.split("%", 1)[0])
        except ValueError:
            return address
        if ip.version == 6 and ip.ipv4_mapped is not None:     # type: ignore[union-attr]
            ip = ip.ipv4_mapped                                # type: ignore[union-attr]
        prefix = self.config.ipv4_prefix if ip.version == 4 else self.config.ipv6_prefix
        return str(ipaddress.ip_network((ip, prefix), strict=False))

    def userKey(self, user: str) -> str:
        """
        The per-user counter's key: the normalised login name (so
        C{Alice}, C{alice@example.test} and C{alice} share one).
        """
        return self._normalizeUser(user) or _lower(user)

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

    def inFlight(self, address: str) -> int:
        """
        Attempts from C{address}'s group being checked now.
        """
        return self._pending.get(self.addressKey(address), 0)

    def isRefused(self, address: str) -> bool:
        """
        Too many failures from C{address}'s group, counting the attempts
        still being checked: refuse without checking.
        """
        return self._refused(self.addressKey(address))

    def _refused(self, key: str) -> bool:
        return self._current(self._byAddress, key) + self._pending.get(key, 0) >= self.config.max_failures

    def _exhausted(self, key: str) -> bool:
        return self._current(self._byAddress, key) >= self.config.max_failures

    def _room(self, key: str) -> bool:
        """
        May one more attempt of group C{key} be checked now?  Not more than
        C{auth.max_concurrent_checks} at once, and never more in flight than
        the failures the group has left (so a burst of wrong passwords gets
        exactly C{auth.max_failures} checks, whatever the concurrency).
        """
        pending = self._pending.get(key, 0)
        return pending < self.config.max_concurrent_checks and \
            self._current(self._byAddress, key) + pending < self.config.max_failures

    def acquire(self, address: str) -> Deferred:
        """
        Take a place for one attempt from C{address} before checking it.
        At most C{auth.max_concurrent_checks} attempts of a group are
        checked at once, and never more than the group has failures left;
        the others wait their turn (in order), and each is judged again
        when its turn comes, so a burst of wrong passwords uses up the
        group's attempts while a burst of right ones (several mailboxes
        behind one NAT, a pool of application connections) is only queued,
        whatever C{auth.max_concurrent_checks} says.

        @return: a Deferred firing with the L{LoginAttempt} to release when
            the check is over, or with L{None} if the group is refused.
        """
        if self.shared is not None:           # learn what the other processes counted first
            key = self.addressKey(address)
            return self.shared.current("address:" + key).addCallback(self._learned, self._byAddress, key) \
                .addCallback(lambda _: self._acquire(address))
        return self._acquire(address)

    def _learned(self, count: int, table: dict[str, _Counter], key: str) -> int:
        """
        Take the shared count of C{key} as ours (it includes ours).
        """
        counter = table.get(key)
        if count and counter is None:
            table[key] = _Counter(count, self.clock.seconds())
        elif counter is not None:
            counter.count = count
            if not count:
                del table[key]
        return count

    def _acquire(self, address: str) -> Deferred:
        key = self.addressKey(address)
        if self._exhausted(key):
            return succeed(None)
        if self._room(key):
            return succeed(self._take(key))
        waiting: Deferred = Deferred()
        self._waiting.setdefault(key, deque()).append(waiting)
        return waiting

    def _take(self, key: str) -> LoginAttempt:
        self._pending[key] = self._pending.get(key, 0) + 1
        return LoginAttempt(self, key)

    def _release(self, key: str) -> None:
        left = self._pending.get(key, 0) - 1
        if left > 0:
            self._pending[key] = left
        else:
            self._pending.pop(key, None)
        queue = self._waiting.get(key)
        while queue and (self._exhausted(key) or self._room(key)):
            turn = queue.popleft()
            turn.callback(None if self._exhausted(key) else self._take(key))
        if not queue:
            self._waiting.pop(key, None)

    def recordFailure(self, user: str, address: str) -> float:
        """
        @return: how long to wait before answering this failure.
        """
        byAddress = self._bump(self._byAddress, self.addressKey(address))
        byUser = self._bump(self._byUser, self.userKey(user))
        worst = max(byAddress, byUser)
        return min(self.config.failure_delay * 2 ** (worst - 1), self.config.max_delay)

    def countFailure(self, user: str, address: str) -> Deferred:
        """
        L{recordFailure}, counted with the other processes too when the
        counts are shared.

        @return: a Deferred firing with the delay before the answer
            (at once without shared counts), failing with
            L{twisted_mail_suite.cluster.RedisUnavailable} when the shared
            counts cannot be reached.
        """
        delay = self.recordFailure(user, address)
        if self.shared is None:
            return succeed(delay)
        byAddress, byUser = self.addressKey(address), self.userKey(user)
        window = self.config.window
        counts = [self.shared.bump("address:" + byAddress, window).addCallback(
                      self._learned, self._byAddress, byAddress),
                  self.shared.bump("user:" + byUser, window).addCallback(self._learned, self._byUser, byUser)]
        return gatherResults(counts, consumeErrors=True).addCallbacks(
            lambda both: min(self.config.failure_delay * 2 ** (max(both) - 1), self.config.max_delay),
            lambda failure: failure.value.subFailure)

    def recordSuccess(self, user: str, address: str) -> None:
        self._byUser.pop(self.userKey(user), None)
        if self.shared is not None:
            self.shared.reset("user:" + self.userKey(user)).addErrback(
                lambda failure: AuthSession.log.warn("Shared failure count not reset: {error}",
                                                     error=failure.getErrorMessage()))


class _Logout:
    """
    A session's logout that also tells the metrics the session ended, once
    however often it is called.
    """

    __slots__ = ("_logout", "_metrics", "_protocol")

    def __init__(self, logout: Callable[[], object], metrics: Any, protocol: str) -> None:
        self._logout: Callable[[], object] | None = logout
        self._metrics = metrics
        self._protocol = protocol

    def __call__(self) -> object:
        logout, self._logout = self._logout, None
        if logout is None:
            return None
        self._metrics.sessionClosed(self._protocol)
        return logout()


class AuthSession:
    """
    One connection's view of the portal: applies the plaintext rule, the
    credential length caps, the refusal and delay policy and the
    per-connection failure limit.  Every protocol's login passes here.
    """

    log = Logger()

    __slots__ = ("portal", "address", "secure", "protocol", "failures")     # one per connection: no __dict__

    def __init__(self, portal, address: str, secure: bool, protocol: str = "") -> None:  # type: ignore[no-untyped-def]
        """
        @param protocol: the listener role, for the metrics
            (C{portal.metrics}, an C{IMetrics}).
        """
        self.portal = portal
        self.address = address
        self.secure = secure
        self.protocol = protocol
        self.failures = 0

    @property
    def plaintextAllowed(self) -> bool:
        """
        May this connection send a password in the clear (TLS or loopback
        or C{allow_plaintext_auth})?
        """
        return self.secure or self.portal.allowPlaintext or isLoopback(self.address)

    def _tooLong(self, credentials: object, config: AuthConfig) -> bool:
        """
        Is the user name or the password over its cap (C{auth.max_username_length},
        C{auth.max_password_length}, in UTF-8 octets)?  Such a login fails
        unchecked: no hash function ever sees it.
        """
        if _size(getattr(credentials, "username", b"")) > config.max_username_length:
            return True
        password = getattr(credentials, "password", None) if IUsernamePassword.providedBy(credentials) else None
        return password is not None and _size(password) > config.max_password_length

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
        return policy.acquire(self.address).addCallback(self._check, credentials, interface, mind)

    def _check(self, attempt: LoginAttempt | None, credentials: object, interface: type,
               mind: object) -> Deferred:
        policy: LoginPolicy = self.portal.policy
        if attempt is None:
            self.log.warn("Login refused for {address}: too many failures", address=self.address)
            return fail(LoginRefused())
        user = _text(credentials.username)  # type: ignore[attr-defined]
        if self._tooLong(credentials, policy.config):
            d: Deferred = fail(UnauthorizedLogin("credentials too long"))
            user = user[:64]
        else:
            d = maybeDeferred(self.portal.login, credentials, mind, interface)

        def succeeded(result: tuple) -> tuple:
            attempt.release()
            policy.recordSuccess(user, self.address)
            return result

        def failed(failure):  # type: ignore[no-untyped-def]
            if not failure.check(UnauthorizedLogin) or isinstance(failure.value, LoginFailed):
                attempt.release()
                return failure
            self.failures += 1
            counted = policy.countFailure(user, self.address)
            counted.addBoth(lambda result: (attempt.release(), result)[1])   # the next in line is judged by it
            return counted.addCallback(answerLater)

        def answerLater(delay: float) -> Deferred:
            self.log.info("Failed login for {user} from {address}", user=user, address=self.address)
            disconnect = (self.failures >= policy.config.max_failures_per_connection
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
            Counted in the metrics: a failure by its outcome, a success as
            a session until its logout.
        """
        metrics, protocol = self.portal.metrics, self.protocol

        def succeeded(result: tuple) -> LoginResult:
            interface, avatar, logout = result
            metrics.sessionOpened(protocol)
            return LoginResult(LoginOutcome.SUCCEEDED, avatar, _Logout(logout, metrics, protocol))

        def failed(failure: Failure) -> LoginResult:
            outcome = _outcomeOf(failure)
            if failure.check(SharedStateUnavailable):
                self.log.warn("Login from {address} refused for now: {error}", address=self.address,
                              error=failure.getErrorMessage())
            elif outcome is LoginOutcome.TEMPORARY:
                self.log.failure("Login from {address} failed unexpectedly", failure, address=self.address)
            metrics.loginFailed(protocol, outcome.value)
            return LoginResult(outcome)

        return maybeDeferred(self.authenticate, credentials, interface).addCallbacks(succeeded, failed)
