# -*- test-case-name: tests.store.test_postgres -*-
"""
The PostgreSQL mail store for several nodes (C{cluster.postgres}):
L{schema} (versioned migrations), L{database} (the psycopg pool and its
threads), L{commit} (two-phase deliveries, grouped into transactions),
L{store} (the L{IMailStore}) and L{tools} (C{mailsuite-admin db migrate},
C{store copy}).  psycopg is imported only when a database is used.
"""
from __future__ import annotations

from .database import Database, connect
from .schema import LATEST, SchemaError, migrate
from .store import PostgresStore

__all__ = ["Database", "LATEST", "PostgresStore", "SchemaError", "connect", "migrate"]
