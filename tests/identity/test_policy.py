# -*- test-case-name: tests.identity.test_policy -*-
"""
Tests for the shared failed-login policy and the per-connection session.
"""
from __future__ import annotations

from twisted.cred.credentials import UsernamePassword
from twisted.internet.defer import fail
from twisted.internet.task import Clock
from twisted.mail.pop3 import IMailbox
from twisted.trial.unittest import SynchronousTestCase

from twisted_mail_suite.config import AuthConfig
from twisted_mail_suite.errors import LoginRefused, PlaintextRefused
from twisted_mail_suite.identity.policy import LoginFailed, LoginOutcome, LoginPolicy, LoginResult, isLoopback
from twisted_mail_suite.interfaces import IChatUser

from ..fakes import makeSuite


class PolicyTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.clock = Clock()
        self.policy = LoginPolicy(AuthConfig(max_failures=3, failure_delay=1.0, max_delay=3.0,
                                             window=60.0), self.clock)

    def test_delayGrows(self) -> None:
        """
        Each failure is answered later than the one before, up to the cap.
        """
        delays = [self.policy.recordFailure("alice", "10.0.0.1") for _ in range(4)]
        self.assertEqual(delays, [1.0, 2.0, 3.0, 3.0])

    def test_refusedAfterLimit(self) -> None:
        """
        An address past the limit is refused; another address is not.
        """
        for _ in range(3):
            self.policy.recordFailure("alice", "10.0.0.1")
        self.assertTrue(self.policy.isRefused("10.0.0.1"))
        self.assertFalse(self.policy.isRefused("10.0.0.2"))

    def test_windowForgets(self) -> None:
        """
        Failures older than the window no longer count.
        """
        for _ in range(3):
            self.policy.recordFailure("alice", "10.0.0.1")
        self.clock.advance(61)
        self.assertFalse(self.policy.isRefused("10.0.0.1"))
        self.assertEqual(self.policy.recordFailure("alice", "10.0.0.1"), 1.0)

    def test_countedPerUserAcrossAddresses(self) -> None:
        """
        Failures for one user from many addresses still slow that user down.
        """
        self.policy.recordFailure("alice", "10.0.0.1")
        self.policy.recordFailure("alice", "10.0.0.2")
        self.assertEqual(self.policy.recordFailure("alice", "10.0.0.3"), 3.0)

    def test_loopback(self) -> None:
        """
        127/8 and ::1 are loopback; others are not.
        """
        self.assertTrue(isLoopback("127.0.0.5"))
        self.assertTrue(isLoopback("::1"))
        self.assertFalse(isLoopback("192.0.2.1"))
        self.assertFalse(isLoopback("not-an-ip"))


class SessionTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.suite = makeSuite(self, **{"auth.max_failures_per_connection": 2, "auth.max_failures": 3})
        self.clock = self.suite.reactor

    def login(self, session, user: str, password: str):  # type: ignore[no-untyped-def]
        return session.authenticate(UsernamePassword(user.encode(), password.encode()), IChatUser)

    def test_success(self) -> None:
        """
        The right password gives the avatar at once.
        """
        session = self.suite.portal.session("127.0.0.1", secure=False)
        interface, avatar, logout = self.successResultOf(self.login(session, "alice", "secret"))
        self.assertEqual(avatar.name, "alice")

    def test_failureDelayed(self) -> None:
        """
        A wrong password fails only after the policy's delay.
        """
        session = self.suite.portal.session("127.0.0.1", secure=False)
        d = self.login(session, "alice", "wrong")
        self.assertNoResult(d)
        self.clock.advance(1.0)
        self.assertFalse(self.failureResultOf(d, LoginFailed).value.disconnect)

    def test_disconnectAfterPerConnectionLimit(self) -> None:
        """
        The connection's second failure tells the protocol to disconnect.
        """
        session = self.suite.portal.session("127.0.0.1", secure=False)
        first = self.login(session, "alice", "wrong")
        self.clock.advance(10)
        self.assertFalse(self.failureResultOf(first, LoginFailed).value.disconnect)
        d = self.login(session, "alice", "wrong")
        self.clock.advance(10)
        self.assertTrue(self.failureResultOf(d, LoginFailed).value.disconnect)

    def test_refusedAcrossProtocols(self) -> None:
        """
        Failures from one address, over any connections, end in refusal.
        """
        for _ in range(3):
            failed = self.login(self.suite.portal.session("127.0.0.1", False), "bob", "wrong")
            self.clock.advance(10)
            self.failureResultOf(failed, LoginFailed)
        d = self.login(self.suite.portal.session("127.0.0.1", False), "bob", "hunter2")
        self.failureResultOf(d, LoginRefused)

    def test_plaintextRule(self) -> None:
        """
        A password in the clear from a non-loopback address is refused
        unless over TLS.
        """
        remote = self.suite.portal.session("192.0.2.7", secure=False)
        self.assertFalse(remote.plaintextAllowed)
        self.failureResultOf(self.login(remote, "alice", "secret"), PlaintextRefused)
        secure = self.suite.portal.session("192.0.2.7", secure=True)
        self.successResultOf(self.login(secure, "alice", "secret"))

    def test_plaintextEverywhere(self) -> None:
        """
        C{allow_plaintext_auth} lifts the rule.
        """
        suite = makeSuite(self, allow_plaintext_auth=True)
        self.assertTrue(suite.portal.session("192.0.2.7", secure=False).plaintextAllowed)


