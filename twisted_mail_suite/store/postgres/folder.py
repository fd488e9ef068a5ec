# -*- test-case-name: tests.store.test_pgfolders -*-
"""
One PostgreSQL mailbox as IMAP sees it (L{IMailFolder}): a row of
C{mailboxes} (UIDVALIDITY, UIDNEXT, its keywords, and C{modseq}, bumped by
every flag change and removal) and its rows of C{messages} (flags as
Maildir info letters, C{recent} until a session claims it).

A L{PostgresFolder} is shared by the sessions of one process
(L{twisted_mail_suite.store.postgres.folders.PostgresFolders}); another
node's changes show at the next L{PostgresFolder.refresh}, which reads the
mailbox row and lists the messages only when C{uidnext} or C{modseq}
moved (only those past the old C{uidnext} when C{modseq} did not: new
mail).  Every query runs in the database's threads; the refreshes and
changes of one folder run one at a time, so their results apply in order.

Reading content in UID order (a FETCH of a range) reads ahead: when a
message is opened right after the one before it, the next messages (at
most L{READ_AHEAD}, L{READ_AHEAD_BYTES} in all) come in the same query and
are kept until opened, so a FETCH of a mailbox costs a round trip per
batch, not per message.  Content never changes under its UID.
"""
from __future__ import annotations

import bisect
import time
from dataclasses import dataclass, replace
from typing import Any, Callable, Iterable, Sequence

from twisted.internet.defer import Deferred, DeferredLock, succeed
from zope.interface import implementer

from ...mailfolders import IMailFolder
from ..content import WireLines
from .commit import splitHeader
from .store import BytesContent

__all__ = ["PostgresFolder", "PostgresMessage", "MAX_KEYWORDS"]

MAX_KEYWORDS = 26
READ_AHEAD = 32                   # messages read with one that follows the last opened
READ_AHEAD_BYTES = 1024 * 1024    # ... at most this much in all
_MAILBOX = "SELECT uidvalidity, uidnext, modseq, keywords FROM mailboxes WHERE id = %s"
_LIST = "SELECT uid, size, flags, internal_date, recent FROM messages WHERE mailbox = %s AND uid >= %s ORDER BY uid"
_BUMP = "UPDATE mailboxes SET modseq = modseq + 1 WHERE id = %s RETURNING uidnext, modseq"


@dataclass(frozen=True, slots=True)
class PostgresMessage:
    """
    One message of a mailbox (the attributes L{IMailFolder} promises).
    """

    uid: int
    unique: tuple[int, int]
    flags: str
    size: int
    internalDate: float
    recent: bool


def _poll(connection: Any, mailbox: int, stamp: tuple[int, int] | None) -> Any:
    with connection.cursor() as cursor:
        cursor.execute(_MAILBOX, (mailbox,))
        row = cursor.fetchone()
        if row is None:
            return None
        validity, uidnext, modseq, keywords = row
        if stamp == (uidnext, modseq):
            return row, None, False
        incremental = stamp is not None and stamp[1] == modseq      # only deliveries since: the new ones
        cursor.execute(_LIST, (mailbox, stamp[0] if incremental else 0))
        return row, cursor.fetchall(), incremental


def _read(connection: Any, mailbox: int, uid: int) -> BytesContent:
    with connection.cursor() as cursor:
        cursor.execute("SELECT header, body FROM messages WHERE mailbox = %s AND uid = %s", (mailbox, uid))
        row = cursor.fetchone()
    if row is None:
        raise KeyError(uid)
    return BytesContent(row)


def _readMany(connection: Any, mailbox: int, uids: list[int]) -> dict[int, tuple[bytes, bytes]]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT uid, header, body FROM messages WHERE mailbox = %s AND uid = ANY(%s)", (mailbox, uids))
        return {uid: (header, body) for uid, header, body in cursor.fetchall()}


def _claimRecent(connection: Any, mailbox: int) -> list[int]:
    with connection.cursor() as cursor:
        cursor.execute("UPDATE messages SET recent = false WHERE mailbox = %s AND recent RETURNING uid", (mailbox,))
        return sorted(uid for uid, in cursor.fetchall())


