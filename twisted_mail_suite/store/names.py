# -*- test-case-name: tests.store.test_folders -*-
"""
The rules on IMAP folder names every folder store keeps (Maildir++ and
PostgreSQL alike): the hierarchy delimiter, INBOX in any case, the
SPECIAL-USE roles (RFC 6154) of the usual folders, and what a name may
hold.  Names are kept as IMAP4rev1 writes them (modified UTF-7).
"""
from __future__ import annotations

from ..errors import BadFolderName

__all__ = ["DEFAULT_FOLDERS", "DELIMITER", "MAX_NAME", "SPECIAL_USE", "checkName", "isInbox", "parentsOf"]

DELIMITER = "."
SPECIAL_USE = {"Sent": "\\Sent", "Drafts": "\\Drafts", "Trash": "\\Trash", "Junk": "\\Junk",
               "Archive": "\\Archive"}
DEFAULT_FOLDERS = ("Sent", "Drafts", "Trash", "Junk")
MAX_NAME = 200


def isInbox(name: str) -> bool:
    return name.upper() == "INBOX"


def checkName(name: str) -> str:
    """
    C{name} as stored (INBOX in capitals).

    @raise BadFolderName: empty parts, a slash, a leading dot, too long.
    """
    if isInbox(name):
        return "INBOX"
    parts = name.split(DELIMITER)
    if not name or len(name) > MAX_NAME or "/" in name or "\0" in name or any(not p for p in parts) \
            or any(p in (".", "..") for p in parts) or not name.isprintable():
        raise BadFolderName(name)
    return name


def parentsOf(name: str) -> list[str]:
    """
    C{a.b.c} -> C{["a", "a.b"]}.
    """
    parts = name.split(DELIMITER)
    return [DELIMITER.join(parts[:depth]) for depth in range(1, len(parts))]
