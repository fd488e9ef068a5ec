# -*- test-case-name: tests.pop3.test_locks -*-
"""
POP3's avatar: a C{twisted.mail.pop3.IMailbox} over the mail store, one
session per maildrop (the lock is held from login to logout).
"""
from __future__ import annotations

from typing import Any, Callable

from twisted.internet.defer import Deferred
from twisted.mail.pop3 import IMailbox

from ..registry import SuiteParts
from ..identity.realm import MailSuiteRealm
from ..interfaces import IMailStore, IMaildropLocks
from .mailbox import MaildirMailbox

__all__ = ["register", "registerAvatars"]


def registerAvatars(realm: MailSuiteRealm, store: IMailStore, locks: IMaildropLocks) -> None:
    """
    Give logged-in users an C{IMailbox} over C{store}, holding their
    maildrop in C{locks} until logout.
    """

    def mailbox(user: str) -> tuple[Any, Callable[[], None]] | Deferred:
        acquired = locks.acquire(user)
        if isinstance(acquired, Deferred):       # a shared lock (Redis)
            return acquired.addCallback(lambda release: opened(user, release))
        return opened(user, acquired)

    def opened(user: str, release: Callable[[], None]) -> tuple[Any, Callable[[], None]]:
        try:
            return MaildirMailbox(store, user), release
        except BaseException:
            release()
            raise

    realm.register(IMailbox, mailbox)


def register(realm: MailSuiteRealm, parts: SuiteParts) -> None:
    """
    The registry's hook (L{twisted_mail_suite.registry.PROTOCOLS}).
    """
    registerAvatars(realm, parts.store, parts.maildropLocks)
