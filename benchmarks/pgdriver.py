#!/usr/bin/env python
# -*- test-case-name: tests.test_benchmarks -*-
"""
psycopg 3 from Twisted, two ways (issue 18 asks for the choice to be
measured): the store's way — a C{ConnectionPool} driven from a thread pool
of the same size on the default (epoll) reactor
(L{twisted_mail_suite.store.postgres.Database}) — against psycopg's async
API (C{AsyncConnectionPool}) on Twisted's asyncio reactor, each in a
process of its own against one private PostgreSQL server.

    python benchmarks/pgdriver.py --count 3000 --rounds 3

A transaction is what a delivery costs the store at least: one INSERT of
a 1 KiB bytea row and the COMMIT (the server's fsync on, its defaults
otherwise), C{-c} of them in flight.  Per run: transactions per second,
p50/p99 in ms, and CPU time per transaction of the client process
(utime + stime, every thread) and of the PostgreSQL server's processes.
Prints one JSON line per run, then the medians per driver and
concurrency.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.dirname(HERE))
from common import median, processTree  # noqa: E402
from compare import cpuSeconds  # noqa: E402

DRIVERS = ("threads", "async")
POOL = 8
ROW = b"x" * 1024
TABLE = "CREATE TABLE IF NOT EXISTS bench (id bigserial PRIMARY KEY, body bytea NOT NULL)"
INSERT = "INSERT INTO bench (body) VALUES (%s)"


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _summary(latencies: list[float], began: float, ended: float, cpu: float) -> dict:
    latencies.sort()
    count = len(latencies)
    return {"count": count, "per_second": round(count / (ended - began), 1),
            "p50_ms": round(latencies[count // 2] * 1000, 2),
            "p99_ms": round(latencies[min(count - 1, int(count * 0.99))] * 1000, 2),
            "client_cpu_us": round(cpu / count * 1e6, 1)}


def _load(start: object, count: int, concurrency: int) -> object:
    """
    Keep C{concurrency} transactions in flight until C{count} are done;
    C{start()} returns a Deferred of one.  Returns a Deferred of the
    summary.
    """
    from twisted.internet.defer import Deferred

    done: Deferred = Deferred()
    latencies: list[float] = []
    state = {"sent": 0}
    began, cpu = time.perf_counter(), _cpu()

    def one() -> None:
        if state["sent"] >= count:
            return
        state["sent"] += 1
        sent = time.perf_counter()

        def finished(_: object) -> None:
            latencies.append(time.perf_counter() - sent)
            if len(latencies) == count:
                done.callback(_summary(latencies, began, time.perf_counter(), _cpu() - cpu))
            else:
                one()

        start().addCallbacks(finished, done.errback)  # type: ignore[attr-defined]

    for _ in range(concurrency):
        one()
    return done


def child(driver: str, url: str, count: int, concurrency: int) -> None:
    """
    One run in this process: the reactor the driver needs, the pool, the
    load; prints the summary as JSON.
    """
    if driver == "async":
        from twisted.internet import asyncioreactor
        asyncioreactor.install()
    from twisted.internet import defer, reactor

    result: dict = {}

    if driver == "threads":
        from twisted_mail_suite.store.postgres.database import Database
        database = Database(url, reactor, size=POOL, check=False)

        def insert(connection: object) -> None:
            connection.execute(INSERT, (ROW,))  # type: ignore[attr-defined]

        def start() -> object:
            return database.run(insert)

        def opened() -> object:
            database.startService()
            return defer.succeed(None)

        def closed() -> object:
            return database.stopService()
    else:
        import asyncio
        from psycopg_pool import AsyncConnectionPool
        pool = AsyncConnectionPool(url, min_size=2, max_size=POOL, open=False)

        async def transaction() -> None:
            async with pool.connection() as connection:
                await connection.execute(INSERT, (ROW,))

        def start() -> object:
            return defer.Deferred.fromFuture(asyncio.ensure_future(transaction()))

        def opened() -> object:
            return defer.Deferred.fromFuture(asyncio.ensure_future(pool.open(wait=True)))

        def closed() -> object:
            return defer.Deferred.fromFuture(asyncio.ensure_future(pool.close()))

    @defer.inlineCallbacks
    def main() -> object:
        try:
            yield opened()
            yield _load(start, 100, concurrency)          # warm-up: connections made, code paths hot
            summary = yield _load(start, count, concurrency)
            result.update(summary)
            yield closed()
        finally:
            reactor.stop()

    reactor.callWhenRunning(main)
    reactor.run()
    print(json.dumps(result))


def measure(driver: str, url: str, count: int, concurrency: int, postgres: int) -> dict:
    serverCPU = _serverCPU(postgres)
    done = subprocess.run([sys.executable, __file__, "--child", driver, "--url", url, "--count", str(count),
                           "-c", str(concurrency)], capture_output=True, text=True, timeout=900)
    if done.returncode != 0 or not done.stdout.strip():
        raise RuntimeError(f"{driver} run failed: {done.stderr[-2000:]}")
    row = json.loads(done.stdout.strip().splitlines()[-1])
    serverCPU = _serverCPU(postgres) - serverCPU
    row.update(driver=driver, concurrency=concurrency,
               server_cpu_us=round(serverCPU / (row["count"] + 100) * 1e6, 1))
    return row


def _serverCPU(postmaster: int) -> float:
    """
    CPU seconds of the PostgreSQL server: its live processes, and the
    backends that already exited (reaped: the postmaster's cutime/cstime).
    """
    total = 0.0
    for pid in processTree(postmaster):
        try:
            total += cpuSeconds(pid)
        except OSError:
            continue
    with open(f"/proc/{postmaster}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return total + (int(fields[13]) + int(fields[14])) / os.sysconf("SC_CLK_TCK")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    parser.add_argument("--count", type=int, default=3000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("-c", "--concurrency", default="1,8,50")
    parser.add_argument("--child", choices=DRIVERS, help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.url, args.count, int(args.concurrency))
        return 0
    import psycopg

    from twisted_mail_suite.testing.postgres import PostgresServer
    server = PostgresServer()
    try:
        server.start()
        url = server.createDatabase("bench")
        with psycopg.connect(url, autocommit=True) as connection:
            connection.execute(TABLE)
        assert server.process is not None
        rows = []
        for round_ in range(args.rounds):
            drivers = DRIVERS if round_ % 2 == 0 else DRIVERS[::-1]
            for concurrency in (int(c) for c in args.concurrency.split(",")):
                for driver in drivers:
                    row = measure(driver, url, args.count, concurrency, server.process.pid)
                    rows.append(row)
                    print(json.dumps(row), flush=True)
        for concurrency in (int(c) for c in args.concurrency.split(",")):
            for driver in DRIVERS:
                mine = [r for r in rows if r["driver"] == driver and r["concurrency"] == concurrency]
                print(f"{driver:8} c={concurrency:<3} "
                      + "  ".join(f"{key} {median([r[key] for r in mine])}" for key in
                                  ("per_second", "p50_ms", "p99_ms", "client_cpu_us", "server_cpu_us")),
                      flush=True)
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
