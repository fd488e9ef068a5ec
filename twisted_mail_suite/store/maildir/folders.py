# -*- test-case-name: tests.store.test_folders -*-
"""
A user's Maildir++ folder tree: INBOX is the user's Maildir
(C{<root>/<user>/}, where the store delivers), every other folder a
Maildir in it named with a leading dot, the hierarchy separated by dots
(C{.Sent}, C{.Archive.2024}), as Courier, Dovecot and mutt lay them out.
Names are kept as IMAP4rev1 writes them (modified UTF-7).

On a user's first login the usual folders are made with their SPECIAL-USE
(RFC 6154) roles and subscribed: C{Sent}, C{Drafts}, C{Trash}, C{Junk}.
Subscriptions are kept in C{mailsuite-subscriptions}, one name a line.

L{MaildirFolders} is the one instance per suite: it hands every session
of the process the same L{MaildirFolder} for a folder, so UIDs are
assigned once and changes reach every session.
"""
from __future__ import annotations

import os
import shutil
import weakref
from collections import OrderedDict
from typing import Callable

from ...errors import BadFolderName, FolderError, FolderExists, HasChildren, NoSuchFolder
from ..names import DEFAULT_FOLDERS, DELIMITER, MAX_NAME, SPECIAL_USE, checkName, isInbox
from .folder import MaildirFolder
from .layout import MaildirLayout

__all__ = [
    "DELIMITER", "DEFAULT_FOLDERS", "SPECIAL_USE", "BadFolderName", "FolderError", "FolderExists",
    "HasChildren", "MAX_NAME", "MaildirFolders", "NoSuchFolder", "UserFolders", "isInbox",
]

SUBSCRIPTIONS = "mailsuite-subscriptions"


# Folders kept described after their last session closed, so the next
# session (a mail client polling every few minutes, the benchmark's next
# round) finds the sizes, flags and UIDs without looking at each file
# again -- what Dovecot keeps in its index files.  A kept folder looks for
# changes (its directories' stamps) when it is opened again.
KEPT_FOLDERS = 256


class MaildirFolders:
    """
    The folders of every user under C{root} (the store's C{data_dir/mail}):
    one shared L{MaildirFolder} per folder while a session has it open, and
    the last L{KEPT_FOLDERS} opened kept in memory after that.
    """

    def __init__(self, root: str, fsync: Callable[[int], None] = os.fsync) -> None:
        self.root = root
        self.layout = MaildirLayout(root)
        self.fsync = fsync
        self._open: weakref.WeakValueDictionary[str, MaildirFolder] = weakref.WeakValueDictionary()
        self._kept: OrderedDict[str, MaildirFolder] = OrderedDict()

    def forUser(self, user: str) -> UserFolders:
        """
        C{user}'s folders (their INBOX made if missing).

        @raise ValueError: a user name that would escape the root.
        """
        return UserFolders(self, user, self.layout.ensureMaildir(user))

    def folderAt(self, path: str) -> MaildirFolder:
        """
        The shared L{MaildirFolder} for the folder at C{path}.
        """
        folder = self._open.get(path)
        if folder is None or folder.deleted:
            folder = self._open[path] = MaildirFolder(path, self.layout, self.fsync)
        self._kept[path] = folder
        self._kept.move_to_end(path)
        if len(self._kept) > KEPT_FOLDERS:
            self._kept.popitem(last=False)
        return folder

    def opened(self, path: str) -> MaildirFolder | None:
        """
        The folder at C{path} if some session has it open.
        """
        return self._open.get(path)

    def gone(self, path: str) -> None:
        """
        The folder at C{path} was deleted or renamed away: its sessions
        see every message expunged.
        """
        folder = self._open.pop(path, None)
        self._kept.pop(path, None)
        if folder is not None:
            folder.deleted = True
            folder.refresh(force=True)

    def newMail(self, user: str) -> None:
        """
        Mail was delivered to C{user}'s INBOX: look now, so sessions
        waiting in IDLE hear of it at once.
        """
        try:
            path = self.layout.userPath(user)
        except ValueError:
            return
        folder = self._open.get(path)
        if folder is not None and folder.listeners:     # a session is watching (a kept one looks when opened)
            folder.refresh()


