# -*- test-case-name: tests.store.test_layout -*-
"""
Where things are in a Maildir, and what a file name says.

One Maildir per user under the store's root (C{<root>/<user>/{tmp,new,cur}}).
Files are named the Dovecot way, C{<unique>,S=<octets on disk>,W=<octets
with CRLF>} (plus C{:2,<flags>} once in C{cur/}), so a listing needs no
read; the unique part is C{<seconds>.M<micro>P<pid>Q<counter>.<host>}.
Nothing here writes or reads message files except L{wireSize}, for names
without C{,W=} (written by other software).
"""
from __future__ import annotations

import functools
import itertools
import os
import re
import socket
import time

__all__ = ["MaildirLayout", "uidOf", "flagsOf", "messageName", "wireSize", "wireSizeOfName",
           "orderKey", "internalDateOf", "privateFolder", "createPrivate", "umaskKeepsFileMode", "FILE_MODE",
           "FOLDER_MODE"]

FILE_MODE = 0o600     # every message file, whatever the umask
FOLDER_MODE = 0o700   # every folder the store makes, whatever the umask

_SIZES = re.compile(r",S=(\d+)(?:,W=(\d+))?")
_UNIQUE_PARTS = re.compile(r"M(\d+)P(\d+)Q(\d+)")
_INFO = ":2,"
_counter = itertools.count(1)
_pid = [os.getpid()]                # os.getpid() is a system call: asked once, and again after a fork
os.register_at_fork(after_in_child=lambda: _pid.__setitem__(0, os.getpid()))


def uidOf(filename: str) -> str:
    """
    The Maildir unique name: the file name without its C{:2,flags} part.
    """
    return filename.split(":", 1)[0]


def flagsOf(filename: str) -> str:
    """
    The info letters of a file name (C{""} for a name in C{new/}).
    """
    return filename.split(_INFO, 1)[1] if _INFO in filename else ""


def seenName(uid: str, flags: str) -> str:
    """
    The name in C{cur/} of a message C{uid} whose flags were C{flags}, once
    read: flag C{S} added, the letters sorted.
    """
    return f"{uid}{_INFO}{''.join(sorted(set(flags) | {'S'}))}"


def messageName(unique: str, diskSize: int, wireSize: int) -> str:
    """
    The name a new message gets in C{new/}: its unique part and both sizes.
    """
    return f"{unique},S={diskSize},W={wireSize}"


def wireSizeOfName(filename: str) -> int | None:
    """
    The CRLF size recorded in a name (C{,W=}), or L{None} if it has none.
    """
    match = _SIZES.search(uidOf(filename))
    if match and match.group(2):
        return int(match.group(2))
    return None


def wireSize(path: str, filename: str) -> int:
    """
    The size with CRLF line ends: from C{,W=} when the name has it,
    otherwise by reading the file once (LF or CRLF stored).
    """
    recorded = wireSizeOfName(filename)
    if recorded is not None:
        return recorded
    size = lineFeeds = crlf = 0
    previous = b""
    with open(path, "rb") as f:
        while True:
            chunk = f.read(65536)
            if not chunk:
                break
            size += len(chunk)
            lineFeeds += chunk.count(b"\n")
            if b"\r" in chunk or previous == b"\r":
                crlf += chunk.count(b"\r\n") + (1 if previous == b"\r" and chunk[:1] == b"\n" else 0)
            previous = chunk[-1:]
    return size + lineFeeds - crlf


@functools.lru_cache(maxsize=100_000)
def orderKey(uid: str) -> tuple:
    """
    Sort key putting messages in delivery order: seconds, microseconds and
    counter of the unique name; names of other shapes by their seconds.
    """
    seconds, _, rest = uid.partition(".")
    micro = _UNIQUE_PARTS.match(rest)
    if seconds.isdigit() and micro:
        return (int(seconds), int(micro.group(1)), int(micro.group(3)), uid)
    return (int(seconds) if seconds.isdigit() else 0, 0, 0, uid)


def internalDateOf(uid: str) -> float | None:
    """
    The delivery time a unique name records (POSIX seconds), or L{None} if
    the name does not start with one.
    """
    key = orderKey(uid)
    if not uid.partition(".")[0].isdigit():
        return None
    return key[0] + key[1] / 1e6