class LoginOutcomeTests(SynchronousTestCase):
    """
    L{AuthSession.login}: the same policy as C{authenticate}, answered with
    a L{LoginResult} that never fails.
    """

    def setUp(self) -> None:
        self.suite = makeSuite(self, **{"auth.max_failures_per_connection": 2, "auth.max_failures": 3})
        self.clock = self.suite.reactor

    def login(self, session, user: str, password: str, interface: type = IChatUser):  # type: ignore[no-untyped-def]
        return session.login(UsernamePassword(user.encode(), password.encode()), interface)

    def session(self, address: str = "127.0.0.1", secure: bool = False):  # type: ignore[no-untyped-def]
        return self.suite.portal.session(address, secure)

    def test_succeeded(self) -> None:
        """
        The right password gives C{SUCCEEDED} with the avatar and its logout.
        """
        result = self.successResultOf(self.login(self.session(), "alice", "secret"))
        self.assertIs(result.outcome, LoginOutcome.SUCCEEDED)
        self.assertEqual(result.avatar.name, "alice")
        self.assertTrue(callable(result.logout))

    def test_failedThenDisconnect(self) -> None:
        """
        A wrong password is C{FAILED} after the delay; the connection's last
        allowed failure is C{FAILED_DISCONNECT}.
        """
        session = self.session()
        first = self.login(session, "alice", "wrong")
        self.assertNoResult(first)
        self.clock.advance(10)
        self.assertEqual(self.successResultOf(first), LoginResult(LoginOutcome.FAILED))
        second = self.login(session, "alice", "wrong")
        self.clock.advance(10)
        self.assertIs(self.successResultOf(second).outcome, LoginOutcome.FAILED_DISCONNECT)

    def test_refused(self) -> None:
        """
        An address past the limit is C{REFUSED}, even with the right password.
        """
        for _ in range(3):
            self.login(self.session(), "bob", "wrong")
            self.clock.advance(10)
        result = self.successResultOf(self.login(self.session(), "bob", "hunter2"))
        self.assertIs(result.outcome, LoginOutcome.REFUSED)

    def test_plaintextRefused(self) -> None:
        """
        A password in the clear from a remote address without TLS is
        C{PLAINTEXT_REFUSED}.
        """
        result = self.successResultOf(self.login(self.session("192.0.2.7"), "alice", "secret"))
        self.assertIs(result.outcome, LoginOutcome.PLAINTEXT_REFUSED)

    def test_inUse(self) -> None:
        """
        A held POP3 maildrop is C{IN_USE}; the holder's logout frees it.
        """
        held = self.successResultOf(self.login(self.session(), "alice", "secret", IMailbox))
        again = self.successResultOf(self.login(self.session(), "alice", "secret", IMailbox))
        self.assertIs(again.outcome, LoginOutcome.IN_USE)
        held.logout()
        self.assertIs(self.successResultOf(self.login(self.session(), "alice", "secret", IMailbox)).outcome,
                      LoginOutcome.SUCCEEDED)

    def test_temporary(self) -> None:
        """
        An unexpected error is logged and becomes C{TEMPORARY}.
        """
        self.suite.portal.checker._runInThread = lambda f, *args: fail(OSError("disk on fire"))
        result = self.successResultOf(self.login(self.session(), "alice", "secret"))
        self.assertIs(result.outcome, LoginOutcome.TEMPORARY)
        self.assertEqual(len(self.flushLoggedErrors(OSError)), 1)


