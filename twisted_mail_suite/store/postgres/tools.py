# -*- test-case-name: tests.store.test_postgres -*-
"""
The operator's tools behind C{mailsuite-admin db migrate} and
C{mailsuite-admin store copy}: synchronous, run with the server stopped
or running (a copy takes each user in one transaction).

A copy moves every user's INBOX between Maildir (C{data_dir/mail}) and
PostgreSQL in order, with its flags (Maildir to PostgreSQL: every info
letter; back: C{S}, seen) and, into PostgreSQL, its internal date.  The
target gets new UIDs (and a new UIDVALIDITY).  A user whose target
mailbox already holds mail is skipped and named, so a copy run twice
copies nothing twice.  The source is left as it was.
"""
from __future__ import annotations

import os
from collections import Counter
from typing import Any, Callable

from ...interfaces import StoredMessage
from ..content import FileContent
from ..maildir import MaildirStore, runSynchronously
from .commit import INBOX, INSERT_MESSAGE, reserveUIDs, splitHeader
from .database import connect
from .schema import migrate

__all__ = ["copyToMaildir", "copyToPostgres", "migrateDatabase"]

Report = Callable[[str], None]


def migrateDatabase(url: str) -> list[int]:
    """
    Apply the missing migrations; return the versions applied.
    """
    with connect(url) as connection:
        return migrate(connection)


def _wire(store: MaildirStore, user: str, message: StoredMessage) -> bytes:
    content = FileContent(store.openStored(user, message.uid), message.size)
    try:
        return b"".join(content.chunks())
    finally:
        content.close()


def copyToPostgres(mailDir: str, url: str, report: Report) -> tuple[int, list[str]]:
    """
    @return: (messages copied, users skipped).
    """
    store = MaildirStore(mailDir, runBlocking=runSynchronously)
    copied, skipped = 0, []
    users = sorted(os.listdir(mailDir)) if os.path.isdir(mailDir) else []
    with connect(url) as connection:
        for user in users:
            if not os.path.isdir(os.path.join(mailDir, user, "cur")):
                continue
            messages = store.storedMessages(user)
            with connection.transaction(), connection.cursor() as cursor:
                cursor.execute("SELECT count(*) FROM messages m JOIN mailboxes b ON b.id = m.mailbox "
                               "WHERE b.owner = %s AND b.name = %s", (user, INBOX))
                if cursor.fetchone()[0]:
                    skipped.append(user)
                    report(f"{user}: skipped (the PostgreSQL mailbox is not empty)")
                    continue
                if not messages:
                    continue
                mailbox, uid = reserveUIDs(cursor, Counter({user: len(messages)}))[user]
                rows = []
                for offset, message in enumerate(messages):
                    wire = _wire(store, user, message)
                    header, body = splitHeader(wire)
                    rows.append((mailbox, uid + offset, len(wire), "".join(sorted(message.flags)),
                                 message.internalDate, header, body))
                cursor.executemany(INSERT_MESSAGE, rows)
            copied += len(messages)
            report(f"{user}: {len(messages)} messages")
    return copied, skipped


def copyToMaildir(url: str, mailDir: str, report: Report) -> tuple[int, list[str]]:
    """
    @return: (messages copied, users skipped).
    """
    store = MaildirStore(mailDir, runBlocking=runSynchronously)
    os.makedirs(mailDir, mode=0o700, exist_ok=True)
    copied, skipped = 0, []
    with connect(url) as connection, connection.cursor() as cursor:
        cursor.execute("SELECT owner, id FROM mailboxes WHERE name = %s ORDER BY owner", (INBOX,))
        for user, mailbox in cursor.fetchall():
            if store.storedMessages(user):
                skipped.append(user)
                report(f"{user}: skipped (the Maildir is not empty)")
                continue
            cursor.execute("SELECT uid FROM messages WHERE mailbox = %s ORDER BY uid", (mailbox,))
            uids = [row[0] for row in cursor.fetchall()]
            for uid in uids:
                cursor.execute("SELECT flags, header, body FROM messages WHERE mailbox = %s AND uid = %s",
                               (mailbox, uid))
                flags, header, body = cursor.fetchone()
                newUID = _deliver(store, user, bytes(header) + bytes(body))
                if "S" in flags:
                    store.markSeen(user, [newUID])
            connection.rollback()
            copied += len(uids)
            report(f"{user}: {len(uids)} messages")
    return copied, skipped


def _deliver(store: MaildirStore, user: str, message: bytes) -> str:
    delivery = store.beginDelivery([user])
    delivery.write(message)
    results: list[Any] = []
    delivery.commit().addBoth(results.append)
    if not results or not isinstance(results[0], list):
        raise RuntimeError(f"cannot write {user}'s message into the Maildir: {results}")
    return results[0][0]