def _setFlags(connection: Any, mailbox: int, uids: list[int], add: str, remove: str,
              replaceWith: str | None) -> Any:
    with connection.cursor() as cursor:
        cursor.execute(_BUMP, (mailbox,))          # the mailbox row first: one order for every change
        stamp = cursor.fetchone()
        cursor.execute("SELECT uid, flags FROM messages WHERE mailbox = %s AND uid = ANY(%s) FOR UPDATE",
                       (mailbox, uids))
        changes = []
        for uid, flags in cursor.fetchall():
            start = set(flags if replaceWith is None else replaceWith)
            now = "".join(sorted((start | set(add)) - set(remove)))
            if now != flags:
                changes.append((uid, now))
        if not changes:
            connection.rollback()
            return None, []
        cursor.execute("UPDATE messages m SET flags = c.flags FROM unnest(%s::bigint[], %s::text[]) AS c (uid, flags) "
                       "WHERE m.mailbox = %s AND m.uid = c.uid",
                       ([uid for uid, _ in changes], [flags for _, flags in changes], mailbox))
        return stamp, changes


def _expunge(connection: Any, mailbox: int, uids: list[int]) -> Any:
    with connection.cursor() as cursor:
        cursor.execute(_BUMP, (mailbox,))
        stamp = cursor.fetchone()
        cursor.execute("DELETE FROM messages WHERE mailbox = %s AND uid = ANY(%s) RETURNING uid", (mailbox, uids))
        return stamp, sorted(uid for uid, in cursor.fetchall())


def _append(connection: Any, mailbox: int, message: bytes, flags: str, date: float) -> int:
    header, body = splitHeader(message)
    with connection.cursor() as cursor:
        cursor.execute("UPDATE mailboxes SET uidnext = uidnext + 1 WHERE id = %s RETURNING uidnext - 1", (mailbox,))
        row = cursor.fetchone()
        if row is None:
            raise KeyError(mailbox)
        cursor.execute("INSERT INTO messages (mailbox, uid, size, flags, internal_date, header, body, recent) "
                       "VALUES (%s, %s, %s, %s, %s, %s, %s, false)",
                       (mailbox, row[0], len(message), flags, date, header, body))
        return int(row[0])


def copyMessages(cursor: Any, source: int, target: int, uids: Sequence[int], move: bool) -> list[tuple[int, int]]:
    """
    Copy (or move) the messages C{uids} of C{source} into C{target}, in UID
    order, with new UIDs there; both mailbox rows are locked first, in id order.

    @return: C{(source UID, target UID)} pairs.
    """
    cursor.execute("SELECT id FROM mailboxes WHERE id = ANY(%s) ORDER BY id FOR UPDATE", ([source, target],))
    cursor.execute("SELECT uid FROM messages WHERE mailbox = %s AND uid = ANY(%s) ORDER BY uid", (source, list(uids)))
    found = [uid for uid, in cursor.fetchall()]
    if not found:
        return []
    count = len(found)
    cursor.execute("UPDATE mailboxes SET uidnext = uidnext + %s WHERE id = %s RETURNING uidnext - %s",
                   (count, target, count))
    first = cursor.fetchone()[0]
    cursor.execute("INSERT INTO messages (mailbox, uid, size, flags, internal_date, header, body, recent) "
                   "SELECT %s, %s + c.ord - 1, m.size, m.flags, m.internal_date, m.header, m.body, false "
                   "FROM unnest(%s::bigint[]) WITH ORDINALITY AS c (uid, ord) "
                   "JOIN messages m ON m.mailbox = %s AND m.uid = c.uid",
                   (target, first, found, source))
    if move:
        cursor.execute("UPDATE mailboxes SET modseq = modseq + 1 WHERE id = %s", (source,))
        cursor.execute("DELETE FROM messages WHERE mailbox = %s AND uid = ANY(%s)", (source, found))
    return [(uid, first + index) for index, uid in enumerate(found)]


