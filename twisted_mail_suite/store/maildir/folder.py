# -*- test-case-name: tests.store.test_folder -*-
"""
One Maildir folder as IMAP sees it: its messages with stable UIDs
(L{uidlist}), their flags as the Maildir info letters of their file names
(C{S} seen, C{R} replied, C{F} flagged, C{T} trashed, C{D} draft, C{P}
passed, C{a}-C{z} keywords named in C{mailsuite-keywords}), their sizes in
CRLF octets from the C{,W=} of their names (read once for names without
it) and their INTERNALDATE from the file's mtime (the delivery time; APPEND
sets it to the date given).

A L{MaildirFolder} is shared by every session of the process that opened
it (L{twisted_mail_suite.store.maildir.folders}): each change made through
it, and each change another program made that a L{MaildirFolder.refresh}
found (a delivery, POP3 deleting or marking messages seen), bumps its
L{MaildirFolder.version} and calls its listeners, and sessions compare
their view with the folder's messages to tell their clients.  Other
programs' changes are noticed by the modification times of C{new/} and
C{cur/}: one C{stat} each per refresh, a listing only when they moved.

Everything here is synchronous file-system work in the caller's thread,
like the Maildir store's reads; new files (APPEND, COPY) are fsync'd
before they are named.
"""
from __future__ import annotations

import errno
import os
import shutil
import time
from dataclasses import dataclass, replace
from typing import Callable, Iterable, Sequence

from ..content import DescriptorContent, WireLines, openMessage
from .layout import MaildirLayout, flagsOf, messageName, orderKey, uidOf, wireSize, wireSizeOfName
from .uidlist import UIDList, locked

__all__ = ["FolderMessage", "MaildirFolder", "KEYWORDS_FILE", "MAX_KEYWORDS"]

KEYWORDS_FILE = "mailsuite-keywords"
MAX_KEYWORDS = 26
_RECENT_NS = 2_000_000_000     # a directory changed this recently is listed again


@dataclass(frozen=True, slots=True)
class FolderMessage:
    """
    One message of a folder.

    @ivar uid: its IMAP UID.
    @ivar unique: its Maildir unique name (the file name without flags).
    @ivar sub: C{"new"} or C{"cur"}.
    @ivar filename: its file name now.
    @ivar flags: its info letters, sorted.
    @ivar size: its size in CRLF octets.
    @ivar internalDate: POSIX seconds.
    """

    uid: int
    unique: str
    sub: str
    filename: str
    flags: str
    size: int
    internalDate: float

    @property
    def recent(self) -> bool:
        """
        Still in C{new/}: no IMAP session has claimed it.
        """
        return self.sub == "new"


def infoName(unique: str, flags: str) -> str:
    return f"{unique}:2,{''.join(sorted(set(flags)))}"


