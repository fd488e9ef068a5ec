# -*- test-case-name: tests.store.test_maildir -*-
"""
The Maildir mail store: one Maildir per user under C{<data_dir>/mail/<user>/}.

Messages are kept with LF line ends, as Dovecot and mutt keep them, and named
the Dovecot way (L{layout}), so a listing needs no read.  Delivery is
two-phase and durable (L{writer}, L{groupcommit}).  Reads answer at once
(C{succeed}): a Maildir needs no round trip, but callers use the
asynchronous contract a database store implements too.  Besides
L{IMailStore}, the class offers a few synchronous Maildir-only helpers
(L{MaildirStore.storedMessages}, L{MaildirStore.openStored},
L{MaildirStore.pathOf}) for tools and tests on the same machine.
"""
from __future__ import annotations

import os
import stat
import time
from typing import BinaryIO, Callable, Iterable

from twisted.application.service import Service
from twisted.internet.defer import Deferred, fail, maybeDeferred, succeed
from twisted.internet.threads import deferToThread
from twisted.logger import Logger
from zope.interface import implementer

from ...interfaces import IMailStore, StoredMessage
from ..content import FileContent
from .groupcommit import GroupCommit
from .layout import (FOLDER_MODE, MaildirLayout, flagsOf, internalDateOf, orderKey, privateFolder, seenName,
                     uidOf, wireSize, wireSizeOfName)
from .writer import MaildirDelivery, MaildirWriter

__all__ = ["MaildirStore", "TMP_MAX_AGE", "runSynchronously"]

TMP_MAX_AGE = 36 * 3600   # the Maildir rule: a file in tmp/ this old is a leftover; younger, in flight


def runSynchronously(f: Callable[..., object], *args: object) -> Deferred:
    """
    A C{runBlocking} for tests and tools: run C{f} now, in this thread.
    """
    return maybeDeferred(f, *args)


