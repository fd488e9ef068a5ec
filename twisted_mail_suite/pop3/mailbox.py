# -*- test-case-name: tests.pop3.test_mailbox -*-
"""
The POP3 avatar: Twisted's C{IMailbox} over the mail store, with RFC 1939's
semantics: the message list is fixed at login, C{deleteMessage} only marks,
C{sync} (called in the UPDATE state, after QUIT) applies the deletions and
files the messages read as seen, the way Dovecot does.
"""
from __future__ import annotations

from typing import BinaryIO

from twisted.mail.pop3 import IMailbox
from zope.interface import implementer

from ..interfaces import IMailStore


@implementer(IMailbox)
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
        return self.store.openMessage(self.user, self.messages[index].uid)

    def getUidl(self, index: int) -> bytes:
        self._check(index)
        return self.messages[index].uid.encode("ascii", "replace")

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
