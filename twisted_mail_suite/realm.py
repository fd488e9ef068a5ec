# -*- test-case-name: tests.test_realm -*-
"""
The one realm and the one portal: SMTP AUTH, POP3 and chat /login all come
here, so one password works everywhere and failures are counted once.
"""
from __future__ import annotations

from typing import Callable

from twisted.cred.checkers import AllowAnonymousAccess
from twisted.cred.portal import IRealm, Portal
from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IReactorTime
from twisted.mail.pop3 import IMailbox
from twisted.mail.smtp import IMessageDelivery
from zope.interface import implementer

from .auth import AuthSession, LoginPolicy
from .config import Config
from .credentials import PasswordChecker
from .errors import MailboxInUse
from .interfaces import IChatUser, IMailStore, IUserDatabase


class MaildropLocks:
    """
    Which maildrops have a POP3 session (one at a time, RFC 1939 §8).
    """

    def __init__(self) -> None:
        self._held: set[str] = set()

    def acquire(self, user: str) -> Callable[[], None]:
        """
        @return: the release callable (idempotent).
        @raise MailboxInUse: if C{user}'s maildrop is held.
        """
        if user in self._held:
            raise MailboxInUse(user)
        self._held.add(user)
        released = []

        def release() -> None:
            if not released:
                released.append(True)
                self._held.discard(user)

        return release

    def isHeld(self, user: str) -> bool:
        return user in self._held


@implementer(IChatUser)
class ChatUser:
    """
    A logged-in chat user.
    """

    def __init__(self, name: str, config: Config, store: IMailStore) -> None:
        self.name = name
        self._config = config
        self._store = store


@implementer(IRealm)
class MailSuiteRealm:
    """
    Avatars: C{IMessageDelivery} (anonymous for MX, or a user after AUTH),
    C{IMailbox} (POP3, one session per maildrop) and L{IChatUser}.
    """

    def __init__(self, config: Config, store: IMailStore, users: IUserDatabase) -> None:
        self.config = config
        self.store = store
        self.users = users
        self.locks = MaildropLocks()

    def requestAvatar(self, avatarId, mind, *interfaces):  # type: ignore[no-untyped-def]
        from .pop3.mailbox import MaildirMailbox
        from .smtp.delivery import LocalDelivery

        anonymous = avatarId is None or avatarId == ()   # checkers.ANONYMOUS
        for interface in interfaces:
            if interface is IMessageDelivery:
                user = None if anonymous else avatarId
                return interface, LocalDelivery(self.config, self.store, self.users, user), _nothing
            if anonymous:
                continue
            if interface is IMailbox:
                release = self.locks.acquire(avatarId)
                mailbox = MaildirMailbox(self.store, avatarId)
                return interface, mailbox, release
            if interface is IChatUser:
                return interface, ChatUser(avatarId, self.config, self.store), _nothing
        raise NotImplementedError(f"no avatar for {interfaces!r}")


def _nothing() -> None:
    pass


class MailSuitePortal(Portal):
    """
    A C{Portal} that also carries the shared failed-login policy and the
    plaintext-password rule; protocols use L{session} once per connection.
    """

    def __init__(self, realm: MailSuiteRealm, checker: PasswordChecker, policy: LoginPolicy,
                 clock: IReactorTime, allowPlaintext: bool) -> None:
        super().__init__(realm, [checker, AllowAnonymousAccess()])
        self.checker = checker
        self.policy = policy
        self.clock = clock
        self.allowPlaintext = allowPlaintext

    @property
    def users(self) -> IUserDatabase:
        return self.realm.users  # type: ignore[attr-defined]

    def session(self, address: str, secure: bool) -> AuthSession:
        """
        The login helper for one connection from C{address}.
        """
        return AuthSession(self, address, secure)

    def allowsAPOP(self, user: str) -> bool:
        entry = self.users.lookup(user)
        return entry is not None and entry.allowsHashedCredentials

    def anyAllowsAPOP(self) -> bool:
        """
        Offer APOP only when some stored password permits it.
        """
        return any(self.allowsAPOP(name) for name in self.users.names())

    def anonymousDelivery(self) -> Deferred:
        """
        The MX avatar (no login): C{(IMessageDelivery, avatar, logout)}.
        """
        from twisted.cred.credentials import Anonymous

        return self.login(Anonymous(), None, IMessageDelivery)


def makePortal(config: Config, store: IMailStore, users: IUserDatabase | None = None,
               clock: IReactorTime | None = None,
               runInThread: Callable[..., Deferred] | None = None) -> MailSuitePortal:
    """
    The one portal of a suite: the users file of C{config} (or C{users}),
    the realm over C{store}, the failure policy of C{config.auth}.
    """
    from .credentials import PasswdFile, _runInThread

    if users is None:
        users = PasswdFile(config.usersFile)
    if clock is None:
        from twisted.internet import reactor as clock  # type: ignore[no-redef]
    checker = PasswordChecker(users, config.domains, runInThread or _runInThread)
    realm = MailSuiteRealm(config, store, users)
    return MailSuitePortal(realm, checker, LoginPolicy(config.auth, clock), clock,  # type: ignore[arg-type]
                           config.allow_plaintext_auth)


__all__ = ["makePortal", "MailSuitePortal", "MailSuiteRealm", "ChatUser", "MaildropLocks"]