def _copy(connection: Any, source: int, target: int, uids: list[int], move: bool) -> list[tuple[int, int]]:
    with connection.cursor() as cursor:
        return copyMessages(cursor, source, target, uids, move)


def _addKeyword(connection: Any, mailbox: int, keyword: str) -> tuple[list[str], int | None]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT keywords FROM mailboxes WHERE id = %s FOR UPDATE", (mailbox,))
        row = cursor.fetchone()
        names = list(row[0]) if row is not None else []
        for index, name in enumerate(names):
            if name.lower() == keyword.lower():
                return names, index
        if row is None or len(names) >= MAX_KEYWORDS:
            return names, None
        cursor.execute("UPDATE mailboxes SET keywords = keywords || ARRAY[%s]::text[], modseq = modseq + 1 "
                       "WHERE id = %s", (keyword, mailbox))
        return [*names, keyword], len(names)


@implementer(IMailFolder)
class PostgresFolder:
    """
    @param run: L{Database.run <twisted_mail_suite.store.postgres.database.Database.run>}.
    @param mailbox: the mailbox's row id.
    @ivar deleted: the mailbox is gone (it lists no message).
    """

    def __init__(self, run: Callable[..., Deferred], mailbox: int, uidValidity: int, uidNext: int) -> None:
        self.run = run
        self.mailbox = mailbox
        self.uidValidity = uidValidity
        self.uidNext = uidNext
        self.messages: list[PostgresMessage] = []
        self.byUID: dict[int, PostgresMessage] = {}
        self.version = 0
        self.deleted = False
        self.listeners: list[Callable[[PostgresFolder], object]] = []
        self._keywords: list[str] = []
        self._stamp: tuple[int, int] | None = None
        self._lock = DeferredLock()
        self._ahead: dict[int, tuple[bytes, bytes]] = {}     # read ahead, not yet opened
        self._lastOpened = 0

    def _serial(self, f: Callable[..., Any], *args: Any) -> Deferred:
        return self._lock.run(self.run, f, *args)

    def _changed(self) -> None:
        self.version += 1
        for listener in list(self.listeners):
            listener(self)

    def _replace(self, byUID: dict[int, PostgresMessage]) -> bool:
        if byUID == self.byUID:
            return False
        self.byUID = byUID
        self.messages = sorted(byUID.values(), key=lambda m: m.uid)
        self._changed()
        return True

    def _moved(self, stamp: tuple[int, int] | None) -> None:
        """
        Our change moved the row to C{stamp}: if nobody else's came between,
        we know what the next refresh would list.
        """
        if stamp is not None and self._stamp == (stamp[0], stamp[1] - 1):
            self._stamp = (stamp[0], stamp[1])

    # Looking

    def refresh(self, force: bool = False) -> Deferred:
        """
        One query for the mailbox row; a listing only if it moved.
        """
        return self._lock.run(lambda: self.run(_poll, self.mailbox, self._stamp).addCallback(self._polled))

    def _polled(self, result: Any) -> bool:
        if result is None:
            self.deleted = True
            self._stamp = None
            return self._replace({})
        (self.uidValidity, self.uidNext, modseq, keywords), rows, incremental = result
        self._keywords = list(keywords)
        self._stamp = (self.uidNext, modseq)
        if rows is None:
            return False
        mailbox = self.mailbox
        found = {uid: PostgresMessage(uid, (mailbox, uid), flags, size, date, recent)
                 for uid, size, flags, date, recent in rows}
        if incremental:
            found = {**self.byUID, **found}
        return self._replace(found)

    def open(self, message: Any) -> Deferred:
        uid = message.uid
        kept = self._ahead.pop(uid, None)
        last, self._lastOpened = self._lastOpened, uid
        if kept is not None:
            return succeed(BytesContent(kept))
        messages = self.messages
        index = bisect.bisect_left(messages, uid, key=lambda m: m.uid)
        if index == 0 or index >= len(messages) or messages[index].uid != uid or messages[index - 1].uid != last:
            return self.run(_read, self.mailbox, uid)
        batch, size = [], 0
        for following in messages[index:index + READ_AHEAD]:
            if batch and size + following.size > READ_AHEAD_BYTES:
                break
            batch.append(following.uid)
            size += following.size

        def read(rows: dict[int, tuple[bytes, bytes]]) -> BytesContent:
            row = rows.pop(uid, None)
            self._ahead = rows
            if row is None:
                raise KeyError(uid)
            return BytesContent(row)
        return self.run(_readMany, self.mailbox, batch).addCallback(read)

    # Changes

    def claimRecent(self) -> Deferred:
        if not any(m.recent for m in self.messages):
            return succeed([])           # recent only ever goes: nothing here can be claimed

        def claimed(uids: list[int]) -> list[int]:
            mine = [self.byUID[uid] for uid in uids if uid in self.byUID]
            if mine:
                byUID = dict(self.byUID)
                byUID.update((m.uid, replace(m, recent=False)) for m in mine)
                self._replace(byUID)
            return uids
        return self._serial(_claimRecent, self.mailbox).addCallback(claimed)

    def setFlags(self, uids: Iterable[int], add: str = "", remove: str = "",
                 replaceWith: str | None = None) -> Deferred:
        wanted = [uid for uid in uids if uid in self.byUID]
        if not wanted:
            return succeed([])

        def done(result: Any) -> list[PostgresMessage]:
            stamp, changes = result
            self._moved(stamp)
            changed = []
            byUID = dict(self.byUID)
            for uid, flags in changes:
                message = byUID.get(uid)
                if message is not None:
                    byUID[uid] = replace(message, flags=flags)
                    changed.append(byUID[uid])
            self._replace(byUID)
            return changed
        return self._serial(_setFlags, self.mailbox, wanted, add, remove, replaceWith).addCallback(done)

    def expunge(self, uids: Iterable[int]) -> Deferred:
        wanted = list(uids)
        if not wanted:
            return succeed([])

        def done(result: Any) -> list[int]:
            stamp, removed = result
            self._moved(stamp)
            gone = set(removed)
            for uid in gone:
                self._ahead.pop(uid, None)
            self._replace({uid: m for uid, m in self.byUID.items() if uid not in gone})
            return removed  # type: ignore[no-any-return]
        return self._serial(_expunge, self.mailbox, wanted).addCallback(done)

    def append(self, data: bytes, flags: str = "", internalDate: float | None = None) -> Deferred:
        """
        Add a message (made wire form: CRLF line ends); seen at the next refresh.
        """
        lines = WireLines()
        wire = lines.encode(data) + lines.finish()
        date = internalDate if internalDate is not None else time.time()
        return self._serial(_append, self.mailbox, wire, "".join(sorted(set(flags))), date)

    def copyTo(self, uids: Sequence[int], target: PostgresFolder, move: bool = False) -> Deferred:
        wanted = sorted({uid for uid in uids if uid in self.byUID})
        if not wanted:
            return succeed([])

        def done(pairs: list[tuple[int, int]]) -> list[tuple[int, int]]:
            if move:
                gone = {source for source, _ in pairs}
                for uid in gone:
                    self._ahead.pop(uid, None)
                self._replace({uid: m for uid, m in self.byUID.items() if uid not in gone})
            return pairs
        return self._serial(_copy, self.mailbox, target.mailbox, wanted, move).addCallback(done)

    # Keywords

    def keywords(self) -> list[str]:
        return self._keywords

    def keywordOf(self, letter: str) -> str | None:
        index = ord(letter) - ord("a")
        return self._keywords[index] if 0 <= index < len(self._keywords) else None

    def keywordLetter(self, keyword: str) -> str | None:
        for index, name in enumerate(self._keywords):
            if name.lower() == keyword.lower():
                return chr(ord("a") + index)
        return None

    def addKeyword(self, keyword: str) -> Deferred:
        def done(result: tuple[list[str], int | None]) -> str | None:
            names, index = result
            self._keywords = names
            return chr(ord("a") + index) if index is not None else None
        return self._serial(_addKeyword, self.mailbox, keyword).addCallback(done)
