# -*- test-case-name: tests.store.test_postgres -*-
"""
The PostgreSQL mail store (L{IMailStore}) for several nodes: each user's
INBOX is a row of C{mailboxes}, each message a row of C{messages} (header
section and body as C{bytea}, in wire form, so a read needs no
conversion; size, flags and internal date beside them, so a listing reads
the primary-key index and no body).  UIDs are the mailbox's own integers
(as strings on the seam), ascending in commit order; UIDVALIDITY is kept
for IMAP.  Deliveries are grouped into transactions (L{commit}).

Every call runs in the database's thread pool (L{database.Database}) and
answers with a Deferred; a write's fires after its COMMIT.
"""
from __future__ import annotations

from typing import Any, Iterable, Iterator

from twisted.application.service import Service
from twisted.internet.defer import Deferred, fail
from zope.interface import implementer

from ...errors import DeliveryFailed
from ...interfaces import IMailStore, IMessageContent, StoredMessage
from .commit import INBOX, BatchCommitter, PostgresDelivery
from .database import Database

__all__ = ["BytesContent", "PostgresStore"]

CHUNK_SIZE = 64 * 1024

_LIST = ("SELECT m.uid, m.size, m.flags, m.internal_date FROM messages m JOIN mailboxes b ON b.id = m.mailbox "
         "WHERE b.owner = %s AND b.name = %s ORDER BY m.uid")
_READ = ("SELECT m.header, m.body FROM messages m JOIN mailboxes b ON b.id = m.mailbox "
         "WHERE b.owner = %s AND b.name = %s AND m.uid = %s")
_SEEN = ("UPDATE messages m SET flags = array_to_string(ARRAY(SELECT DISTINCT unnest("
         "string_to_array(m.flags || 'S', NULL)) ORDER BY 1), '') FROM mailboxes b "
         "WHERE b.id = m.mailbox AND b.owner = %s AND b.name = %s AND m.uid = ANY(%s) AND strpos(m.flags, 'S') = 0")
_BUMP = "UPDATE mailboxes SET modseq = modseq + 1 WHERE owner = %s AND name = %s"   # IMAP sessions look again
_DELETE = ("DELETE FROM messages m USING mailboxes b WHERE b.id = m.mailbox AND b.owner = %s AND b.name = %s "
           "AND m.uid = ANY(%s)")


def _uids(uids: Iterable[str]) -> list[int]:
    return [int(uid) for uid in uids if uid.isdigit() and len(uid) < 19]


@implementer(IMessageContent)
class BytesContent:
    """
    A message read from the database, handed out in chunks.
    """

    def __init__(self, parts: Iterable[bytes]) -> None:
        self._parts = [bytes(part) for part in parts if part]
        self.size = sum(len(part) for part in self._parts)

    def chunks(self) -> Iterator[bytes]:
        for part in self._parts:
            for start in range(0, len(part), CHUNK_SIZE):
                yield part[start:start + CHUNK_SIZE]

    def close(self) -> None:
        self._parts = []


@implementer(IMailStore)
class PostgresStore(Service):
    """
    @param database: the shared L{Database} (started before this store,
        stopped after it).
    @param inFlight: delivery transactions at most at a time.
    """

    def __init__(self, database: Database, inFlight: int = 2, maxBatch: int = 64) -> None:
        self.database = database
        self.committer = BatchCommitter(database.run, inFlight, maxBatch)

    def stopService(self) -> Deferred:
        """
        Let the commits in flight finish.
        """
        super().stopService()
        return self.committer.whenIdle()

    # IMailStore

    def beginDelivery(self, users: Iterable[str], sender: str = "", subject: str = "") -> PostgresDelivery:
        users = list(dict.fromkeys(users))
        if not users:
            raise ValueError("no recipients")
        if not self.running:
            raise DeliveryFailed("the store is stopped", permanent=False)
        return PostgresDelivery(self.committer, users)

    def listMessages(self, user: str) -> Deferred:
        return self.database.run(self._list, user)

    @staticmethod
    def _list(connection: Any, user: str) -> list[StoredMessage]:
        with connection.cursor() as cursor:
            cursor.execute(_LIST, (user, INBOX))
            return [StoredMessage(str(uid), size, frozenset(flags), date) for uid, size, flags, date in cursor]

    def readMessage(self, user: str, uid: str) -> Deferred:
        number = _uids([uid])
        if not number:
            return fail(KeyError(uid))
        return self.database.run(self._read, user, number[0])

    @staticmethod
    def _read(connection: Any, user: str, uid: int) -> BytesContent:
        with connection.cursor() as cursor:
            cursor.execute(_READ, (user, INBOX, uid))
            row = cursor.fetchone()
        if row is None:
            raise KeyError(str(uid))
        return BytesContent(row)

    def markSeen(self, user: str, uids: Iterable[str]) -> Deferred:
        return self.database.run(self._change, _SEEN, user, _uids(uids))

    def deleteMessages(self, user: str, uids: Iterable[str]) -> Deferred:
        return self.database.run(self._change, _DELETE, user, _uids(uids))

    @staticmethod
    def _change(connection: Any, statement: str, user: str, uids: list[int]) -> None:
        if uids:
            with connection.cursor() as cursor:
                cursor.execute(_BUMP, (user, INBOX))     # the mailbox row first, as IMAP's changes lock it
                cursor.execute(statement, (user, INBOX, uids))
