# -*- test-case-name: tests.store.test_storecopy -*-
"""
Tests for C{mailsuite-admin store copy}'s folders
(L{twisted_mail_suite.store.postgres.tools}) against a real, private
PostgreSQL server: a Maildir++ user's folders, nested ones included, with
their messages' octets, flags, keywords and internal dates, and the
subscriptions, copied into PostgreSQL, read back through the PostgreSQL
folders IMAP uses, and copied back into a fresh Maildir.
"""
from __future__ import annotations

import os
from typing import Any

from twisted.internet.defer import inlineCallbacks
from twisted.trial.unittest import TestCase

from twisted_mail_suite.store.maildir import MaildirStore, runSynchronously
from twisted_mail_suite.store.maildir.folders import MaildirFolders
from twisted_mail_suite.store.maildir.mailboxes import MaildirUserFolders
from twisted_mail_suite.store.postgres import PostgresFolders
from twisted_mail_suite.store.postgres.tools import copyToMaildir, copyToPostgres

from ..pgsupport import NO_POSTGRES, PostgresServerMixin

DELIVERED = b"From: a@b.test\r\nSubject: delivered\r\n\r\nhello\r\n"
NAMES = ["INBOX", "Archive", "Archive.2026", "Drafts", "Junk", "Sent"]


def sourceMaildir(root: str) -> None:
    """
    Alice after her first IMAP login: Trash deleted (still subscribed), Archive.2026 made and
    subscribed, Junk unsubscribed; mail in INBOX, Sent and Archive.2026.
    """
    delivery = MaildirStore(root, runBlocking=runSynchronously).beginDelivery(["alice"])
    delivery.write(DELIVERED)
    delivery.commit()
    tree = MaildirFolders(root).forUser("alice")
    tree.ensureDefaults()
    tree.delete("Trash")
    tree.create("Archive.2026")
    tree.subscribe("Archive.2026")
    tree.unsubscribe("Junk")
    inbox = tree.open("INBOX")
    inbox.append(b"Subject: seen\r\n\r\nread it\r\n", "S", 1_700_000_000.0)
    forwarded = inbox.keywordLetter("$Forwarded", create=True)
    tree.open("Sent").append(b"Subject: sent\r\n\r\nno line end at the end", "S", 1_700_000_100.5)
    archive = tree.open("Archive.2026")
    archive.keywordLetter("Work", create=True)
    later = archive.keywordLetter("$Forwarded", create=True)
    archive.append(b"Subject: flagged\r\n\r\nbody\r\n", "F", 1_600_000_000.0)
    archive.append(b"Subject: both\r\n\r\nbody\rbare CR\r\n", "SF" + later, 1_650_000_000.0)
    inbox.setFlags([inbox.messages[-1].uid], add=forwarded)


@inlineCallbacks
def snapshot(tree: Any) -> Any:
    """
    What IMAP sees of a user: per folder, each message's octets, flags
    (keywords by name) and internal date; the subscriptions.
    """
    found = {}
    for name in (yield tree.names()):
        folder = yield tree.open(name)
        yield folder.refresh(True)
        messages = []
        for message in folder.messages:
            content = yield folder.open(message)
            data = b"".join(content.chunks())
            content.close()
            flags = sorted(folder.keywordOf(f) if f.islower() else f for f in message.flags)
            messages.append((data, flags, round(message.internalDate, 3)))
        found[name] = messages
    return found, sorted((yield tree.subscriptions()))


class CopyFoldersTests(PostgresServerMixin, TestCase):
    if NO_POSTGRES:
        skip = NO_POSTGRES

    def setUp(self) -> Any:
        self.startStore()

    @inlineCallbacks
    def test_roundTrip(self) -> Any:
        """
        Maildir -> PostgreSQL -> a fresh Maildir: every folder (nested
        ones too, the deleted default not made again), every message with
        its octets, flags, keywords and internal date, and the
        subscriptions, read through each store's folders; a second copy
        skips the user, naming it.
        """
        source = os.path.abspath(self.mktemp())
        sourceMaildir(source)
        before = yield snapshot(MaildirUserFolders(MaildirFolders(source).forUser("alice")))
        folders, subscribed = before
        self.assertEqual(list(folders), NAMES)
        self.assertEqual(subscribed, ["Archive.2026", "Drafts", "INBOX", "Sent", "Trash"])
        self.assertEqual([len(folders[name]) for name in NAMES], [2, 0, 2, 0, 0, 1])
        self.assertEqual(folders["INBOX"][1], (b"Subject: seen\r\n\r\nread it\r\n", ["$Forwarded", "S"],
                                               1_700_000_000.0))
        self.assertEqual(folders["Archive.2026"][1][1], ["$Forwarded", "F", "S"])

        lines: list[str] = []
        self.assertEqual(copyToPostgres(source, self.url, lines.append), (5, []))
        self.assertEqual(lines, ["alice: 5 messages in 6 folders"])
        inPostgres = yield snapshot((yield PostgresFolders(self.database).forUser("alice")))
        self.assertEqual(inPostgres, before)
        self.assertEqual(copyToPostgres(source, self.url, lines.append), (0, ["alice"]))
        self.assertEqual(lines[-1], "alice: skipped (PostgreSQL already holds mail)")

        target = os.path.abspath(self.mktemp())
        self.assertEqual(copyToMaildir(self.url, target, lines.append), (5, []))
        back = yield snapshot(MaildirUserFolders(MaildirFolders(target).forUser("alice")))
        self.assertEqual(back, before)
        self.assertEqual(copyToMaildir(self.url, target, lines.append), (0, ["alice"]))
        self.assertEqual(lines[-1], "alice: skipped (the Maildir already holds mail)")
        again = yield snapshot((yield PostgresFolders(self.database).forUser("alice")))
        self.assertEqual(again, before)                 # copying out left the database as it was

    @inlineCallbacks
    def test_neverLoggedIn(self) -> Any:
        """
        A Maildir user IMAP never saw (no subscriptions) gets the first
        login's folders in PostgreSQL, beside the INBOX copied.
        """
        source = os.path.abspath(self.mktemp())
        delivery = MaildirStore(source, runBlocking=runSynchronously).beginDelivery(["bob"])
        delivery.write(DELIVERED)
        delivery.commit()
        lines: list[str] = []
        self.assertEqual(copyToPostgres(source, self.url, lines.append), (1, []))
        self.assertEqual(lines, ["bob: 1 messages in 1 folders"])
        folders, subscribed = yield snapshot((yield PostgresFolders(self.database).forUser("bob")))
        self.assertEqual(list(folders), ["INBOX", "Drafts", "Junk", "Sent", "Trash"])
        self.assertEqual(folders["INBOX"][0][:2], (DELIVERED, []))
        self.assertEqual(subscribed, ["Drafts", "INBOX", "Junk", "Sent", "Trash"])
