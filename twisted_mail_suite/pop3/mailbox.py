# -*- test-case-name: tests.pop3.test_mailbox -*-
"""
The POP3 avatar: Twisted's C{IMailbox} over the mail store, with RFC 1939's
semantics: the message list is fixed at login (the store's listing starts
when the mailbox is made; C{listMessages} answers with a Deferred until it
is in), C{deleteMessage} only marks, C{sync} (called in the UPDATE state,
after QUIT) applies the deletions and files the messages read as seen, the
way Dovecot does.  Messages are handed out as the store's
L{IMessageContent} (wire form), through Deferreds.
"""
from __future__ import annotations

import functools
import hashlib
import re

from twisted.internet.defer import Deferred, fail
from twisted.mail.pop3 import IMailbox
from twisted.python.failure import Failure
from zope.interface import Interface, implementer

from ..interfaces import IMailStore, StoredMessage

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
        self.messages: list[StoredMessage] = []
        self.deleted: set[int] = set()
        self.retrieved: set[int] = set()
        self._listed = False
        self._listingError: Failure | None = None
        self._waiting: list[Deferred] = []
        store.listMessages(user).addCallbacks(self._gotListing, self._listingFailed)

    def _gotListing(self, messages: list[StoredMessage]) -> None:
        self.messages = list(messages)
        self._listed = True
        waiting, self._waiting = self._waiting, []
        for d in waiting:
            d.callback(self.listMessages())

    def _listingFailed(self, failure: Failure) -> None:
        self._listingError = failure
        waiting, self._waiting = self._waiting, []
        for d in waiting:
            d.errback(failure)

    def _check(self, index: int) -> None:
        if not 0 <= index < len(self.messages) or index in self.deleted:
            raise ValueError(index)

    def listMessages(self, index: int | None = None):  # type: ignore[no-untyped-def]
        """
        Sizes with CRLF line ends; 0 for a message marked deleted (Twisted's
        contract).  Until the store's listing is in: a Deferred firing with
        the list of sizes.
        """
        if not self._listed and index is None:
            if self._listingError is not None:
                return fail(self._listingError)
            d: Deferred = Deferred()
            self._waiting.append(d)
            return d
        if index is None:
            return [0 if i in self.deleted else m.size for i, m in enumerate(self.messages)]
        self._check(index)
        return self.messages[index].size

    def getMessage(self, index: int) -> Deferred:
        """
        A Deferred firing with the message's L{IMessageContent}; the
        protocol dot-stuffs it while streaming.
        """
        self._check(index)
        self.retrieved.add(index)
        return self.store.readMessage(self.user, self.messages[index].uid)  # type: ignore[no-any-return]

    def peekMessage(self, index: int) -> Deferred:
        """
        Like L{getMessage}, without filing the message as seen at the end.
        """
        self._check(index)
        return self.store.readMessage(self.user, self.messages[index].uid)  # type: ignore[no-any-return]

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

    def sync(self) -> Deferred:
        """
        The UPDATE state: delete what was marked, file what was read as seen.

        @return: a Deferred firing when the store has done both.
        """
        uids = [self.messages[i].uid for i in sorted(self.deleted)]
        seen = [self.messages[i].uid for i in sorted(self.retrieved - self.deleted)
                if not self.messages[i].seen]
        self.deleted.clear()
        self.retrieved.clear()
        d = self.store.deleteMessages(self.user, uids)
        d.addCallback(lambda _: self.store.markSeen(self.user, seen))
        return d  # type: ignore[no-any-return]