def holdChecks(suite) -> list:  # type: ignore[no-untyped-def]
    """
    Make every password check of C{suite} wait: each appends
    C{(function, args, deferred)} to the list returned.
    """
    from twisted.internet.defer import Deferred

    held: list = []

    def runInThread(f, *args):  # type: ignore[no-untyped-def]
        d: Deferred = Deferred()
        held.append((f, args, d))
        return d

    suite.portal.checker._runInThread = runInThread
    return held


def runHeld(held: list) -> None:
    """
    Run the held checks now, in order, and forget them.
    """
    while held:
        f, args, d = held.pop(0)
        d.callback(f(*args))


class BurstTests(SynchronousTestCase):
    """
    Issue 12, item 3: an attempt counts from the moment it is made, so a
    burst of parallel wrong logins from one address cannot all be checked.
    """

    def setUp(self) -> None:
        self.suite = makeSuite(self, **{"auth.max_failures": 10, "auth.window": 60.0})
        self.clock = self.suite.reactor
        self.held = holdChecks(self.suite)

    def login(self, password: str, address: str = "127.0.0.1", user: str = "alice",
              suite=None):  # type: ignore[no-untyped-def]
        session = (suite or self.suite).portal.session(address, secure=True)
        return session.login(UsernamePassword(user.encode(), password.encode()), IChatUser)

    def test_burstCheckedUpToLimit(self) -> None:
        """
        299 parallel wrong logins from one address: at most C{max_failures}
        are checked (C{max_concurrent_checks} at a time, the others waiting
        their turn) and the rest refused; the right password after the
        burst is refused until the window has passed.
        """
        burst = [self.login("wrong") for _ in range(299)]
        checked = 0
        while self.held:
            f, args, d = self.held.pop(0)
            checked += 1
            d.callback(f(*args))
        self.assertEqual(checked, 10)
        self.clock.advance(30)
        outcomes = [self.successResultOf(d).outcome for d in burst]
        self.assertEqual(len([o for o in outcomes if o is LoginOutcome.REFUSED]), 299 - checked)
        self.assertLessEqual(set(outcomes) - {LoginOutcome.REFUSED},
                             {LoginOutcome.FAILED, LoginOutcome.FAILED_DISCONNECT})
        right = self.login("secret")
        self.assertEqual(self.held, [])
        self.assertIs(self.successResultOf(right).outcome, LoginOutcome.REFUSED)
        self.clock.advance(31)
        right = self.login("secret")
        runHeld(self.held)
        self.assertIs(self.successResultOf(right).outcome, LoginOutcome.SUCCEEDED)

    def test_inFlightCountTowardLimit(self) -> None:
        """
        Without a concurrency cap in the way, exactly C{max_failures}
        attempts of a burst are checked: those in flight count.
        """
        suite = makeSuite(self, **{"auth.max_failures": 10, "auth.max_concurrent_checks": 1000})
        held = holdChecks(suite)
        burst = [self.login("wrong", suite=suite) for _ in range(299)]
        self.assertEqual(len(held), 10)
        self.assertEqual(suite.portal.policy.inFlight("127.0.0.1"), 10)
        for d in burst[10:]:
            self.assertNoResult(d)
        checked = len(held)
        runHeld(held)
        suite.reactor.advance(60)
        self.assertEqual((checked, held), (10, []))
        self.assertEqual({self.successResultOf(d).outcome for d in burst[10:]}, {LoginOutcome.REFUSED})

    def test_rightBurstAboveLimitAllIn(self) -> None:
        """
        With C{max_concurrent_checks} above C{max_failures}, a burst of
        more right logins than C{max_failures} from one address (a pool of
        application connections) all get in: the attempts beyond the
        failures left wait their turn instead of being refused.
        """
        suite = makeSuite(self, **{"auth.max_failures": 10, "auth.max_concurrent_checks": 1000})
        held = holdChecks(suite)
        burst = [self.login("secret", suite=suite) for _ in range(50)]
        self.assertEqual(len(held), 10)
        while held:
            runHeld(held)
        self.assertEqual({self.successResultOf(d).outcome for d in burst}, {LoginOutcome.SUCCEEDED})

    def test_concurrentChecksCapped(self) -> None:
        """
        No more than C{max_concurrent_checks} checks from one address run at
        once; the others wait their turn, in order, and a finished check
        gives its place to the next: a burst of right passwords (mailboxes
        behind one NAT) all get in.
        """
        suite = makeSuite(self, **{"auth.max_concurrent_checks": 2})
        held = holdChecks(suite)
        session = suite.portal.session("127.0.0.1", secure=True)
        attempts = [session.login(UsernamePassword(b"alice", b"secret"), IChatUser) for _ in range(3)]
        self.assertEqual(len(held), 2)
        self.assertNoResult(attempts[2])
        self.assertEqual(suite.portal.policy.inFlight("127.0.0.1"), 2)
        f, args, d = held.pop(0)
        d.callback(f(*args))                               # the first check ends: the third starts
        self.assertEqual(len(held), 2)
        runHeld(held)
        self.assertEqual(suite.portal.policy.inFlight("127.0.0.1"), 0)
        self.assertEqual([self.successResultOf(d).outcome for d in attempts[1:]],
                         [LoginOutcome.SUCCEEDED, LoginOutcome.SUCCEEDED])

    def test_placeReleasedOnEveryOutcome(self) -> None:
        """
        Success, failure and an unexpected error each give the attempt's
        place back.
        """
        policy = self.suite.portal.policy
        for password in ("secret", "wrong"):
            d = self.login(password)
            self.assertEqual(policy.inFlight("127.0.0.1"), 1)
            runHeld(self.held)
            self.assertEqual(policy.inFlight("127.0.0.1"), 0)
            self.clock.advance(10)
            self.successResultOf(d)
        d = self.login("secret")
        self.held.pop()[2].errback(OSError("disk on fire"))
        self.assertIs(self.successResultOf(d).outcome, LoginOutcome.TEMPORARY)
        self.assertEqual(len(self.flushLoggedErrors(OSError)), 1)
        self.assertEqual(policy.inFlight("127.0.0.1"), 0)