@implementer(IMailStore)
class MaildirStore(Service):
    """
    @param root: the folder holding one Maildir per user.
    @param fsync: the fsync function (replaceable later too, to check it is
        called or make it fail).
    @param runBlocking: runs the commit's fsyncs (L{GroupCommit}); default:
        in the reactor's thread pool, one job at a time.
    """

    log = Logger()

    def __init__(self, root: str, fsync: Callable[[int], None] = os.fsync,
                 runBlocking: Callable[..., Deferred] = deferToThread) -> None:
        self.root = root
        self.layout = MaildirLayout(root)
        self.committer = GroupCommit(runBlocking, fsync)
        self.writer = MaildirWriter(self.layout, self.committer)
        # uid -> wire size for files named without ,W= (delivered by other
        # software): a Maildir file never changes under its unique name, so
        # a listing reads each such file once, not at every POP3 login.
        self._wireSizes: dict[str, int] = {}
        # user -> {uid: path} as last listed: a read opens the file there
        # first, and looks for it only if it moved since.
        self._listed: dict[str, dict[str, str]] = {}

    @property
    def fsync(self) -> Callable[[int], None]:
        return self.committer.fsync

    @fsync.setter
    def fsync(self, fsync: Callable[[int], None]) -> None:
        self.committer.fsync = fsync

    # IService

    def startService(self) -> None:
        """
        Make the root (mode 0700) and remove what a crash left in C{tmp/}
        (files older than L{TMP_MAX_AGE}: a younger one may be another
        delivery agent's file in flight); runs before any listener starts.
        """
        privateFolder(self.root)
        self.cleanTemporary(TMP_MAX_AGE)
        super().startService()

    def stopService(self) -> Deferred:
        """
        Let the commits in flight finish, then close what the store holds.
        """
        super().stopService()

        def close(result: object) -> object:
            self.writer.close()
            return result

        return self.committer.whenIdle().addBoth(close)

    # IMailStore

    def beginDelivery(self, users: Iterable[str], sender: str = "", subject: str = "") -> MaildirDelivery:
        users = list(dict.fromkeys(users))
        if not users:
            raise ValueError("no recipients")
        return self.writer.begin(users)

    def listMessages(self, user: str) -> Deferred:
        try:
            return succeed(self.storedMessages(user))
        except Exception:
            return fail()

    def readMessage(self, user: str, uid: str) -> Deferred:
        try:
            size = wireSizeOfName(uid)
            f = self.openStored(user, uid)
            if size is None:
                size = self._wireSize(f.name, uid)  # type: ignore[arg-type]
            return succeed(FileContent(f, size))
        except Exception:
            return fail()

    def markSeen(self, user: str, uids: Iterable[str]) -> Deferred:
        return maybeDeferred(self._markSeen, user, uids)

    def deleteMessages(self, user: str, uids: Iterable[str]) -> Deferred:
        return maybeDeferred(self._deleteMessages, user, uids)

    # Maildir, synchronously

    def storedMessages(self, user: str) -> list[StoredMessage]:
        """
        What L{listMessages} lists, now.
        """
        path = self.layout.userPath(user)
        found = []
        located: dict[str, str] = {}
        for sub in ("cur", "new"):
            folder = os.path.join(path, sub)
            try:
                names = os.listdir(folder)
            except FileNotFoundError:
                continue
            prefix = folder + os.sep
            for name in names:
                if name.startswith("."):
                    continue
                full = prefix + name
                try:
                    size = self._wireSize(full, name)
                except FileNotFoundError:
                    continue
                uid = uidOf(name)
                located[uid] = full
                found.append(StoredMessage(uid, size, frozenset(flagsOf(name)), self._internalDate(uid, full)))
        found.sort(key=lambda m: orderKey(m.uid))
        if len(self._listed) >= 4096:
            self._listed.clear()
        self._listed[user] = located
        return found

    def pathOf(self, user: str, uid: str) -> str:
        """
        Where message C{uid} of C{user} is now.

        @raise KeyError: there is no such message.
        """
        return self.layout.find(user, uid)

    def openStored(self, user: str, uid: str) -> BinaryIO:
        """
        Open message C{uid} as stored (LF line ends).

        @raise KeyError: there is no such message.
        """
        listed = self._listed.get(user, {}).get(uid)
        if listed is not None:
            try:
                return open(listed, "rb", buffering=0)  # noqa: SIM115 - read in big chunks
            except FileNotFoundError:
                pass    # another Maildir reader renamed it (new/ -> cur/, flags)
        return open(self.pathOf(user, uid), "rb", buffering=0)  # noqa: SIM115

    def ensureMaildir(self, user: str) -> str:
        """
        C{user}'s Maildir, made if missing.
        """
        return self.layout.ensureMaildir(user)

    def cleanTemporary(self, olderThan: float = 0.0) -> int:
        """
        Remove leftovers in every C{tmp/} (a crash between write and
        rename): the files last changed C{olderThan} seconds ago or more.
        Run at start, before any listener, with L{TMP_MAX_AGE}.  Maildir
        folders left readable by others (by an older version, or made
        under a lax umask) are made private (0700) on the way.

        @return: how many files were removed.
        """
        removed = tightened = 0
        limit = time.time() - olderThan
        try:
            users = os.listdir(self.root)
        except FileNotFoundError:
            return 0
        for user in users:
            tightened += self._tighten(os.path.join(self.root, user))
            folder = os.path.join(self.root, user, "tmp")
            try:
                names = os.listdir(folder)
            except (FileNotFoundError, NotADirectoryError):
                continue
            for name in names:
                full = os.path.join(folder, name)
                try:
                    if os.stat(full).st_mtime <= limit:
                        os.unlink(full)
                        removed += 1
                except FileNotFoundError:
                    continue
        if removed:
            self.log.info("Removed {count} leftover files from tmp/", count=removed)
        if tightened:
            self.log.info("Made {count} Maildir folders private (0700)", count=tightened)
        return removed

    def _tighten(self, maildir: str) -> int:
        """
        Take the group's and others' access to a Maildir and its three
        folders away.

        @return: how many folders were changed.
        """
        changed = 0
        for path in (maildir, *(os.path.join(maildir, sub) for sub in MaildirLayout.SUBFOLDERS)):
            try:
                mode = os.lstat(path).st_mode
            except FileNotFoundError:
                continue
            if stat.S_ISDIR(mode) and mode & 0o077:
                try:
                    os.chmod(path, FOLDER_MODE)
                except OSError as e:      # another owner's: say so, serve it anyway
                    self.log.warn("Cannot make {path} private: {error}", path=path, error=e)
                    continue
                changed += 1
        return changed

    def _markSeen(self, user: str, uids: Iterable[str]) -> None:
        path = self.layout.userPath(user)
        for uid in uids:
            try:
                current = self.pathOf(user, uid)
            except KeyError:
                continue
            flags = flagsOf(os.path.basename(current))
            if "S" in flags and os.path.dirname(current).endswith("cur"):
                continue
            os.rename(current, os.path.join(path, "cur", seenName(uid, flags)))

    def _deleteMessages(self, user: str, uids: Iterable[str]) -> None:
        for uid in uids:
            try:
                os.unlink(self.pathOf(user, uid))
            except (KeyError, FileNotFoundError):
                continue

    def _wireSize(self, path: str, name: str) -> int:
        uid = uidOf(name)
        size = self._wireSizes.get(uid)
        if size is not None:
            return size
        recorded = wireSizeOfName(uid)
        if recorded is not None:
            return recorded
        size = wireSize(path, name)
        if len(self._wireSizes) >= 200_000:
            self._wireSizes.clear()
        self._wireSizes[uid] = size
        return size

    @staticmethod
    def _internalDate(uid: str, path: str) -> float:
        date = internalDateOf(uid)
        if date is not None:
            return date
        try:
            return os.stat(path).st_mtime
        except OSError:
            return 0.0
