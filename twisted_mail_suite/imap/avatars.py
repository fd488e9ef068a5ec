# -*- test-case-name: tests.imap.test_account -*-
"""
IMAP's avatar: Twisted's C{IAccountIMAP} over the user's Maildir++
folders (L{twisted_mail_suite.imap.account.IMAPAccount}).  Every session
of the suite shares one folder store (so UIDs are assigned once and
changes reach every session) and one cache of parsed messages.  On a
user's first login the usual folders are made (Sent, Drafts, Trash, Junk).
"""
from __future__ import annotations

from typing import Any, Callable

from twisted.mail.interfaces import IAccountIMAP

from ..identity.realm import MailSuiteRealm, nothing
from ..registry import SuiteParts
from ..store.maildir.cache import MessageCache
from ..store.maildir.folders import MaildirFolders
from .account import IMAPAccount

__all__ = ["register", "registerAvatars"]


def registerAvatars(realm: MailSuiteRealm, folders: MaildirFolders, cache: MessageCache | None = None) -> None:
    """
    Give logged-in users an C{IAccountIMAP} over C{folders}.
    """
    shared = cache if cache is not None else MessageCache()

    def account(user: str) -> tuple[Any, Callable[[], None]]:
        userFolders = folders.forUser(user)
        userFolders.ensureDefaults()
        return IMAPAccount(userFolders, shared), nothing

    realm.register(IAccountIMAP, account)


def register(realm: MailSuiteRealm, parts: SuiteParts) -> None:
    """
    The registry's hook (L{twisted_mail_suite.registry.PROTOCOLS}): the
    folders are the Maildirs under C{data_dir/mail}, where the store
    delivers.
    """
    registerAvatars(realm, MaildirFolders(parts.config.mailDir))
