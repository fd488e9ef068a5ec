# -*- test-case-name: tests.store.test_uidlist -*-
"""
IMAP UIDs for a Maildir folder, kept the way Dovecot keeps them: a file
(C{mailsuite-uidlist}) in the folder maps each message's unique name to
its UID, with the folder's UIDVALIDITY and the next UID, so UIDs stay the
same across sessions and restarts.

The file is written whole and atomically (a temporary file, fsync'd, then
renamed over the old one), so a crash leaves the old list or the new one,
never half of one.  Processes sharing a Maildir assign UIDs under an
advisory lock (C{flock} on C{mailsuite-uidlist.lock}), re-reading the file
first if another process changed it.  A missing or unreadable list starts
a new UIDVALIDITY: clients then resynchronise, which is the IMAP way of
saying "UIDs changed".

Format (one header line, then one line per message, UIDs ascending)::

    3 V1700000000 N43
    41 :1700000000.M5P7Q1.host,S=120,W=123
    42 :1700000001.M6P7Q2.host,S=99,W=101
"""
from __future__ import annotations

import fcntl
import os
import time
from contextlib import contextmanager
from typing import Callable, Iterable, Iterator

__all__ = ["FILENAME", "UIDList", "locked", "newValidity"]

FILENAME = "mailsuite-uidlist"
LOCKNAME = "mailsuite-uidlist.lock"
_lastValidity = 0


def newValidity() -> int:
    """
    A fresh UIDVALIDITY: the current time, and strictly more than any
    this process gave before (a folder deleted and made again within one
    second gets a new one).
    """
    global _lastValidity
    _lastValidity = max(int(time.time()), _lastValidity + 1)
    return _lastValidity


def _stamp(path: str) -> tuple[int, int, int] | None:
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return None
    return (st.st_ino, st.st_size, st.st_mtime_ns)


class UIDList:
    """
    The UIDs of one folder.

    @ivar uidValidity: the folder's UIDVALIDITY.
    @ivar nextUID: the UID the next new message gets.
    @ivar uids: unique name -> UID.
    @ivar stamp: the identity of the file this was read from or written
        to (inode, size, mtime), to notice another process's changes.
    """

    __slots__ = ("folder", "uidValidity", "nextUID", "uids", "stamp")

    def __init__(self, folder: str, uidValidity: int, nextUID: int = 1,
                 uids: dict[str, int] | None = None) -> None:
        self.folder = folder
        self.uidValidity = uidValidity
        self.nextUID = nextUID
        self.uids: dict[str, int] = uids if uids is not None else {}
        self.stamp: tuple[int, int, int] | None = None

    @property
    def path(self) -> str:
        return os.path.join(self.folder, FILENAME)

    @classmethod
    def load(cls, folder: str) -> UIDList:
        """
        The folder's list as stored, or a new one (new UIDVALIDITY) if
        there is none or it cannot be read.
        """
        path = os.path.join(folder, FILENAME)
        stamp = _stamp(path)
        try:
            with open(path, "rb") as f:
                data = f.read()
            loaded = cls.parse(folder, data)
        except (OSError, ValueError, KeyError):
            loaded = None
        if loaded is None:
            return cls(folder, newValidity())
        loaded.stamp = stamp
        return loaded

    @classmethod
    def parse(cls, folder: str, data: bytes) -> UIDList:
        """
        @raise ValueError: C{data} is not a uidlist (or L{KeyError}: its
            header lacks a field).
        """
        lines = data.split(b"\n")
        header = lines[0].split()
        if not header or header[0] != b"3":
            raise ValueError("not a version 3 uidlist")
        fields = {item[:1]: item[1:] for item in header[1:]}
        validity, nextUID = int(fields[b"V"]), int(fields[b"N"])
        if validity <= 0 or nextUID <= 0:
            raise ValueError("bad header")
        uids = {}
        for line in lines[1:]:
            if not line:
                continue
            number, _, name = line.partition(b" :")
            uid = int(number)
            if not name or uid <= 0 or uid >= nextUID:
                raise ValueError("bad line")
            uids[name.decode("utf-8", "surrogateescape")] = uid
        return cls(folder, validity, nextUID, uids)

    def changedOnDisk(self) -> bool:
        """
        Has the file changed since this list was read or written?
        """
        return _stamp(self.path) != self.stamp

    def assign(self, names: Iterable[str]) -> list[int]:
        """
        Give each name (in order) the next UID; names that have one keep it.
        """
        assigned = []
        for name in names:
            uid = self.uids.get(name)
            if uid is None:
                uid = self.uids[name] = self.nextUID
                self.nextUID += 1
            assigned.append(uid)
        return assigned

    def keepOnly(self, names: Iterable[str]) -> None:
        """
        Forget the UIDs of every name not in C{names} (messages gone).
        """
        keep = set(names)
        self.uids = {name: uid for name, uid in self.uids.items() if name in keep}

    def serialize(self) -> bytes:
        lines = [b"3 V%d N%d" % (self.uidValidity, self.nextUID)]
        for name, uid in sorted(self.uids.items(), key=lambda item: item[1]):
            lines.append(b"%d :%s" % (uid, name.encode("utf-8", "surrogateescape")))
        return b"\n".join(lines) + b"\n"

    def save(self, fsync: Callable[[int], None] = os.fsync) -> None:
        """
        Write the list atomically (temporary file, fsync, rename).
        """
        temporary = f"{self.path}.{os.getpid()}.tmp"
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            view = memoryview(self.serialize())
            while view:
                view = view[os.write(fd, view):]
            fsync(fd)
        except BaseException:
            os.close(fd)
            try:
                os.unlink(temporary)
            except OSError:
                pass
            raise
        os.close(fd)
        os.rename(temporary, self.path)
        self.stamp = _stamp(self.path)


@contextmanager
def locked(folder: str) -> Iterator[None]:
    """
    Hold the folder's UID lock (an advisory C{flock}, for processes
    sharing the Maildir; within a process the folder object serialises).
    """
    fd = os.open(os.path.join(folder, LOCKNAME), os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)