class UserFolders:
    """
    One user's folder tree.
    """

    def __init__(self, store: MaildirFolders, user: str, home: str) -> None:
        self.store = store
        self.user = user
        self.home = home

    def pathOf(self, name: str) -> str:
        return self.home if isInbox(name) else os.path.join(self.home, DELIMITER + name)

    check = staticmethod(checkName)

    # Listing

    def names(self) -> list[str]:
        """
        Every folder, INBOX first, then by name.
        """
        found = []
        try:
            entries = os.listdir(self.home)
        except FileNotFoundError:
            entries = []
        for entry in entries:
            if entry.startswith(DELIMITER) and len(entry) > 1 \
                    and os.path.isdir(os.path.join(self.home, entry, "cur")):
                found.append(entry[1:])
        return ["INBOX", *sorted(found)]

    def exists(self, name: str) -> bool:
        if isInbox(name):
            return True
        try:
            name = self.check(name)
        except BadFolderName:
            return False
        return os.path.isdir(os.path.join(self.pathOf(name), "cur"))

    def hasChildren(self, name: str, names: list[str] | None = None) -> bool:
        prefix = ("INBOX" if isInbox(name) else name) + DELIMITER
        return any(other.startswith(prefix) for other in (names if names is not None else self.names()))

    def specialUse(self, name: str) -> str | None:
        return SPECIAL_USE.get(name)

    def open(self, name: str) -> MaildirFolder:
        """
        @raise NoSuchFolder: there is no such folder.
        """
        name = self.check(name) if not isInbox(name) else "INBOX"
        if not self.exists(name):
            raise NoSuchFolder(name)
        return self.store.folderAt(self.pathOf(name))

    # Changes

    def create(self, name: str) -> None:
        """
        Make folder C{name} and those above it.

        @raise FolderExists: it exists (INBOX always does).
        """
        name = self.check(name.rstrip(DELIMITER) if name.endswith(DELIMITER) and len(name) > 1 else name)
        if self.exists(name):
            raise FolderExists(name)
        parts = name.split(DELIMITER)
        for depth in range(1, len(parts) + 1):
            self._make(DELIMITER.join(parts[:depth]))

    def _make(self, name: str) -> None:
        path = self.pathOf(name)
        if os.path.isdir(os.path.join(path, "cur")):
            return
        for sub in ("tmp", "new", "cur"):
            os.makedirs(os.path.join(path, sub), mode=0o700, exist_ok=True)
        open(os.path.join(path, "maildirfolder"), "ab").close()

    def delete(self, name: str) -> None:
        """
        @raise FolderError: INBOX, a missing folder, or one with children.
        """
        if isInbox(name):
            raise FolderError("INBOX cannot be deleted")
        name = self.check(name)
        if not self.exists(name):
            raise NoSuchFolder(name)
        if self.hasChildren(name):
            raise HasChildren(name)
        path = self.pathOf(name)
        shutil.rmtree(path)
        self.store.gone(path)

    def rename(self, old: str, new: str) -> None:
        """
        Rename C{old} (and the folders below it) to C{new}; renaming INBOX
        moves its messages into a new folder and leaves it empty.

        @raise FolderError: C{old} missing, C{new} existing, bad names.
        """
        new = self.check(new)
        if isInbox(new):
            raise FolderExists(new)
        if self.exists(new):
            raise FolderExists(new)
        if isInbox(old):
            self._renameInbox(new)
            return
        old = self.check(old)
        if not self.exists(old):
            raise NoSuchFolder(old)
        if (new + DELIMITER).startswith(old + DELIMITER):
            raise BadFolderName(new)
        parents = new.split(DELIMITER)[:-1]
        for depth in range(1, len(parents) + 1):
            self._make(DELIMITER.join(parents[:depth]))
        moving = [n for n in self.names() if n == old or n.startswith(old + DELIMITER)]
        for name in moving:
            os.rename(self.pathOf(name), self.pathOf(new + name[len(old):]))
            self.store.gone(self.pathOf(name))
        subscribed = self.subscriptions()
        if any(n in subscribed for n in moving):
            self._writeSubscriptions([new + n[len(old):] if n in moving else n for n in subscribed])

    def _renameInbox(self, new: str) -> None:
        self.create(new)
        target = self.pathOf(new)
        for sub in ("new", "cur"):
            folder = os.path.join(self.home, sub)
            for entry in os.listdir(folder):
                if not entry.startswith("."):
                    os.rename(os.path.join(folder, entry), os.path.join(target, sub, entry))
        inbox = self.store.opened(self.home)
        if inbox is not None:
            inbox.refresh(force=True)

    # Subscriptions

    def subscriptions(self) -> list[str]:
        try:
            with open(os.path.join(self.home, SUBSCRIPTIONS), encoding="utf-8") as f:
                return [line for line in f.read().splitlines() if line]
        except FileNotFoundError:
            return []
        except (OSError, UnicodeDecodeError):
            return []

    def subscribe(self, name: str) -> None:
        name = self.check(name)
        names = self.subscriptions()
        if name not in names:
            self._writeSubscriptions([*names, name])

    def unsubscribe(self, name: str) -> None:
        """
        @raise NoSuchFolder: C{name} is not subscribed.
        """
        names = self.subscriptions()
        if name not in names and not (isInbox(name) and "INBOX" in names):
            raise NoSuchFolder(name)
        self._writeSubscriptions([n for n in names if n != ("INBOX" if isInbox(name) else name)])

    def _writeSubscriptions(self, names: list[str]) -> None:
        path = os.path.join(self.home, SUBSCRIPTIONS)
        temporary = f"{path}.{os.getpid()}.tmp"
        with open(temporary, "w", encoding="utf-8") as f:
            f.write("".join(name + "\n" for name in names))
        os.rename(temporary, path)

    def ensureDefaults(self) -> None:
        """
        On the first login (no subscriptions file yet): make the usual
        folders and subscribe them and INBOX.
        """
        if os.path.exists(os.path.join(self.home, SUBSCRIPTIONS)):
            return
        for name in DEFAULT_FOLDERS:
            if not self.exists(name):
                self._make(name)
        self._writeSubscriptions(["INBOX", *DEFAULT_FOLDERS])
