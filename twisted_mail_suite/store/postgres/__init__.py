# -*- test-case-name: tests.store.test_postgres -*-
"""
The PostgreSQL mail store for several nodes (C{cluster.postgres}):
L{schema} (versioned migrations), L{database} (the psycopg pool and its
threads), L{commit} (two-phase deliveries, grouped into transactions),
L{store} (the L{IMailStore}), L{folders} and L{folder} (IMAP's folders,
L{twisted_mail_suite.mailfolders}) and L{tools} (C{mailsuite-admin db migrate},
C{store copy}).  psycopg is imported only when a database is used.
"""
from __future__ import annotations

from .database import Database, connect
from .folders import PostgresFolders
from .schema import LATEST, SchemaError, migrate
from .store import PostgresStore

__all__ = ["Database", "LATEST", "PostgresFolders", "PostgresStore", "SchemaError", "connect", "migrate"]
