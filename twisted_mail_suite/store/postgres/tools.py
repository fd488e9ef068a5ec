# -*- test-case-name: tests.store.test_storecopy,tests.store.test_postgres -*-
"""
The operator's tools behind C{mailsuite-admin db migrate} and
C{mailsuite-admin store copy}: synchronous, run with the server stopped
or running (a copy into PostgreSQL takes each user in one transaction).

A copy moves every user's folders between Maildir++ (C{data_dir/mail})
and PostgreSQL: the folder hierarchy, the subscriptions, and each
message's octets (wire form), flags (the system flags and the keywords,
matched by name) and internal date (a Maildir file's mtime).  It goes
through the folder classes IMAP uses, so neither store is written here a
second time: the synchronous Maildir++ L{UserFolders} (in
L{MaildirUserFolders}, whose Deferreds have fired when they return) and
L{PostgresFolders} on one blocking connection (L{BlockingRun}).

Each folder gets new UIDs and a new UIDVALIDITY on the target (IMAP
clients resynchronise); C{\\Recent} is not carried.  A source user with
subscriptions is mirrored exactly (the target's other folders, empty,
deleted); one never seen by IMAP leaves the target's first-login
defaults.  A user whose target already holds mail in any folder is
skipped and named, so a copy run twice copies nothing twice.  The source
is left as it was (a Maildir folder may get the UID list IMAP would have
written).
"""
from __future__ import annotations

import os
from typing import Any, Callable, Iterable

from twisted.internet.defer import Deferred, fail, succeed
from twisted.python.failure import Failure

from ...mailfolders import IMailFolder, IUserFolders
from ..maildir.folders import MaildirFolders
from ..maildir.mailboxes import MaildirUserFolders
from ..names import DELIMITER
from .database import connect
from .folders import PostgresFolders
from .schema import migrate

__all__ = ["BlockingRun", "copyToMaildir", "copyToPostgres", "migrateDatabase"]

Report = Callable[[str], None]


def migrateDatabase(url: str) -> list[int]:
    """
    Apply the missing migrations; return the versions applied.
    """
    with connect(url) as connection:
        return migrate(connection)


class BlockingRun:
    """
    L{Database.run <twisted_mail_suite.store.postgres.database.Database.run>}'s
    contract on one blocking connection, for tools: C{f(connection, *args)}
    runs now and answers a fired Deferred; the transaction is left open, for
    the caller to commit or roll back.
    """

    def __init__(self, connection: Any) -> None:
        self.connection = connection

    def run(self, f: Callable[..., Any], *args: Any) -> Deferred:
        try:
            return succeed(f(self.connection, *args))
        except Exception:
            return fail()


def _now(d: Deferred) -> Any:
    """
    The result of a Deferred that has fired (its failure raised).
    """
    results: list[Any] = []
    d.addBoth(results.append)
    if not results:
        raise RuntimeError("a folder call did not answer at once")
    if isinstance(results[0], Failure):
        results[0].raiseException()
    return results[0]


def _opened(tree: IUserFolders, name: str) -> IMailFolder:
    folder = _now(tree.open(name))
    _now(folder.refresh(True))
    return folder


def _holdsMail(tree: IUserFolders) -> bool:
    return any(_opened(tree, name).messages for name in _now(tree.names()))


def _copyFolder(source: IMailFolder, target: IMailFolder) -> int:
    """
    Append C{source}'s messages to C{target} in UID order: octets, flags
    (keyword letters translated by keyword name), internal date.
    """
    letters = {}
    for index, keyword in enumerate(source.keywords()):
        letter = _now(target.addKeyword(keyword))
        if letter is not None:
            letters[chr(ord("a") + index)] = letter
    for message in source.messages:
        flags = "".join(letters.get(letter, "") if letter.islower() else letter for letter in message.flags)
        content = _now(source.open(message))
        try:
            data = b"".join(content.chunks())
        finally:
            content.close()
        _now(target.append(data, flags, message.internalDate))
    return len(source.messages)