class AddressGroupTests(SynchronousTestCase):
    """
    Addresses are counted by network, as Dovecot's auth penalty does.
    """

    def policy(self, **settings: object) -> LoginPolicy:
        return LoginPolicy(AuthConfig(**{"max_failures": 2, **settings}), Clock())  # type: ignore[arg-type]

    def test_ipv6SlashSixtyFourShared(self) -> None:
        """
        Two addresses in one IPv6 /64 share the counter; another /64 and
        two IPv4 addresses do not.
        """
        policy = self.policy()
        policy.recordFailure("alice", "2001:db8:1:2::1")
        policy.recordFailure("alice", "2001:db8:1:2:ffff::9")
        self.assertTrue(policy.isRefused("2001:db8:1:2::77"))
        self.assertFalse(policy.isRefused("2001:db8:1:3::1"))
        policy.recordFailure("alice", "192.0.2.1")
        self.assertFalse(policy.isRefused("192.0.2.2"))

    def test_configurablePrefixes(self) -> None:
        """
        C{ipv6_prefix} and C{ipv4_prefix} set the groups; an IPv4-mapped
        IPv6 address counts as its IPv4 address.
        """
        policy = self.policy(ipv6_prefix=48, ipv4_prefix=24)
        policy.recordFailure("alice", "2001:db8:1:2::1")
        policy.recordFailure("alice", "2001:db8:1:3::1")
        self.assertTrue(policy.isRefused("2001:db8:1:ffff::1"))
        policy.recordFailure("alice", "192.0.2.1")
        policy.recordFailure("alice", "::ffff:192.0.2.200")
        self.assertTrue(policy.isRefused("192.0.2.99"))
        self.assertFalse(policy.isRefused("192.0.3.1"))

    def test_sessionsShareTheGroup(self) -> None:
        """
        Through the portal, failures from two addresses of one /64 refuse
        a third address of it.
        """
        suite = makeSuite(self, **{"auth.max_failures": 2})
        for address in ("2001:db8::1", "2001:db8::2"):
            d = suite.portal.session(address, secure=True).login(UsernamePassword(b"bob", b"wrong"), IChatUser)
            suite.reactor.advance(10)
            self.successResultOf(d)
        d = suite.portal.session("2001:db8::3", secure=True).login(UsernamePassword(b"bob", b"hunter2"), IChatUser)
        self.assertIs(self.successResultOf(d).outcome, LoginOutcome.REFUSED)

    def test_userCounterNormalised(self) -> None:
        """
        The per-user counter is keyed on the login name as the checker
        normalises it: C{Alice}, C{alice@example.test} and C{ alice} are
        one user.
        """
        suite = makeSuite(self, **{"auth.failure_delay": 1.0, "auth.max_delay": 100.0})
        policy = suite.portal.policy
        policy.recordFailure("Alice", "192.0.2.1")
        policy.recordFailure("alice@Example.Test", "192.0.2.2")
        self.assertEqual(policy.recordFailure(" alice", "192.0.2.3"), 4.0)


