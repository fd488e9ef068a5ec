# -*- test-case-name: tests.store.test_mailfolders -*-
"""
The Maildir++ folders behind IMAP's folder seam
(L{twisted_mail_suite.mailfolders}): the synchronous L{MaildirFolders},
L{UserFolders} and L{MaildirFolder} answer with Deferreds that have
already fired (C{succeed}/C{fail}), so IMAP on Maildir does its file work
in the reactor's thread as before, with no thread hop and no reactor turn
(the IMAP connection resumes a command at once on a fired Deferred).
"""
from __future__ import annotations

from typing import Any, Callable, Iterable, Sequence

from twisted.internet.defer import Deferred, fail, succeed
from zope.interface import implementer

from ...errors import FolderError
from ...mailfolders import IMailFolder, IMailFolders, IUserFolders
from .folder import MaildirFolder
from .folders import MaildirFolders, UserFolders

__all__ = ["MaildirMailFolder", "MaildirMailFolders", "MaildirUserFolders"]


def _now(f: Callable[..., Any], *args: Any, **kwargs: Any) -> Deferred:
    """
    C{f(*args)} as a fired Deferred (its folder error or C{KeyError} as a
    failed one).
    """
    try:
        return succeed(f(*args, **kwargs))
    except (FolderError, KeyError, OSError) as e:
        return fail(e)


@implementer(IMailFolders)
class MaildirMailFolders:
    """
    @param folders: the suite's L{MaildirFolders} (or a C{data_dir/mail} path).
    """

    def __init__(self, folders: MaildirFolders | str, fsync: Callable[[int], None] | None = None) -> None:
        if isinstance(folders, str):
            folders = MaildirFolders(folders) if fsync is None else MaildirFolders(folders, fsync)
        self.folders = folders

    def forUser(self, user: str) -> Deferred:
        def make() -> MaildirUserFolders:
            tree = self.folders.forUser(user)
            tree.ensureDefaults()
            return MaildirUserFolders(tree)
        return _now(make)


@implementer(IUserFolders)
class MaildirUserFolders:
    """
    One user's L{UserFolders}, answering with fired Deferreds.
    """

    def __init__(self, tree: UserFolders) -> None:
        self.tree = tree
        self.user = tree.user

    def check(self, name: str) -> str:
        return self.tree.check(name)

    def specialUse(self, name: str) -> str | None:
        return self.tree.specialUse(name)

    def names(self) -> Deferred:
        return _now(self.tree.names)

    def exists(self, name: str) -> Deferred:
        return _now(self.tree.exists, name)

    def open(self, name: str) -> Deferred:
        return _now(lambda: MaildirMailFolder(self.tree.open(name)))

    def create(self, name: str) -> Deferred:
        return _now(self.tree.create, name)

    def delete(self, name: str) -> Deferred:
        return _now(self.tree.delete, name)

    def rename(self, old: str, new: str) -> Deferred:
        return _now(self.tree.rename, old, new)

    def subscriptions(self) -> Deferred:
        return _now(self.tree.subscriptions)

    def subscribe(self, name: str) -> Deferred:
        return _now(self.tree.subscribe, name)

    def unsubscribe(self, name: str) -> Deferred:
        return _now(self.tree.unsubscribe, name)


@implementer(IMailFolder)
class MaildirMailFolder:
    """
    A shared L{MaildirFolder} seen through the seam (several of these may
    wrap one folder: what they know and their listeners are the folder's).
    """

    __slots__ = ("folder",)

    def __init__(self, folder: MaildirFolder) -> None:
        self.folder = folder

    @property
    def uidValidity(self) -> int:
        return self.folder.uidValidity

    @property
    def uidNext(self) -> int:
        return self.folder.uidNext

    @property
    def messages(self) -> list:
        return self.folder.messages

    @property
    def byUID(self) -> dict:
        return self.folder.byUID

    @property
    def version(self) -> int:
        return self.folder.version

    @property
    def listeners(self) -> list:
        return self.folder.listeners

    def refresh(self, force: bool = False) -> Deferred:
        return _now(self.folder.refresh, force)

    def open(self, message: Any) -> Deferred:
        return _now(self.folder.open, message)

    def claimRecent(self) -> Deferred:
        return _now(self.folder.claimRecent)

    def setFlags(self, uids: Iterable[int], add: str = "", remove: str = "",
                 replaceWith: str | None = None) -> Deferred:
        return _now(self.folder.setFlags, uids, add, remove, replaceWith)

    def expunge(self, uids: Iterable[int]) -> Deferred:
        return _now(self.folder.expunge, uids)

    def append(self, data: bytes, flags: str = "", internalDate: float | None = None) -> Deferred:
        return _now(self.folder.append, data, flags, internalDate)

    def copyTo(self, uids: Sequence[int], target: MaildirMailFolder, move: bool = False) -> Deferred:
        return _now(self.folder.copyTo, uids, target.folder, move)

    def keywords(self) -> list[str]:
        return self.folder.keywords()

    def keywordOf(self, letter: str) -> str | None:
        return self.folder.keywordOf(letter)

    def keywordLetter(self, keyword: str) -> str | None:
        return self.folder.keywordLetter(keyword)

    def addKeyword(self, keyword: str) -> Deferred:
        return _now(self.folder.keywordLetter, keyword, True)
