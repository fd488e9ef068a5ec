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