class CredentialCapTests(SynchronousTestCase):
    """
    Issue 12, item 1: over-long credentials fail before any hashing, in
    the one place every protocol's login passes through.
    """

    def setUp(self) -> None:
        self.suite = makeSuite(self)
        self.checks: list[object] = []
        original = self.suite.portal.checker._runInThread

        def runInThread(f, *args):  # type: ignore[no-untyped-def]
            self.checks.append(f)
            return original(f, *args)

        self.suite.portal.checker._runInThread = runInThread
        self.hashed: list[str] = []
        from twisted_mail_suite.identity import hashing

        verify = hashing.verifyPassword
        self.patch(hashing, "verifyPassword", lambda scheme, *rest: self.hashed.append(scheme) or verify(scheme, *rest))

    def login(self, user: bytes, password: bytes):  # type: ignore[no-untyped-def]
        d = self.suite.portal.session("127.0.0.1", secure=True).login(UsernamePassword(user, password), IChatUser)
        self.suite.reactor.advance(10)
        return self.successResultOf(d)

    def test_longPasswordNotHashed(self) -> None:
        """
        A 40 KB password fails as a wrong password would (and counts as a
        failure) without the checker or any hash function being called.
        """
        result = self.login(b"alice", b"x" * 40_000)
        self.assertIs(result.outcome, LoginOutcome.FAILED)
        self.assertEqual((self.checks, self.hashed), ([], []))
        self.assertEqual(self.suite.portal.policy.recordFailure("alice", "127.0.0.1"), 2.0)   # the second failure

    def test_longUserNameNotHashed(self) -> None:
        """
        So does a user name over C{max_username_length}.
        """
        result = self.login(b"a" * 300, b"secret")
        self.assertIs(result.outcome, LoginOutcome.FAILED)
        self.assertEqual((self.checks, self.hashed), ([], []))

    def test_limitsConfigurable(self) -> None:
        """
        A password at the cap is checked; one byte more is not.
        """
        suite = makeSuite(self, **{"auth.max_password_length": 8})
        for password, checked in [(b"12345678", True), (b"123456789", False)]:
            self.hashed.clear()
            d = suite.portal.session("127.0.0.1", True).login(UsernamePassword(b"alice", password), IChatUser)
            suite.reactor.advance(10)
            self.successResultOf(d)
            self.assertEqual(bool(self.hashed), checked)
