# -*- test-case-name: tests.imap.test_account -*-
"""
IMAP's avatar: a user's mailboxes, handed out by the portal for Twisted's
C{IAccountIMAP} (so an embedder can look one up the Twisted way), over the
user's folders behind the folder seam (L{twisted_mail_suite.mailfolders}:
Maildir++ or PostgreSQL).  Every method that touches the folders answers
with a Deferred (as Twisted's interface allows).

Mailbox names here are as stored (modified UTF-7, C{str}); the protocol
converts the wire's names (UTF-8 for an IMAP4rev2 client).  Folder errors
become the replies of RFC 9051 with their response codes (RFC 5530).
"""
from __future__ import annotations

from typing import Any

from twisted.internet.defer import Deferred
from twisted.mail.interfaces import IAccountIMAP
from twisted.python.failure import Failure
from zope.interface import implementer

from ..errors import BadFolderName, FolderError, FolderExists, HasChildren, NoSuchFolder
from ..mailfolders import IUserFolders
from .listing import matcher
from .mailbox import SelectedMailbox
from .responses import No

__all__ = ["IMAPAccount", "folderErrorReply"]

DELIMITER = "."


def folderErrorReply(error: FolderError) -> No:
    """
    The C{NO} reply for a folder error.
    """
    if isinstance(error, NoSuchFolder):
        return No(b"Mailbox doesn't exist.", b"NONEXISTENT")
    if isinstance(error, FolderExists):
        return No(b"Mailbox already exists.", b"ALREADYEXISTS")
    if isinstance(error, HasChildren):
        return No(b"Mailbox has children, delete them first.", b"HASCHILDREN")
    if isinstance(error, BadFolderName):
        return No(b"Invalid mailbox name.", b"CANNOT")
    return No(b"Operation not permitted on this mailbox.", b"CANNOT")


def _reply(failure: Failure) -> None:
    failure.trap(FolderError)
    raise folderErrorReply(failure.value)


def _done(result: object) -> bool:
    return True


def hasChildren(name: str, names: list[str]) -> bool:
    prefix = ("INBOX" if name.upper() == "INBOX" else name) + DELIMITER
    return any(other.startswith(prefix) for other in names)


@implementer(IAccountIMAP)
class IMAPAccount:
    """
    One logged-in user's mailboxes.

    @ivar folders: the user's folder tree (L{IUserFolders}).
    @ivar cache: parsed message data shared by every session of the suite.
    """

    delimiter = DELIMITER

    def __init__(self, folders: IUserFolders, cache: Any) -> None:
        self.folders = folders
        self.cache = cache

    @property
    def user(self) -> str:
        return self.folders.user  # type: ignore[no-any-return]

    # IAccountIMAP

    def addMailbox(self, name: str, mbox: Any = None) -> Deferred:
        """
        Make mailbox C{name} (C{mbox}, Twisted's pre-made mailbox, is not
        supported).
        """
        if mbox is not None:
            raise No(b"Cannot add a mailbox object.", b"CANNOT")
        return self.create(name)

    def create(self, pathspec: str) -> Deferred:
        return self.folders.create(pathspec).addCallbacks(_done, _reply)

    def select(self, name: str, rw: bool = True) -> Deferred:
        """
        @return: a Deferred of the L{SelectedMailbox}, loaded.
        """
        def opened(folder: Any) -> Deferred:
            return SelectedMailbox(folder, self.folders.check(name), readOnly=not rw).load()
        return self.folders.open(name).addErrback(_reply).addCallback(opened)

    def delete(self, name: str) -> Deferred:
        return self.folders.delete(name).addCallbacks(_done, _reply)

    def rename(self, oldname: str, newname: str) -> Deferred:
        return self.folders.rename(oldname, newname).addCallbacks(_done, _reply)

    def isSubscribed(self, name: str) -> Deferred:
        return self.folders.subscriptions().addCallback(lambda names: name in names)

    def subscribe(self, name: str) -> Deferred:
        return self.folders.subscribe(name).addCallbacks(_done, _reply)

    def unsubscribe(self, name: str) -> Deferred:
        return self.folders.unsubscribe(name).addCallbacks(_done, _reply)

    def listMailboxes(self, ref: str, wildcard: str) -> Deferred:
        """
        A Deferred of the mailboxes matching C{ref + wildcard} with their attributes.
        """
        match = matcher(ref + wildcard)
        return self.folders.names().addCallback(
            lambda names: [(name, self.attributes(name, names)) for name in names if match(name)])

    # Beyond Twisted's interface

    def attributes(self, name: str, names: list[str]) -> list[bytes]:
        """
        LIST attributes of an existing mailbox (all the C{names} known):
        children and special use.
        """
        attributes = [b"\\HasChildren" if hasChildren(name, names) else b"\\HasNoChildren"]
        use = self.folders.specialUse(name)
        if use:
            attributes.append(use.encode("ascii"))
        return attributes

    def attributesOf(self, name: str) -> Deferred:
        """
        A Deferred of L{attributes} of C{name}.
        """
        return self.folders.names().addCallback(lambda names: self.attributes(name, names))

    def folder(self, name: str) -> Deferred:
        """
        A Deferred of the folder C{name}; it fails with C{No [TRYCREATE]}
        if it does not exist (APPEND, COPY, MOVE).
        """
        def missing(failure: Failure) -> None:
            failure.trap(FolderError)
            raise No(b"Mailbox doesn't exist.", b"TRYCREATE")
        return self.folders.open(name).addErrback(missing)
