# -*- test-case-name: tests.store.test_pgfolders -*-
"""
IMAP's folders in PostgreSQL (L{IMailFolders}, L{IUserFolders}): every
folder is a row of C{mailboxes} (INBOX the one deliveries fill), named as
IMAP4rev1 writes it, the hierarchy in the names (C{Archive.2024}); the
subscriptions are rows of C{subscriptions}; a user's first login (a row of
C{imap_accounts} made) makes the usual folders and subscribes them.
UIDVALIDITY of a folder made here comes from the C{mailbox_uidvalidity}
sequence, so a folder deleted and made again never repeats one.

L{PostgresFolders} is the one instance per suite: it hands every session of
the process the same L{PostgresFolder} for a mailbox.  Every query runs in
the database's threads (L{Database.run}).
"""
from __future__ import annotations

import weakref
from typing import Any

from twisted.internet.defer import Deferred, fail, succeed
from twisted.logger import Logger
from zope.interface import implementer

from ...errors import FolderError, FolderExists, HasChildren, NoSuchFolder
from ...mailfolders import IMailFolders, IUserFolders
from ..names import DEFAULT_FOLDERS, DELIMITER, SPECIAL_USE, checkName, isInbox, parentsOf
from .database import Database
from .folder import PostgresFolder, copyMessages

__all__ = ["PostgresFolders", "PostgresUserFolders"]

log = Logger()
_MAKE = ("INSERT INTO mailboxes (owner, name, uidvalidity, uidnext) "
         "VALUES (%s, %s, nextval('mailbox_uidvalidity'), 1) ON CONFLICT (owner, name) DO NOTHING")
_FIND = "SELECT id, uidvalidity, uidnext FROM mailboxes WHERE owner = %s AND name = %s"
_BELOW = "(name = %s OR left(name, %s) = %s)"          # a folder and those below it


def _below(name: str) -> tuple[str, int, str]:
    return (name, len(name) + 1, name + DELIMITER)


def _prepare(connection: Any, user: str) -> None:
    with connection.cursor() as cursor:
        cursor.execute(_MAKE, (user, "INBOX"))
        cursor.execute("INSERT INTO imap_accounts (owner) VALUES (%s) ON CONFLICT DO NOTHING RETURNING owner", (user,))
        if cursor.fetchone() is None:
            return
        for name in DEFAULT_FOLDERS:
            cursor.execute(_MAKE, (user, name))
        for name in ("INBOX", *DEFAULT_FOLDERS):
            cursor.execute("INSERT INTO subscriptions (owner, name) VALUES (%s, %s) ON CONFLICT DO NOTHING",
                           (user, name))


def _names(connection: Any, user: str) -> list[str]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT name FROM mailboxes WHERE owner = %s", (user,))
        return ["INBOX", *sorted(name for name, in cursor.fetchall() if name != "INBOX")]


def _find(connection: Any, user: str, name: str) -> Any:
    with connection.cursor() as cursor:
        cursor.execute(_FIND, (user, name))
        return cursor.fetchone()


def _create(connection: Any, user: str, name: str) -> None:
    with connection.cursor() as cursor:
        cursor.execute(_FIND, (user, name))
        if cursor.fetchone() is not None:
            raise FolderExists(name)
        for each in [*parentsOf(name), name]:
            cursor.execute(_MAKE, (user, each))


def _delete(connection: Any, user: str, name: str) -> int:
    with connection.cursor() as cursor:
        cursor.execute(_FIND + " FOR UPDATE", (user, name))
        row = cursor.fetchone()
        if row is None:
            raise NoSuchFolder(name)
        cursor.execute("SELECT 1 FROM mailboxes WHERE owner = %s AND left(name, %s) = %s LIMIT 1",
                       (user, len(name) + 1, name + DELIMITER))
        if cursor.fetchone() is not None:
            raise HasChildren(name)
        cursor.execute("DELETE FROM mailboxes WHERE id = %s", (row[0],))
        return int(row[0])


def _rename(connection: Any, user: str, old: str, new: str) -> None:
    with connection.cursor() as cursor:
        cursor.execute(_FIND, (user, new))
        if cursor.fetchone() is not None:
            raise FolderExists(new)
        for parent in parentsOf(new):
            cursor.execute(_MAKE, (user, parent))
        if old == "INBOX":                     # INBOX's messages move to a new folder; INBOX stays
            cursor.execute(_MAKE, (user, new))
            cursor.execute(_FIND, (user, new))
            target = cursor.fetchone()[0]
            cursor.execute(_FIND, (user, "INBOX"))
            inbox = cursor.fetchone()[0]
            cursor.execute("SELECT uid FROM messages WHERE mailbox = %s", (inbox,))
            copyMessages(cursor, inbox, target, [uid for uid, in cursor.fetchall()], move=True)
            return
        cursor.execute(_FIND + " FOR UPDATE", (user, old))
        if cursor.fetchone() is None:
            raise NoSuchFolder(old)
        cut = len(old) + 1
        cursor.execute(f"UPDATE mailboxes SET name = %s || substr(name, %s) WHERE owner = %s AND {_BELOW}",
                       (new, cut, user, *_below(old)))
        cursor.execute("INSERT INTO subscriptions (owner, name) SELECT owner, %s || substr(name, %s) "
                       f"FROM subscriptions WHERE owner = %s AND {_BELOW} ON CONFLICT DO NOTHING",
                       (new, cut, user, *_below(old)))
        cursor.execute(f"DELETE FROM subscriptions WHERE owner = %s AND {_BELOW}", (user, *_below(old)))