def privateFolder(path: str) -> None:
    """
    Make C{path} and its missing parents, each with L{FOLDER_MODE} whatever
    the umask; folders that exist are left as they are.
    """
    if os.path.isdir(path):
        return
    parent = os.path.dirname(path)
    if parent and parent != path:
        privateFolder(parent)
    try:
        os.mkdir(path, FOLDER_MODE)
    except FileExistsError:
        if os.path.isdir(path):     # made meanwhile by someone else: theirs
            return
        raise
    os.chmod(path, FOLDER_MODE)     # mkdir's mode is masked by the umask


def createPrivate(path: str) -> int:
    """
    Create the new file C{path} (it must not exist) for writing, with
    L{FILE_MODE} whatever the umask.

    @return: its descriptor.
    """
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, FILE_MODE)
    try:
        os.fchmod(fd, FILE_MODE)
    except BaseException:
        os.close(fd)
        raise
    return fd


def umaskKeepsFileMode(status: str = "/proc/self/status") -> bool:
    """
    Does a file created with L{FILE_MODE} get exactly that mode: does the
    process's umask (read from C{status}, Linux 4.7 and later, without
    changing it) take none of the owner's bits?  L{False} where it cannot
    be read: then every new file is C{fchmod}ed.
    """
    try:
        with open(status, "rb") as f:
            for line in f:
                if line.startswith(b"Umask:"):
                    return not int(line.split()[1], 8) & FILE_MODE
    except (OSError, ValueError, IndexError):
        pass
    return False


def hostPart() -> str:
    """
    This host's name as the last part of a unique name (C{/ : ,} escaped).
    """
    host = socket.gethostname().split(".")[0] or "localhost"
    return host.replace("/", "\\057").replace(":", "\\072").replace(",", "\\054")[:24]


class MaildirLayout:
    """
    The folders of a store rooted at C{root} and the unique names of new
    messages.
    """

    SUBFOLDERS = ("tmp", "new", "cur")

    def __init__(self, root: str) -> None:
        self.root = root
        self._host = hostPart()
        self._known: set[str] = set()
        self._messageFolders: dict[str, tuple[str, str]] = {}

    def newUnique(self) -> str:
        now = time.time()
        seconds = int(now)
        return f"{seconds}.M{int((now - seconds) * 1e6)}P{_pid[0]}Q{next(_counter)}.{self._host}"

    def userPath(self, user: str) -> str:
        """
        @raise ValueError: C{user} would escape the root.
        """
        if not user or "/" in user or user in (".", "..") or "\0" in user:
            raise ValueError(f"bad user name {user!r}")
        return os.path.join(self.root, user)

    def ensureMaildir(self, user: str) -> str:
        """
        C{user}'s Maildir, its folders (the Maildir itself and its three
        subfolders, and the store's root) made with mode 0700 if missing.
        """
        path = self.userPath(user)
        if path not in self._known:
            for sub in self.SUBFOLDERS:
                privateFolder(os.path.join(path, sub))
            self._known.add(path)
        return path

    def messageFolders(self, user: str) -> tuple[str, str]:
        """
        C{user}'s C{tmp/} and C{new/} folders, each path ending in a
        separator (a file name is appended to it), the Maildir made if
        missing (L{ensureMaildir}); kept per user, as a delivery needs them
        for every message.
        """
        folders = self._messageFolders.get(user)
        if folders is None:
            path = self.ensureMaildir(user)
            if len(self._messageFolders) >= 4096:
                self._messageFolders.clear()
            folders = self._messageFolders[user] = (os.path.join(path, "tmp", ""), os.path.join(path, "new", ""))
        return folders

    def find(self, user: str, uid: str) -> str:
        """
        The path of message C{uid} of C{user}, wherever it is now.

        @raise KeyError: there is no such message.
        """
        path = self.userPath(user)
        for sub in ("cur", "new"):
            folder = os.path.join(path, sub)
            candidate = os.path.join(folder, uid)
            if os.path.exists(candidate):
                return candidate
            if sub == "cur":
                try:
                    for name in os.listdir(folder):
                        if uidOf(name) == uid:
                            return os.path.join(folder, name)
                except FileNotFoundError:
                    pass
        raise KeyError(uid)
