# -*- test-case-name: tests.store.test_postgres -*-
"""
Tests for the PostgreSQL mail store against a real, private PostgreSQL
server: migrations, delivery (grouped into transactions), listing,
reading, flags, deletion, the schema check at start, C{store copy} both
ways, and the C{cluster:} section of the configuration.
"""
from __future__ import annotations

import os
from typing import Any

from twisted.internet import reactor
from twisted.internet.defer import gatherResults, inlineCallbacks
from twisted.trial.unittest import SynchronousTestCase, TestCase
from zope.interface.verify import verifyObject

from twisted_mail_suite.config import configFromDict
from twisted_mail_suite.errors import ConfigError
from twisted_mail_suite.interfaces import IMailStore, IMessageContent, IPendingDelivery
from twisted_mail_suite.store.maildir import MaildirStore, runSynchronously
from twisted_mail_suite.store.postgres import LATEST, Database, SchemaError, connect, migrate
from twisted_mail_suite.store.postgres.schema import schemaVersion
from twisted_mail_suite.store.postgres.tools import copyToMaildir, copyToPostgres

from ..pgsupport import NO_POSTGRES, PostgresServerMixin

MESSAGE = b"From: a@b.test\r\nSubject: hi\r\n\r\nline one\r\n.dot line\r\n"


class ClusterConfigTests(SynchronousTestCase):
    def test_defaults(self) -> None:
        cluster = configFromDict({}).cluster
        self.assertEqual((cluster.postgres, cluster.redis, cluster.node), (None, None, None))

    def test_postgresURL(self) -> None:
        url = "postgresql://mail:pw@db.example.test:5433/mail?sslmode=require"
        self.assertEqual(configFromDict({"cluster": {"postgres": url, "node": "a"}}).cluster.postgres, url)

    def test_badPostgresURL(self) -> None:
        for bad in ("mysql://x/y", 5432, ""):
            with self.assertRaises(ConfigError, msg=repr(bad)) as raised:
                configFromDict({"cluster": {"postgres": bad}})
            self.assertIn("cluster.postgres", str(raised.exception))


class StoreTests(PostgresServerMixin, TestCase):
    if NO_POSTGRES:
        skip = NO_POSTGRES

    def setUp(self) -> Any:
        self.startStore()

    def deliver(self, users: list[str], message: bytes = MESSAGE) -> Any:
        delivery = self.store.beginDelivery(users)
        delivery.write(message[:10])
        delivery.write(message[10:])
        return delivery.commit()

    @inlineCallbacks
    def test_deliverListRead(self) -> Any:
        """
        A message for two users gets a UID in each INBOX; listing gives its
        wire size; reading gives the octets written.
        """
        verifyObject(IMailStore, self.store)
        verifyObject(IPendingDelivery, self.store.beginDelivery(["alice"]))
        uids = yield self.deliver(["alice", "bob"])
        self.assertEqual(uids, ["1", "1"])
        second = yield self.deliver(["alice"], b"Subject: two\r\n\r\nsecond\r\n")
        self.assertEqual(second, ["2"])
        listed = yield self.store.listMessages("alice")
        self.assertEqual([(m.uid, m.size, m.seen) for m in listed],
                         [("1", len(MESSAGE), False), ("2", 24, False)])
        self.assertGreater(listed[0].internalDate, 1e9)
        content = yield self.store.readMessage("bob", "1")
        verifyObject(IMessageContent, content)
        self.assertEqual(content.size, len(MESSAGE))
        self.assertEqual(b"".join(content.chunks()), MESSAGE)
        content.close()
        empty = yield self.store.listMessages("carol")
        self.assertEqual(empty, [])

    @inlineCallbacks
    def test_readUnknown(self) -> Any:
        yield self.deliver(["alice"])
        for uid in ("2", "x", "-1"):
            yield self.assertFailure(self.store.readMessage("alice", uid), KeyError)
        yield self.assertFailure(self.store.readMessage("bob", "1"), KeyError)

    @inlineCallbacks
    def test_seenAndDelete(self) -> Any:
        yield self.deliver(["alice"])
        yield self.deliver(["alice"])
        yield self.deliver(["bob"])
        yield self.store.markSeen("alice", ["1", "9", "junk"])
        yield self.store.markSeen("alice", ["1"])
        listed = yield self.store.listMessages("alice")
        self.assertEqual([(m.uid, m.flags) for m in listed], [("1", frozenset("S")), ("2", frozenset())])
        yield self.store.deleteMessages("alice", ["1", "5"])
        listed = yield self.store.listMessages("alice")
        self.assertEqual([m.uid for m in listed], ["2"])
        bob = yield self.store.listMessages("bob")
        self.assertEqual([m.uid for m in bob], ["1"])

    @inlineCallbacks
    def test_concurrentDeliveriesGrouped(self) -> Any:
        """
        Forty deliveries committed together take fewer transactions than
        deliveries, and every user's UIDs are 1..n without gaps or repeats.
        """
        results = yield gatherResults([self.deliver(["alice", f"user{n % 4}"]) for n in range(40)])
        self.assertEqual(self.store.committer.committed, 40)
        self.assertLess(self.store.committer.batches, 40)
        self.assertEqual(sorted(int(r[0]) for r in results), list(range(1, 41)))
        listed = yield self.store.listMessages("user1")
        self.assertEqual([m.uid for m in listed], [str(n) for n in range(1, 11)])

    @inlineCallbacks
    def test_abortKeepsNothing(self) -> Any:
        delivery = self.store.beginDelivery(["alice"])
        delivery.write(MESSAGE)
        delivery.abort()
        delivery.abort()
        yield self.assertFailure(delivery.commit(), Exception)
        listed = yield self.store.listMessages("alice")
        self.assertEqual(listed, [])

    @inlineCallbacks
    def test_failedDeliveryFailsAlone(self) -> Any:
        """
        A delivery the database refuses fails with C{DeliveryFailed}; the
        others committed in the same batch are stored.
        """
        from twisted_mail_suite.errors import DeliveryFailed

        good = [self.deliver(["alice"]) for _ in range(3)]
        bad = self.deliver(["x" * 10 + "\x00"])            # PostgreSQL text refuses NUL
        yield self.assertFailure(bad, DeliveryFailed)
        uids = yield gatherResults(good)
        self.assertEqual(sorted(u[0] for u in uids), ["1", "2", "3"])
        import psycopg

        self.assertEqual(len(self.flushLoggedErrors(psycopg.DataError)), 1)


