# -*- test-case-name: tests.store.test_postgres -*-
"""
One private PostgreSQL server for the whole test run, started by the first
test that asks (L{PostgresServerMixin.freshDatabase}) and stopped by its
PID when the test process exits (trial has no class-level set-up, so the
server is shared per process rather than per class).  Each test gets a
fresh database.  The classes skip, with the reason, where PostgreSQL is
not installed.
"""
from __future__ import annotations

import atexit
import itertools
from typing import Any

from twisted_mail_suite.testing.postgres import PostgresServer, findBinaries

try:
    import psycopg  # noqa: F401
except ImportError:       # pragma: no cover - psycopg is a test dependency
    NO_POSTGRES: str | None = "psycopg is not installed"
else:
    NO_POSTGRES = None if findBinaries() else "PostgreSQL (initdb, postgres) is not installed"

_numbers = itertools.count(1)
_server: list[PostgresServer] = []


def sharedServer() -> PostgresServer:
    """
    The test run's server, started on first use.
    """
    if not _server:
        server = PostgresServer()
        try:
            server.start()
        except Exception:
            server.stop()
            raise
        atexit.register(server.stop)
        _server.append(server)
    return _server[0]


class PostgresServerMixin:
    """
    Mixed into a trial C{TestCase}.
    """

    @property
    def server(self) -> Any:
        return sharedServer()

    def freshDatabase(self, migrated: bool = True) -> str:
        """
        A new empty database (migrated unless told not to); its URL.
        """
        from twisted_mail_suite.store.postgres.tools import migrateDatabase

        url = sharedServer().createDatabase(f"test{next(_numbers)}")
        if migrated:
            migrateDatabase(url)
        return url

    def startStore(self) -> None:
        """
        A fresh database (C{self.url}), its L{Database} (C{self.database})
        and L{PostgresStore} (C{self.store}) started, stopped at cleanup.
        """
        from twisted.internet import reactor

        from twisted_mail_suite.store.postgres import Database, PostgresStore

        self.url = self.freshDatabase()
        self.database = Database(self.url, reactor, size=4)
        self.database.startService()
        self.store = PostgresStore(self.database)
        self.store.startService()
        self.addCleanup(self.database.stopService)  # type: ignore[attr-defined]
        self.addCleanup(self.store.stopService)  # type: ignore[attr-defined]
