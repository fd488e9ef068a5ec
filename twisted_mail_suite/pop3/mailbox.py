# -*- test-case-name: tests.pop3.test_mailbox -*-
"""
The POP3 avatar: Twisted's C{IMailbox} over the mail store, with RFC 1939's
semantics: the message list is fixed at login, C{deleteMessage} only marks,
C{sync} (called in the UPDATE state, after QUIT) applies the deletions and
files the messages read as seen, the way Dovecot does.
"""
from __future__ import annotations

import functools
import hashlib
import re
from typing import BinaryIO

from twisted.mail.pop3 import IMailbox
from zope.interface import Interface, implementer

from ..interfaces import IMailStore

_UIDL_SAFE = re.compile(rb"^[\x21-\x7e]{1,70}$")


class IPeekMailbox(Interface):
    """
    An C{IMailbox} that can hand out a message without counting it as read
    (for TOP, which RFC 1939 does not count as retrieving the message, the
    way Dovecot leaves the seen flag alone).
    """

    def peekMessage(index):  # type: ignore[no-untyped-def]
        """
        Like C{getMessage}, without marking the message as read.
        """


@functools.lru_cache(maxsize=65536)
def uniqueID(uid: str) -> bytes:
    """
    The RFC 1939 unique-id for a Maildir UID: its unique part (before the
    first C{,}, so Dovecot's C{,S=}/C{,W=} size fields do not count) when
    that is 1 to 70 printable characters, otherwise a SHA-1 digest of it;
    either way stable across sessions and restarts.
    """
    unique = uid.split(",", 1)[0].encode("utf-8", "surrogateescape")
    if _UIDL_SAFE.match(unique):
        return unique
    return hashlib.sha1(unique).hexdigest().encode("ascii")


@implementer(IMailbox, IPeekMailbox)
class MaildirMailbox:
    """
    One user's maildrop for one POP3 session.
    """

    def __init__(self, store: IMailStore, user: str) -> None:
        self.store = store
        self.user = user
        self.messages = store.listMessages(user)
        self.deleted: set[int] = set()
        self.retrieved: set[int] = set()

    def _check(self, index: int) -> None:
        if not 0 <= index < len(self.messages) or index in self.deleted:
            raise ValueError(index)

    def listMessages(self, index: int | None = None):  # type: ignore[no-untyped-def]
        """
        Sizes with CRLF line ends; 0 for a message marked deleted (Twisted's
        contract).
        """
        if index is None:
            return [0 if i in self.deleted else m.size for i, m in enumerate(self.messages)]
        self._check(index)
        return self.messages[index].size

    def getMessage(self, index: int) -> BinaryIO:
        """
        The message as stored (LF line ends on a Maildir); the protocol turns
        line ends into CRLF and dot-stuffs while streaming.
        """
        self._check(index)
        self.retrieved.add(index)
        return self._open(index)

    def peekMessage(self, index: int) -> BinaryIO:
        """
        The message as stored, without filing it as seen at the end.
        """
        self._check(index)
        return self._open(index)

    def _open(self, index: int) -> BinaryIO:
        """
        Open the file where the listing saw it; if another Maildir reader
        has renamed it since (new/ -> cur/, flags), ask the store to find it.
        """
        message = self.messages[index]
        path = getattr(message, "path", None)
        if path:
            try:
                return open(path, "rb", buffering=0)  # noqa: SIM115 - read in big chunks
            except FileNotFoundError:
                pass
        return self.store.openMessage(self.user, message.uid)

    def getUidl(self, index: int) -> bytes:
        """
        See L{uniqueID}.
        """
        self._check(index)
        return uniqueID(self.messages[index].uid)

    def deleteMessage(self, index: int) -> None:
        self._check(index)
        self.deleted.add(index)

    def undeleteMessages(self) -> None:
        self.deleted.clear()

    def sync(self) -> None:
        """
        The UPDATE state: delete what was marked, file what was read as seen.
        """
        uids = [self.messages[i].uid for i in sorted(self.deleted)]
        self.store.deleteMessages(self.user, uids)
        seen = [self.messages[i].uid for i in sorted(self.retrieved - self.deleted)
                if not self.messages[i].seen]
        self.store.markSeen(self.user, seen)
        self.deleted.clear()
        self.retrieved.clear()