def _subscriptions(connection: Any, user: str) -> list[str]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT name FROM subscriptions WHERE owner = %s ORDER BY name <> 'INBOX', name", (user,))
        return [name for name, in cursor.fetchall()]


def _subscribe(connection: Any, user: str, name: str) -> None:
    with connection.cursor() as cursor:
        cursor.execute("INSERT INTO subscriptions (owner, name) VALUES (%s, %s) ON CONFLICT DO NOTHING", (user, name))


def _unsubscribe(connection: Any, user: str, name: str) -> None:
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM subscriptions WHERE owner = %s AND name = %s RETURNING name", (user, name))
        if cursor.fetchone() is None:
            raise NoSuchFolder(name)


def _checked(name: str) -> Any:
    """
    C{name} as stored, or a failed Deferred (a bad name).
    """
    try:
        return checkName(name)
    except FolderError as e:
        return fail(e)


@implementer(IMailFolders)
class PostgresFolders:
    """
    @param database: the suite's L{Database} (shared with the store and the queue).
    """

    def __init__(self, database: Database) -> None:
        self.database = database
        self._open: weakref.WeakValueDictionary[int, PostgresFolder] = weakref.WeakValueDictionary()

    def forUser(self, user: str) -> Deferred:
        return self.database.run(_prepare, user).addCallback(lambda _: PostgresUserFolders(self, user))

    def folderFor(self, mailbox: int, uidValidity: int, uidNext: int) -> PostgresFolder:
        """
        The shared L{PostgresFolder} of mailbox row C{mailbox}.
        """
        folder = self._open.get(mailbox)
        if folder is None or folder.deleted:
            folder = self._open[mailbox] = PostgresFolder(self.database.run, mailbox, uidValidity, uidNext)
        return folder

    def gone(self, mailbox: int) -> None:
        """
        Mailbox C{mailbox} was deleted here: its sessions see every message expunged.
        """
        folder = self._open.pop(mailbox, None)
        if folder is not None:
            folder.deleted = True
            folder.refresh().addErrback(lambda failure: log.failure("Refreshing a deleted folder failed", failure))


@implementer(IUserFolders)
class PostgresUserFolders:
    """
    One user's folders in PostgreSQL.
    """

    def __init__(self, folders: PostgresFolders, user: str) -> None:
        self.folders = folders
        self.run = folders.database.run
        self.user = user

    def check(self, name: str) -> str:
        return checkName(name)

    def specialUse(self, name: str) -> str | None:
        return SPECIAL_USE.get(name)

    def names(self) -> Deferred:
        return self.run(_names, self.user)

    def exists(self, name: str) -> Deferred:
        if isInbox(name):
            return succeed(True)
        try:
            name = checkName(name)
        except FolderError:
            return succeed(False)
        return self.run(_find, self.user, name).addCallback(lambda row: row is not None)

    def open(self, name: str) -> Deferred:
        name = _checked(name)
        if isinstance(name, Deferred):
            return name

        def found(row: Any) -> PostgresFolder:
            if row is None:
                raise NoSuchFolder(name)
            return self.folders.folderFor(*row)
        return self.run(_find, self.user, name).addCallback(found)

    def create(self, name: str) -> Deferred:
        if name.endswith(DELIMITER) and len(name) > 1:
            name = name.rstrip(DELIMITER)
        name = _checked(name)
        if isinstance(name, Deferred):
            return name
        return self.run(_create, self.user, name)

    def delete(self, name: str) -> Deferred:
        if isInbox(name):
            return fail(FolderError("INBOX cannot be deleted"))
        name = _checked(name)
        if isinstance(name, Deferred):
            return name
        return self.run(_delete, self.user, name).addCallback(self.folders.gone)

    def rename(self, old: str, new: str) -> Deferred:
        old, new = _checked(old), _checked(new)
        for name in (old, new):
            if isinstance(name, Deferred):
                return name
        if new == "INBOX":
            return fail(FolderExists(new))
        if old != "INBOX" and (new + DELIMITER).startswith(old + DELIMITER):
            return fail(FolderError(f"cannot rename {old} below itself"))
        return self.run(_rename, self.user, old, new)

    def subscriptions(self) -> Deferred:
        return self.run(_subscriptions, self.user)

    def subscribe(self, name: str) -> Deferred:
        name = _checked(name)
        if isinstance(name, Deferred):
            return name
        return self.run(_subscribe, self.user, name)

    def unsubscribe(self, name: str) -> Deferred:
        return self.run(_unsubscribe, self.user, "INBOX" if isInbox(name) else name)