class SchemaTests(PostgresServerMixin, TestCase):
    if NO_POSTGRES:
        skip = NO_POSTGRES

    def test_migrateIsIdempotent(self) -> None:
        url = self.freshDatabase(migrated=False)
        with connect(url) as connection:
            self.assertEqual(schemaVersion(connection), 0)
            self.assertEqual(migrate(connection), list(range(1, LATEST + 1)))
            self.assertEqual(migrate(connection), [])
            self.assertEqual(schemaVersion(connection), LATEST)

    def test_startRefusesAnOldSchema(self) -> None:
        database = Database(self.freshDatabase(migrated=False), reactor, size=2)
        self.addCleanup(database.pool.close)
        with self.assertRaises(SchemaError) as raised:
            database.startService()
        self.assertIn("mailsuite-admin db migrate", str(raised.exception))


class CopyTests(PostgresServerMixin, TestCase):
    if NO_POSTGRES:
        skip = NO_POSTGRES

    def test_roundTrip(self) -> None:
        """
        Maildir -> PostgreSQL -> another Maildir: the same messages in the
        same order, the seen flag kept; a second copy skips the user.
        """
        source = os.path.abspath(self.mktemp())
        maildir = MaildirStore(source, runBlocking=runSynchronously)
        texts = [b"Subject: m%d\r\n\r\nbody %d\r\n" % (n, n) for n in range(5)]
        for text in texts:
            delivery = maildir.beginDelivery(["alice"])
            delivery.write(text)
            delivery.commit()
        first = maildir.storedMessages("alice")[0].uid
        maildir.markSeen("alice", [first])
        url = self.freshDatabase()
        lines: list[str] = []
        self.assertEqual(copyToPostgres(source, url, lines.append), (5, []))
        self.assertEqual(lines, ["alice: 5 messages in 1 folders"])
        self.assertEqual(copyToPostgres(source, url, lines.append), (0, ["alice"]))
        target = os.path.abspath(self.mktemp())
        self.assertEqual(copyToMaildir(url, target, lines.append), (5, []))
        back = MaildirStore(target, runBlocking=runSynchronously)
        stored = back.storedMessages("alice")
        read = [b"".join(_wire(back, m.uid)) for m in stored]
        self.assertEqual(read, texts)
        self.assertEqual([m.seen for m in stored], [True, False, False, False, False])


def _wire(store: MaildirStore, uid: str) -> Any:
    from twisted_mail_suite.store.content import FileContent

    return FileContent(store.openStored("alice", uid)).chunks()


class AdminTests(PostgresServerMixin, TestCase):
    """
    C{mailsuite-admin db migrate} and C{store copy} through C{main}.
    """

    if NO_POSTGRES:
        skip = NO_POSTGRES

    def admin(self, config: str, *argv: str) -> tuple[int, str]:
        import io

        from twisted_mail_suite.admin import main

        out = io.StringIO()
        return main(["--config", config, *argv], stdout=out), out.getvalue()

    def test_migrateThenCopy(self) -> None:
        from twisted_mail_suite.testing.configfile import prepareDirectory

        work = os.path.abspath(self.mktemp())
        url = self.freshDatabase(migrated=False)
        config = prepareDirectory(work, {"alice": "pw"}, sections={"cluster": {"postgres": url}})
        versions = ", ".join(str(n) for n in range(1, LATEST + 1))
        self.assertEqual(self.admin(config, "db", "migrate"), (0, f"applied migrations {versions}\n"))
        self.assertEqual(self.admin(config, "db", "migrate"), (0, "the schema is up to date\n"))
        maildir = MaildirStore(os.path.join(work, "data", "mail"), runBlocking=runSynchronously)
        delivery = maildir.beginDelivery(["alice"])
        delivery.write(MESSAGE)
        delivery.commit()
        code, out = self.admin(config, "store", "copy", "--from", "maildir", "--to", "postgres")
        self.assertEqual((code, out), (0, "alice: 1 messages in 1 folders\ncopied 1 messages; 0 users skipped\n"))
        code, out = self.admin(config, "store", "copy", "--from", "postgres", "--to", "maildir")
        self.assertEqual(code, 1)                      # alice's Maildir is not empty: skipped, named
        self.assertIn("alice: skipped", out)

    def test_noPostgresConfigured(self) -> None:
        from twisted_mail_suite.testing.configfile import prepareDirectory

        config = prepareDirectory(os.path.abspath(self.mktemp()), {"alice": "pw"})
        self.assertEqual(self.admin(config, "db", "migrate"), (1, ""))
