# -*- test-case-name: tests.imap.test_account -*-
"""
IMAP's avatar: a user's mailboxes, handed out by the portal for Twisted's
C{IAccountIMAP} (so an embedder can look one up the Twisted way), over the
Maildir++ folders of L{twisted_mail_suite.store.maildir.folders}.

Mailbox names here are as stored (modified UTF-7, C{str}); the protocol
converts the wire's names (UTF-8 for an IMAP4rev2 client).  Folder errors
become the replies of RFC 9051 with their response codes (RFC 5530).
"""
from __future__ import annotations

from typing import Any

from twisted.mail.interfaces import IAccountIMAP
from zope.interface import implementer

from ..store.maildir.cache import MessageCache
from ..store.maildir.folders import (
    DELIMITER, BadFolderName, FolderError, FolderExists, HasChildren, NoSuchFolder, UserFolders,
)
from .listing import matcher
from .mailbox import SelectedMailbox
from .responses import No

__all__ = ["IMAPAccount", "folderErrorReply"]


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


@implementer(IAccountIMAP)
class IMAPAccount:
    """
    One logged-in user's mailboxes.

    @ivar folders: the user's folder tree.
    @ivar cache: parsed message data shared by every session of the suite.
    """

    delimiter = DELIMITER

    def __init__(self, folders: UserFolders, cache: MessageCache) -> None:
        self.folders = folders
        self.cache = cache

    @property
    def user(self) -> str:
        return self.folders.user

    # IAccountIMAP

    def addMailbox(self, name: str, mbox: Any = None) -> bool:
        """
        Make mailbox C{name} (C{mbox}, Twisted's pre-made mailbox, is not
        supported).
        """
        if mbox is not None:
            raise No(b"Cannot add a mailbox object.", b"CANNOT")
        return self.create(name)

    def create(self, pathspec: str) -> bool:
        try:
            self.folders.create(pathspec)
        except FolderError as e:
            raise folderErrorReply(e) from e
        return True

    def select(self, name: str, rw: bool = True) -> SelectedMailbox:
        try:
            folder = self.folders.open(name)
        except FolderError as e:
            raise folderErrorReply(e) from e
        return SelectedMailbox(folder, self.folders.check(name), readOnly=not rw)

    def delete(self, name: str) -> bool:
        try:
            self.folders.delete(name)
        except FolderError as e:
            raise folderErrorReply(e) from e
        return True

    def rename(self, oldname: str, newname: str) -> bool:
        try:
            self.folders.rename(oldname, newname)
        except FolderError as e:
            raise folderErrorReply(e) from e
        return True

    def isSubscribed(self, name: str) -> bool:
        return name in self.folders.subscriptions()

    def subscribe(self, name: str) -> bool:
        try:
            self.folders.subscribe(name)
        except FolderError as e:
            raise folderErrorReply(e) from e
        return True

    def unsubscribe(self, name: str) -> bool:
        try:
            self.folders.unsubscribe(name)
        except FolderError as e:
            raise folderErrorReply(e) from e
        return True

    def listMailboxes(self, ref: str, wildcard: str) -> list[tuple[str, list[bytes]]]:
        """
        The mailboxes matching C{ref + wildcard} with their attributes.
        """
        match = matcher(ref + wildcard)
        names = self.folders.names()
        return [(name, self.attributes(name, names)) for name in names if match(name)]

    # Beyond Twisted's interface

    def attributes(self, name: str, names: list[str] | None = None) -> list[bytes]:
        """
        LIST attributes of an existing mailbox: children and special use.
        """
        attributes = [b"\\HasChildren" if self.folders.hasChildren(name, names) else b"\\HasNoChildren"]
        use = self.folders.specialUse(name)
        if use:
            attributes.append(use.encode("ascii"))
        return attributes

    def folder(self, name: str) -> Any:
        """
        The folder C{name}.

        @raise No: C{[TRYCREATE]} if it does not exist (APPEND, COPY, MOVE).
        """
        try:
            return self.folders.open(name)
        except FolderError:
            raise No(b"Mailbox doesn't exist.", b"TRYCREATE") from None
