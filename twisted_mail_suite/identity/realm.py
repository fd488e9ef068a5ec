# -*- test-case-name: tests.identity.test_realm -*-
"""
The one realm and the one portal: SMTP AUTH, POP3 and chat /login all come
here, so one password works everywhere and failures are counted once.

The realm knows no protocol: it is a registry from avatar interface to
avatar factory, filled in by each protocol package where that protocol is
wired (C{smtp.avatars}, C{pop3.avatars}, C{chat.avatars}).
"""
from __future__ import annotations

from typing import Any, Callable, Union

from twisted.cred.checkers import AllowAnonymousAccess
from twisted.cred.credentials import Anonymous
from twisted.cred.portal import IRealm, Portal
from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IReactorTime
from zope.interface import implementer

from ..config import Config
from ..interfaces import NULL_METRICS, IFailureCounters, IMetrics, IUserDatabase
from .passwd import PasswordChecker
from .policy import AuthSession, LoginPolicy

__all__ = ["AvatarFactory", "MailSuitePortal", "MailSuiteRealm", "makePortal", "nothing"]

AvatarFactory = Callable[[Any], Union["tuple[Any, Callable[[], object]]", Deferred]]
"""
C{factory(avatarId) -> (avatar, logout)} (or a Deferred firing with that
pair); C{avatarId} is the user name, or L{None} for an anonymous login.
C{logout} is called once, when the protocol is done with the avatar.
"""


def nothing() -> None:
    """
    The logout of an avatar that holds nothing.
    """


@implementer(IRealm)
class MailSuiteRealm:
    """
    Avatars by interface, from the factories registered with L{register}.
    """

    def __init__(self) -> None:
        self._factories: dict[Any, tuple[AvatarFactory, bool]] = {}

    def register(self, interface: Any, factory: AvatarFactory, anonymous: bool = False) -> None:
        """
        Hand out avatars for C{interface} made by C{factory}.

        @param anonymous: whether a login without credentials (cred's
            C{ANONYMOUS}, e.g. an MX client) gets one too, with C{None}
            as the avatar ID.
        @raise ValueError: if C{interface} already has a factory.
        """
        if interface in self._factories:
            raise ValueError(f"an avatar factory for {interface.__name__} is already registered")
        self._factories[interface] = (factory, anonymous)

    def registered(self) -> list[Any]:
        """
        The interfaces with a factory, in registration order.
        """
        return list(self._factories)

    def requestAvatar(self, avatarId, mind, *interfaces):  # type: ignore[no-untyped-def]
        anonymous = avatarId is None or avatarId == ()   # checkers.ANONYMOUS
        for interface in interfaces:
            entry = self._factories.get(interface)
            if entry is None or (anonymous and not entry[1]):
                continue
            result = entry[0](None if anonymous else avatarId)
            if isinstance(result, Deferred):
                return result.addCallback(lambda pair, interface=interface: (interface, *pair))
            avatar, logout = result
            return interface, avatar, logout
        raise NotImplementedError(f"no avatar for {interfaces!r}")


class MailSuitePortal(Portal):
    """
    A C{Portal} that also carries the shared failed-login policy and the
    plaintext-password rule; protocols use L{session} once per connection.
    """

    def __init__(self, realm: MailSuiteRealm, checker: PasswordChecker, policy: LoginPolicy,
                 clock: IReactorTime, allowPlaintext: bool, metrics: IMetrics = NULL_METRICS) -> None:
        super().__init__(realm, [checker, AllowAnonymousAccess()])
        self.checker = checker
        self.policy = policy
        self.clock = clock
        self.allowPlaintext = allowPlaintext
        self.metrics = metrics

    def session(self, address: str, secure: bool, protocol: str = "") -> AuthSession:
        """
        The login helper for one connection from C{address}, over
        C{protocol} (the listener role its logins are counted under).
        """
        return AuthSession(self, address, secure, protocol)

    def loginAnonymous(self, interface: Any) -> Deferred:
        """
        The avatar for C{interface} without credentials (the MX delivery
        avatar): a Deferred firing with C{(interface, avatar, logout)}.
        """
        return self.login(Anonymous(), None, interface)


def makePortal(config: Config, users: IUserDatabase, clock: IReactorTime,
               runInThread: Callable[..., Deferred], metrics: IMetrics = NULL_METRICS,
               counters: IFailureCounters | None = None) -> MailSuitePortal:
    """
    The one portal of a suite, with an empty realm (each protocol package
    registers its avatars with C{portal.realm}): the checker over C{users}
    (its slow password checks run through C{runInThread}), the failure
    policy of C{config.auth} timed by C{clock}, its counts shared through
    C{counters} when given (several processes); logins are counted in
    C{metrics}.
    """
    checker = PasswordChecker(users, config.domains, runInThread, config.auth.default_scheme)
    policy = LoginPolicy(config.auth, clock, checker.userName, counters)
    return MailSuitePortal(MailSuiteRealm(), checker, policy, clock, config.allow_plaintext_auth, metrics)
