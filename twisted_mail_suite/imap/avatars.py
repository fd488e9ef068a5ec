# -*- test-case-name: tests.imap.test_account -*-
"""
IMAP's avatar: Twisted's C{IAccountIMAP} over the user's folders
(L{twisted_mail_suite.imap.account.IMAPAccount}), from the suite's folder
store (L{twisted_mail_suite.mailfolders.IMailFolders}: Maildir++ under
C{data_dir/mail}, or PostgreSQL with C{cluster.postgres}).  Every session
of the suite shares one folder store (so UIDs are assigned once and
changes reach every session) and one cache of parsed messages.  On a
user's first login the usual folders are made (Sent, Drafts, Trash, Junk).
"""
from __future__ import annotations

from typing import Any

from twisted.internet.defer import Deferred
from twisted.mail.interfaces import IAccountIMAP

from ..identity.realm import MailSuiteRealm, nothing
from ..mailfolders import IMailFolders
from ..registry import SuiteParts
from ..store.cache import MessageCache
from .account import IMAPAccount

__all__ = ["register", "registerAvatars"]


def registerAvatars(realm: MailSuiteRealm, folders: IMailFolders, cache: MessageCache | None = None) -> None:
    """
    Give logged-in users an C{IAccountIMAP} over C{folders}.
    """
    shared = cache if cache is not None else MessageCache()

    def account(user: str) -> Deferred:
        def made(userFolders: Any) -> tuple[Any, Any]:
            return IMAPAccount(userFolders, shared), nothing
        return folders.forUser(user).addCallback(made)

    realm.register(IAccountIMAP, account)


def register(realm: MailSuiteRealm, parts: SuiteParts) -> None:
    """
    The registry's hook (L{twisted_mail_suite.registry.PROTOCOLS}): the
    suite's folder store (C{parts.folders}, the service's choice).
    """
    registerAvatars(realm, parts.folders)
