# -*- test-case-name: tests.store.test_postgres -*-
"""
The PostgreSQL schema of the mail store and the outbound queue, as
numbered migrations applied in order by L{migrate} (C{mailsuite-admin db
migrate}); the server refuses to start on a schema older than
L{LATEST} (L{checkSchema}).  Synchronous: run in a thread or a tool.

A migration is never edited once released: a change is a new one.
"""
from __future__ import annotations

from typing import Any

__all__ = ["LATEST", "MIGRATIONS", "SchemaError", "checkSchema", "migrate", "schemaVersion"]

MIGRATIONS: tuple[tuple[int, str, str], ...] = (
    (1, "mailboxes and messages", """
        CREATE TABLE mailboxes (
            id          bigserial PRIMARY KEY,
            owner       text NOT NULL,
            name        text NOT NULL,              -- IMAP name as stored (modified UTF-7); INBOX
            uidvalidity bigint NOT NULL,
            uidnext     bigint NOT NULL,            -- the next UID to hand out (row lock = UID order)
            subscribed  boolean NOT NULL DEFAULT true,
            UNIQUE (owner, name)
        );
        CREATE TABLE messages (
            mailbox       bigint NOT NULL REFERENCES mailboxes (id) ON DELETE CASCADE,
            uid           bigint NOT NULL,
            size          bigint NOT NULL,          -- wire form (CRLF) octets: header + body
            flags         text NOT NULL DEFAULT '', -- Maildir info letters, sorted
            internal_date double precision NOT NULL,
            header        bytea NOT NULL,           -- the header section with its blank line
            body          bytea NOT NULL,
            PRIMARY KEY (mailbox, uid)              -- listing: index order, no body read
        );
    """),
    (2, "the outbound queue", """
        CREATE TABLE outbound (
            queue_id      text PRIMARY KEY,
            sender        text NOT NULL,
            created       double precision NOT NULL,
            size          bigint NOT NULL,
            state         jsonb NOT NULL,           -- recipients, attempts, next attempt, held, error
            next_attempt  double precision NOT NULL DEFAULT 0,
            held          boolean NOT NULL DEFAULT false,
            visible       boolean NOT NULL DEFAULT false,  -- false: prepared, not yet committed
            owner         text,                     -- the node trying it now
            lease_until   double precision NOT NULL DEFAULT 0,  -- its claim ends then unless renewed
            body          bytea NOT NULL
        );
        CREATE INDEX outbound_due ON outbound (next_attempt) WHERE visible AND NOT held;
    """),
    (3, "IMAP folders: recent, keywords, change counter, subscriptions", """
        ALTER TABLE messages ADD COLUMN recent boolean NOT NULL DEFAULT true;   -- no IMAP session claimed it yet
        CREATE INDEX messages_recent ON messages (mailbox) WHERE recent;      -- claiming reads only these
        ALTER TABLE mailboxes ADD COLUMN keywords text[] NOT NULL DEFAULT '{}'; -- letter a, b, ... in order
        ALTER TABLE mailboxes ADD COLUMN modseq bigint NOT NULL DEFAULT 0;      -- bumped by flag changes and removals
        CREATE SEQUENCE mailbox_uidvalidity;
        SELECT setval('mailbox_uidvalidity', extract(epoch FROM now())::bigint);
        CREATE TABLE subscriptions (
            owner text NOT NULL,
            name  text NOT NULL,
            PRIMARY KEY (owner, name)
        );
        CREATE TABLE imap_accounts (owner text PRIMARY KEY);   -- whose usual folders were made
    """),
)
LATEST = MIGRATIONS[-1][0]


class SchemaError(Exception):
    """
    The database's schema is not the one this code needs.
    """


def schemaVersion(connection: Any) -> int:
    """
    @return: the version applied (0: an empty database).
    """
    with connection.cursor() as cursor:
        cursor.execute("SELECT to_regclass('mailsuite_schema') IS NOT NULL")
        if not cursor.fetchone()[0]:
            return 0
        cursor.execute("SELECT coalesce(max(version), 0) FROM mailsuite_schema")
        return int(cursor.fetchone()[0])


def migrate(connection: Any) -> list[int]:
    """
    Apply the missing migrations, each in its own transaction, under an
    advisory lock (two nodes migrating at once apply each one once).
    Idempotent.  Puts C{connection} in autocommit.

    @return: the versions applied now.
    """
    applied = []
    if not connection.autocommit:
        connection.rollback()            # the caller's open transaction, if any: migrations run alone
        connection.autocommit = True
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_lock(7302319)")
        try:
            cursor.execute("CREATE TABLE IF NOT EXISTS mailsuite_schema ("
                           "version integer PRIMARY KEY, description text NOT NULL, "
                           "applied timestamptz NOT NULL DEFAULT now())")
            current = schemaVersion(connection)
            for version, description, statements in MIGRATIONS:
                if version <= current:
                    continue
                with connection.transaction():
                    cursor.execute(statements)
                    cursor.execute("INSERT INTO mailsuite_schema (version, description) VALUES (%s, %s)",
                                   (version, description))
                applied.append(version)
        finally:
            cursor.execute("SELECT pg_advisory_unlock(7302319)")
    return applied


def checkSchema(connection: Any) -> None:
    """
    @raise SchemaError: the schema is older (or newer) than this code's.
    """
    version = schemaVersion(connection)
    connection.rollback()
    if version != LATEST:
        raise SchemaError(f"the PostgreSQL schema is at version {version}, this suite needs {LATEST}: "
                          f"run `mailsuite-admin db migrate`" if version < LATEST else
                          f"the PostgreSQL schema is at version {version}, newer than this suite's {LATEST}")