def _copyUser(source: IUserFolders, target: IUserFolders) -> tuple[int, int] | None:
    """
    Every folder of C{source} into C{target} (made where missing); if
    C{source} has subscriptions (an IMAP login made its folders), the
    target's other folders (all empty) are deleted and its subscriptions
    made the same.

    @return: (messages, folders) copied, or L{None}: C{target} holds mail.
    """
    if _holdsMail(target):
        return None
    names = _now(source.names())
    copied = 0
    for name in names:
        if not _now(target.exists(name)):
            _now(target.create(name))
        copied += _copyFolder(_opened(source, name), _opened(target, name))
    subscribed = _now(source.subscriptions())
    if subscribed:                  # set up for IMAP: the target's first-login defaults give way
        for name in sorted(set(_now(target.names())) - set(names), reverse=True):      # children first
            if not any(kept.startswith(name + DELIMITER) for kept in names):
                _now(target.delete(name))
        present = _now(target.subscriptions())
        for name in present:
            if name not in subscribed:
                _now(target.unsubscribe(name))
        for name in subscribed:
            if name not in present:
                _now(target.subscribe(name))
    return copied, len(names)


def _copyAll(users: Iterable[str], source: Callable[[str], IUserFolders], target: Callable[[str], IUserFolders],
             settle: Callable[[bool], None], where: str, report: Report) -> tuple[int, list[str]]:
    """
    @param settle: called after each user with whether it was copied
        (commit or roll back the database's transaction).
    @param where: the target, for the line naming a skipped user.
    """
    copied, skipped = 0, []
    for user in users:
        result = _copyUser(source(user), target(user))
        settle(result is not None)
        if result is None:
            skipped.append(user)
            report(f"{user}: skipped ({where} already holds mail)")
            continue
        copied += result[0]
        report(f"{user}: {result[0]} messages in {result[1]} folders")
    return copied, skipped


def _maildirUsers(mailDir: str) -> list[str]:
    users = sorted(os.listdir(mailDir)) if os.path.isdir(mailDir) else []
    return [user for user in users if os.path.isdir(os.path.join(mailDir, user, "cur"))]


def _maildirTree(folders: MaildirFolders) -> Callable[[str], IUserFolders]:
    return lambda user: MaildirUserFolders(folders.forUser(user))


def _postgresTree(connection: Any) -> Callable[[str], IUserFolders]:
    folders = PostgresFolders(BlockingRun(connection))  # type: ignore[arg-type]
    return lambda user: _now(folders.forUser(user))


def copyToPostgres(mailDir: str, url: str, report: Report) -> tuple[int, list[str]]:
    """
    Every Maildir user's folders into PostgreSQL, a user a transaction.

    @return: (messages copied, users skipped).
    """
    with connect(url) as connection:
        def settle(copied: bool) -> None:
            (connection.commit if copied else connection.rollback)()
        return _copyAll(_maildirUsers(mailDir), _maildirTree(MaildirFolders(mailDir)), _postgresTree(connection),
                        settle, "PostgreSQL", report)


def copyToMaildir(url: str, mailDir: str, report: Report) -> tuple[int, list[str]]:
    """
    Every PostgreSQL user's folders into Maildir++; nothing is written to
    the database (a user's first reading rolls back).

    @return: (messages copied, users skipped).
    """
    os.makedirs(mailDir, mode=0o700, exist_ok=True)
    with connect(url) as connection:
        with connection.cursor() as cursor:
            cursor.execute("SELECT DISTINCT owner FROM mailboxes ORDER BY owner")
            users = [owner for owner, in cursor.fetchall()]
        connection.rollback()
        return _copyAll(users, _postgresTree(connection), _maildirTree(MaildirFolders(mailDir)),
                        lambda copied: connection.rollback(), "the Maildir", report)
