# -*- test-case-name: tests.identity.test_usersfile -*-
"""
Rewriting the users file (C{mailsuite-admin}): every read-modify-write
holds an exclusive C{flock} on a lock file next to it (C{users.passwd.lock},
never replaced, so every writer locks the same inode), and the new content
replaces the file atomically, keeping its owner, group and mode.  Comments
and lines we do not understand are kept.

The server only reads the file; it needs no lock, since it sees either the
old file or the new one.
"""
from __future__ import annotations

import fcntl
import os
import stat
import tempfile
from contextlib import contextmanager
from typing import Callable, Iterator

from .entries import normalizeName, parseEntry

__all__ = ["addUser", "deleteUser", "lockedUsersFile", "setUserPassword", "writeFileAtomically"]

NEW_FILE_MODE = 0o600


def _readLines(path: str) -> list[str]:
    try:
        with open(path, encoding="utf-8") as f:
            return f.readlines()
    except FileNotFoundError:
        return []


def _lineUser(line: str) -> str | None:
    try:
        entry = parseEntry(line)
    except ValueError:
        name = line.split(":", 1)[0].strip()
        return normalizeName(name) if ":" in line and name and not name.startswith("#") else None
    return entry.name if entry else None


@contextmanager
def lockedUsersFile(path: str) -> Iterator[None]:
    """
    Hold the users file's writer lock (C{path + ".lock"}, exclusive
    C{flock}) for the body: one read-modify-write at a time, across threads
    and processes.
    """
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd = os.open(path + ".lock", os.O_RDWR | os.O_CREAT, NEW_FILE_MODE)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)         # closing releases the lock


def _modeFor(existing: os.stat_result | None) -> int:
    """
    The mode of the rewritten file: the old file's, unless others could
    read or write it (password hashes are never world-readable): then, as
    for a new file, 0600.
    """
    if existing is None:
        return NEW_FILE_MODE
    mode = stat.S_IMODE(existing.st_mode)
    return NEW_FILE_MODE if mode & 0o007 else mode


def _keepOwner(tmp: str, path: str, existing: os.stat_result) -> None:
    """
    Give C{tmp} the owner and group of the file it replaces.

    @raise PermissionError: if that is not allowed (the file stays as it
        was rather than change hands).
    """
    mine = os.stat(tmp)
    if (mine.st_uid, mine.st_gid) == (existing.st_uid, existing.st_gid):
        return
    try:
        os.chown(tmp, existing.st_uid, existing.st_gid)
    except PermissionError:
        raise PermissionError(
            f"cannot keep the owner of {path} "
            f"(uid {existing.st_uid}, gid {existing.st_gid}); run as its owner or root") from None


def writeFileAtomically(path: str, text: str, mode: int | None = None) -> None:
    """
    Replace C{path} with C{text}: temp file in the same folder, fsync,
    C{os.replace}, fsync the folder.  The file keeps its owner, group and
    mode (see L{_modeFor}); a new file is 0600 unless C{mode} says.
    """
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    try:
        existing: os.stat_result | None = os.stat(path)
    except FileNotFoundError:
        existing = None
    fd, tmp = tempfile.mkstemp(prefix=".users.", dir=folder)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        if existing is not None:
            _keepOwner(tmp, path, existing)
        os.chmod(tmp, mode if mode is not None else _modeFor(existing))
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    dirfd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(dirfd)
    finally:
        os.close(dirfd)


def _rewrite(path: str, change: Callable[[list[str]], list[str] | None]) -> bool:
    """
    Under the lock: read the lines, C{change(lines)} -> the new lines (or
    L{None}: leave the file alone), write them atomically.

    @return: whether the file was rewritten.
    """
    with lockedUsersFile(path):
        lines = change(_readLines(path))
        if lines is None:
            return False
        writeFileAtomically(path, "".join(lines))
        return True


def _setIn(lines: list[str], name: str, stored: str) -> bool:
    existed = False
    for index, line in enumerate(lines):
        if _lineUser(line) == name:
            fields = line.rstrip("\r\n").split(":")
            fields[1] = stored
            lines[index] = ":".join(fields) + "\n"
            existed = True
    return existed


def _append(lines: list[str], name: str, stored: str) -> list[str]:
    if lines and not lines[-1].endswith("\n"):
        lines[-1] += "\n"
    lines.append(f"{name}:{stored}\n")
    return lines


def setUserPassword(path: str, name: str, stored: str, create: bool = True) -> bool:
    """
    Set C{name}'s stored password (C{{SCHEME}hash}), keeping the line's
    extra fields, every other line and every comment; with C{create}, add
    the user if missing.

    @return: C{True} if the user existed before.
    """
    name = normalizeName(name)
    existed = [False]

    def change(lines: list[str]) -> list[str] | None:
        existed[0] = _setIn(lines, name, stored)
        if existed[0]:
            return lines
        return _append(lines, name, stored) if create else None

    _rewrite(path, change)
    return existed[0]


def addUser(path: str, name: str, stored: str) -> bool:
    """
    Add C{name} with C{stored}, unless the user exists (checked under the
    same lock as the write, so two adders cannot both succeed).

    @return: C{True} if added, C{False} if the user was already there.
    """
    name = normalizeName(name)
    return _rewrite(path, lambda lines: None if any(_lineUser(line) == name for line in lines)
                    else _append(lines, name, stored))


def deleteUser(path: str, name: str) -> bool:
    """
    @return: C{True} if the user was there.
    """
    name = normalizeName(name)

    def change(lines: list[str]) -> list[str] | None:
        kept = [line for line in lines if _lineUser(line) != name]
        return None if len(kept) == len(lines) else kept

    return _rewrite(path, change)
