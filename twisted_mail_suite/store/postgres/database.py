# -*- test-case-name: tests.store.test_postgres -*-
"""
One PostgreSQL database shared by the mail store and the outbound queue:
a psycopg 3 C{ConnectionPool} used from a thread pool of the same size
(blocking psycopg calls run there, never on the reactor thread; the
reactor's own pool stays free for the Maildir fsyncs and the rest).

L{Database.run} runs C{f(connection, *args)} in one transaction: it
commits when C{f} returns (so a Deferred of a write fires after the
COMMIT) and rolls back when it raises.
"""
from __future__ import annotations

from typing import Any, Callable

from twisted.application.service import Service
from twisted.internet.defer import Deferred
from twisted.internet.threads import deferToThreadPool
from twisted.python.threadpool import ThreadPool

from .schema import checkSchema

__all__ = ["Database", "connect"]


def connect(url: str, autocommit: bool = False) -> Any:
    """
    One connection outside any pool (tools, migrations, tests).
    """
    import psycopg

    return psycopg.connect(url, connect_timeout=10, autocommit=autocommit)


class Database(Service):
    """
    @param url: the libpq URL (C{cluster.postgres}).
    @param reactor: whose thread-pool calls deliver the results.
    @param size: connections (and threads) at most.
    @param check: check at start that the schema is L{schema.LATEST}.
    """

    def __init__(self, url: str, reactor: Any, size: int = 8, check: bool = True) -> None:
        from psycopg_pool import ConnectionPool

        self.url = url
        self.reactor = reactor
        self.check = check
        self.pool = ConnectionPool(url, min_size=min(2, size), max_size=size, open=False, name="mailsuite",
                                   kwargs={"connect_timeout": 10}, timeout=30)
        self.threads = ThreadPool(minthreads=0, maxthreads=size, name="mailsuite-postgres")

    def startService(self) -> None:
        """
        Open the pool (blocking, once, before any listener) and check the
        schema.

        @raise schema.SchemaError: the database needs C{db migrate}.
        """
        self.pool.open(wait=True, timeout=30)
        if self.check:
            with self.pool.connection() as connection:
                checkSchema(connection)
        self.threads.start()
        super().startService()

    def stopService(self) -> Deferred:
        super().stopService()

        def stopped(result: object) -> object:
            self.threads.stop()
            return result

        return deferToThreadPool(self.reactor, self.threads, self.pool.close).addBoth(stopped)

    def run(self, f: Callable[..., Any], *args: Any) -> Deferred:
        """
        C{f(connection, *args)} in a thread, in one transaction.

        @return: a Deferred firing with its result after the COMMIT.
        """
        return deferToThreadPool(self.reactor, self.threads, self._transaction, f, args)

    def _transaction(self, f: Callable[..., Any], args: tuple) -> Any:
        with self.pool.connection() as connection:
            return f(connection, *args)