class MaildirFolder:
    """
    @param path: the folder (holding C{tmp/ new/ cur/}).
    @param layout: makes unique names for new files.
    @param fsync: the fsync function.
    @ivar messages: the messages by ascending UID, as last refreshed.
    @ivar version: bumped by every change seen or made.
    @ivar deleted: the folder was deleted (it lists no message).
    """

    def __init__(self, path: str, layout: MaildirLayout, fsync: Callable[[int], None] = os.fsync) -> None:
        self.path = path
        self.layout = layout
        self.fsync = fsync
        self.messages: list[FolderMessage] = []
        self.byUID: dict[int, FolderMessage] = {}
        self.version = 0
        self.deleted = False
        self.listeners: list[Callable[[MaildirFolder], object]] = []
        self._byUnique: dict[str, FolderMessage] = {}
        self._uidlist: UIDList | None = None
        self._stamp: tuple[int, int] | None = None
        self._keywords: list[str] | None = None
        self.refresh(force=True)

    # What is there

    @property
    def uidValidity(self) -> int:
        return self._list().uidValidity

    @property
    def uidNext(self) -> int:
        return self._list().nextUID

    def _list(self) -> UIDList:
        if self._uidlist is None:
            self._uidlist = UIDList.load(self.path)
        return self._uidlist

    def _dirStamp(self) -> tuple[int, int] | None:
        try:
            return (os.stat(os.path.join(self.path, "new")).st_mtime_ns,
                    os.stat(os.path.join(self.path, "cur")).st_mtime_ns)
        except (FileNotFoundError, NotADirectoryError):
            return None

    def refresh(self, force: bool = False) -> bool:
        """
        Look for changes made by others (new, gone, renamed files): a
        listing only if C{new/} or C{cur/} changed (or C{force}), or changed
        so recently that another change within the file system's clock
        tick would not show (as Dovecot does).

        @return: whether anything changed (then listeners were called).
        """
        stamp = self._dirStamp()
        if stamp is not None and stamp == self._stamp and not force \
                and time.time_ns() - max(stamp) > _RECENT_NS:
            return False
        if stamp is None:
            self._stamp = None
            return self._replace({})
        found: dict[str, tuple[str, str]] = {}
        for sub in ("new", "cur"):                    # cur wins over a half-renamed copy in new
            try:
                names = os.listdir(os.path.join(self.path, sub))
            except FileNotFoundError:
                continue
            for name in names:
                if not name.startswith("."):
                    found[uidOf(name)] = (sub, name)
        self._stamp = stamp
        current: dict[str, FolderMessage] = {}
        fresh = []
        for unique, (sub, name) in found.items():
            old = self._byUnique.get(unique)
            if old is not None:
                current[unique] = old if (old.sub, old.filename) == (sub, name) else \
                    replace(old, sub=sub, filename=name, flags=flagsOf(name))
            else:
                fresh.append(unique)
        if fresh:
            fresh.sort(key=orderKey)
            for unique, uid in zip(fresh, self._assign(fresh, found)):
                sub, name = found[unique]
                message = self._describe(uid, unique, sub, name)
                if message is not None:
                    current[unique] = message
        return self._replace(current)

    def _assign(self, fresh: list[str], found: dict[str, tuple[str, str]]) -> list[int]:
        with locked(self.path):
            uidlist = self._list()
            if uidlist.changedOnDisk():
                uidlist = self._uidlist = UIDList.load(self.path)
            missing = [u for u in fresh if u not in uidlist.uids]
            uids = uidlist.assign(fresh)
            if missing:
                uidlist.keepOnly(found)
                uidlist.save(self.fsync)
        return uids

    def _describe(self, uid: int, unique: str, sub: str, name: str) -> FolderMessage | None:
        full = os.path.join(self.path, sub, name)
        try:
            mtime = os.stat(full).st_mtime
            size = wireSizeOfName(unique)
            if size is None:
                size = wireSize(full, name)
        except FileNotFoundError:
            return None
        return FolderMessage(uid, unique, sub, name, flagsOf(name), size, mtime)

    def _replace(self, current: dict[str, FolderMessage]) -> bool:
        if current == self._byUnique:
            return False
        self._byUnique = current
        self.messages = sorted(current.values(), key=lambda m: m.uid)
        self.byUID = {m.uid: m for m in self.messages}
        self._changed()
        return True

    def _changed(self) -> None:
        self.version += 1
        for listener in list(self.listeners):
            listener(self)

    def _update(self, messages: Iterable[FolderMessage], removed: Iterable[int] = ()) -> None:
        for message in messages:
            self._byUnique[message.unique] = message
        for uid in removed:
            message = self.byUID.get(uid)
            if message is not None:
                self._byUnique.pop(message.unique, None)
        self.messages = sorted(self._byUnique.values(), key=lambda m: m.uid)
        self.byUID = {m.uid: m for m in self.messages}
        self._changed()

    def pathOf(self, message: FolderMessage) -> str:
        return f"{self.path}/{message.sub}/{message.filename}"

    def open(self, message: FolderMessage) -> DescriptorContent:
        """
        The message's content in wire form (CRLF).

        @raise KeyError: it is gone.
        """
        current = self.byUID.get(message.uid, message)
        try:
            fd = openMessage(self.pathOf(current))
        except FileNotFoundError:
            self.refresh(force=True)
            current = self.byUID.get(message.uid)
            if current is None:
                raise KeyError(message.uid) from None
            try:
                fd = openMessage(self.pathOf(current))
            except FileNotFoundError:
                raise KeyError(message.uid) from None
        return DescriptorContent(fd, current.size)

    # Changes

    def _rename(self, message: FolderMessage, sub: str, flags: Callable[[str], str]) -> FolderMessage | None:
        """
        Move C{message} to C{sub} with the letters C{flags(current letters)},
        looking for it once if someone else renamed it meanwhile.

        @return: the message as it is now, or L{None} if it is gone.
        """
        for attempt in (0, 1):
            name = infoName(message.unique, flags(message.flags))
            try:
                os.rename(self.pathOf(message), os.path.join(self.path, sub, name))
                return replace(message, sub=sub, filename=name, flags=flagsOf(name))
            except FileNotFoundError:
                if attempt:
                    return None
                self.refresh(force=True)
                found = self.byUID.get(message.uid)
                if found is None:
                    return None
                message = found
        return None

    def claimRecent(self) -> list[int]:
        """
        Move the messages still in C{new/} to C{cur/} (Maildir's "seen by
        a client": IMAP's \\Recent for the session that does it).

        @return: their UIDs.
        """
        moved = []
        for message in [m for m in self.messages if m.sub == "new"]:
            renamed = self._rename(message, "cur", lambda letters: letters)
            if renamed is not None:
                moved.append(renamed)
        if moved:
            self._update(moved)
        return [m.uid for m in moved]

    def setFlags(self, uids: Iterable[int], add: str = "", remove: str = "",
                 replaceWith: str | None = None) -> list[FolderMessage]:
        """
        Change the info letters of messages: C{replaceWith} (all of them)
        or C{add} and C{remove}.

        @return: the messages whose letters changed, as they are now.
        """
        renamed, changed = [], []

        def change(letters: str) -> str:
            start = set(letters if replaceWith is None else replaceWith)
            return "".join(sorted((start | set(add)) - set(remove)))

        for uid in uids:
            message = self.byUID.get(uid)
            if message is None or (change(message.flags) == message.flags and message.sub == "cur"):
                continue
            now = self._rename(message, "cur", change)
            if now is not None:
                renamed.append(now)
                if now.flags != message.flags:
                    changed.append(now)
        if renamed:
            self._update(renamed)
        return changed

    def expunge(self, uids: Iterable[int]) -> list[int]:
        """
        Remove messages for good.

        @return: the UIDs removed (those still there).
        """
        removed = []
        for uid in uids:
            message = self.byUID.get(uid)
            if message is None:
                continue
            try:
                os.unlink(self.pathOf(message))
            except FileNotFoundError:
                self.refresh(force=True)
                message = self.byUID.get(uid)
                if message is None:
                    continue
                try:
                    os.unlink(self.pathOf(message))
                except FileNotFoundError:
                    pass
            removed.append(uid)
        if removed:
            self._update((), removed)
        return removed

    def append(self, data: bytes, flags: str = "", internalDate: float | None = None) -> int:
        """
        Add a message (C{data} in wire form), fsync'd before it is named.

        @return: its UID.
        """
        stored = data.replace(b"\r\n", b"\n")
        lines = WireLines()
        wire = len(lines.encode(stored)) + len(lines.finish())
        unique = self.layout.newUnique()
        temporary = os.path.join(self.path, "tmp", unique)
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            view = memoryview(stored)
            while view:
                view = view[os.write(fd, view):]
            self.fsync(fd)
        except BaseException:
            os.close(fd)
            _unlinkQuietly(temporary)
            raise
        os.close(fd)
        if internalDate is not None:
            os.utime(temporary, (internalDate, internalDate))
        name = infoName(messageName(unique, len(stored), wire), flags)
        return self._adopt([(temporary, name, False)])[0]

    def _adopt(self, sources: Sequence[tuple[str, str, bool]]) -> list[int]:
        """
        Name files into C{cur/} (rename, or link when the flag says so)
        and give them UIDs in order, under the UID lock.
        """
        added, uids = [], []
        with locked(self.path):
            uidlist = self._list()
            if uidlist.changedOnDisk():
                uidlist = self._uidlist = UIDList.load(self.path)
            for source, name, link in sources:
                target = os.path.join(self.path, "cur", name)
                _place(source, target, link, self.fsync)
                uid = uidlist.assign([uidOf(name)])[0]
                uids.append(uid)
                mtime = os.stat(target).st_mtime
                added.append(FolderMessage(uid, uidOf(name), "cur", name, flagsOf(name),
                                           wireSizeOfName(name) or 0, mtime))
            uidlist.save(self.fsync)
        self._update(added)
        return uids

    def copyTo(self, uids: Sequence[int], target: MaildirFolder, move: bool = False) -> list[tuple[int, int]]:
        """
        Copy (hard links) or move (renames) messages into C{target}, in
        UID order, keeping their flags and INTERNALDATE.

        @return: C{(source UID, target UID)} pairs, for COPYUID.
        """
        messages = [self.byUID[uid] for uid in sorted(set(uids)) if uid in self.byUID]
        sources = []
        for message in messages:
            unique = target.layout.newUnique()
            size = wireSizeOfName(message.unique)
            disk = os.stat(self.pathOf(message)).st_size
            name = infoName(messageName(unique, disk, size if size is not None else message.size),
                            message.flags)
            sources.append((self.pathOf(message), name, not move))
        newUIDs = target._adopt(sources)
        if move:
            self._update((), [m.uid for m in messages])
        return [(m.uid, uid) for m, uid in zip(messages, newUIDs)]

    # Keywords

    def keywords(self) -> list[str]:
        """
        The keyword names, letter C{a} first.
        """
        if self._keywords is None:
            try:
                with open(os.path.join(self.path, KEYWORDS_FILE), encoding="utf-8") as f:
                    self._keywords = [line.split(" ", 1)[1] for line in f.read().splitlines()
                                      if " " in line][:MAX_KEYWORDS]
            except (OSError, UnicodeDecodeError):
                self._keywords = []
        return self._keywords

    def keywordLetter(self, keyword: str, create: bool = False) -> str | None:
        """
        The letter of C{keyword} (case-insensitive), made if C{create} and
        a letter is free; else L{None}.
        """
        names = self.keywords()
        for index, name in enumerate(names):
            if name.lower() == keyword.lower():
                return chr(ord("a") + index)
        if not create or len(names) >= MAX_KEYWORDS:
            return None
        names.append(keyword)
        temporary = os.path.join(self.path, f"{KEYWORDS_FILE}.{os.getpid()}.tmp")
        with open(temporary, "w", encoding="utf-8") as f:
            f.write("".join(f"{i} {name}\n" for i, name in enumerate(names)))
        os.rename(temporary, os.path.join(self.path, KEYWORDS_FILE))
        return chr(ord("a") + len(names) - 1)

    def keywordOf(self, letter: str) -> str | None:
        names = self.keywords()
        index = ord(letter) - ord("a")
        return names[index] if 0 <= index < len(names) else None


def _place(source: str, target: str, link: bool, fsync: Callable[[int], None]) -> None:
    if not link:
        try:
            os.rename(source, target)
            return
        except OSError as e:
            if e.errno != errno.EXDEV:
                raise
    else:
        try:
            os.link(source, target)
            return
        except OSError as e:
            if e.errno not in (errno.EXDEV, errno.EPERM, errno.EMLINK):
                raise
    shutil.copy2(source, target)
    fd = os.open(target, os.O_RDONLY)
    try:
        fsync(fd)
    finally:
        os.close(fd)
    if not link:
        os.unlink(source)


def _unlinkQuietly(path: str) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
