# -*- test-case-name: tests.test_benchmarks -*-
"""
The PostgreSQL store against Maildir (issue 18): SMTP ingest at
C{-c 50} and POP3 retrieval through a real C{twistd -n mailsuite} on each
store, with a private PostgreSQL server (C{initdb} in a temporary folder,
fsync on, the server's defaults otherwise) on this machine.

    python benchmarks/pgstore.py --count 2000 --rounds 2

Per run: messages per second, p50/p99 (SMTP), and CPU time per message
(utime + stime from C{/proc}) of the suite and, for PostgreSQL, of the
database server's processes (the postmaster and its backends) too.  The
load generators run on the same cores.  Prints one JSON line per run.

C{benchmarks/run.py --only scale} measures the same comparison as cells
of its scale group (L{startDatabase}, L{seededStore}: the PostgreSQL
store beside C{workers: 1} on Maildir, same Redis, same cells).
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from typing import Callable

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.dirname(HERE))
from common import log, treeCpuSeconds  # noqa: E402
from compare import cpuSeconds  # noqa: E402

from twisted_mail_suite.testing import configfile  # noqa: E402
from twisted_mail_suite.testing.postgres import PostgresServer, findBinaries  # noqa: E402
from twisted_mail_suite.testing.process import SuiteProcess  # noqa: E402

USERS = [f"u{n}" for n in range(9)]
LIMITS = {"max_connections": 0, "max_connections_per_ip": 0}


def missing() -> str | None:
    """
    Why the PostgreSQL store cannot be measured here, or L{None}.
    """
    if findBinaries() is None:
        return "PostgreSQL is not installed (Debian package postgresql)"
    try:
        import psycopg  # noqa: F401
    except ImportError:
        return "psycopg is not installed (pip install psycopg)"
    return None


def treeCPU(pid: int | None) -> float:
    return treeCpuSeconds(pid) if pid else 0.0


def newDatabase(postgres: PostgresServer, name: str) -> str:
    """
    An empty database C{name} with the suite's schema; its URL.
    """
    from twisted_mail_suite.store.postgres.tools import migrateDatabase

    url = postgres.createDatabase(name)
    migrateDatabase(url)
    return url


def startDatabase(name: str = "bench") -> tuple[PostgresServer, str]:
    """
    A private PostgreSQL server (fsync on) and a database C{name} with the
    suite's schema: the server (stop it) and the database's URL.
    """
    postgres = PostgresServer()
    postgres.start()
    try:
        return postgres, newDatabase(postgres, name)
    except BaseException:
        postgres.stop()
        raise


def seededStore(url: str, seed: Callable[[str], None]) -> Callable[[str], None]:
    """
    A C{seed(mailRoot)} for C{targets.startOurs} that fills the Maildirs
    with C{seed} and copies them into the database at C{url} (as
    C{mailsuite-admin store copy} does), before the server starts.
    """
    from twisted_mail_suite.store.postgres.tools import copyToPostgres

    def seedAndCopy(mailRoot: str) -> None:
        seed(mailRoot)
        copied, _ = copyToPostgres(mailRoot, url, lambda line: None)
        log(f"pgstore: {copied} messages copied into PostgreSQL")
    return seedAndCopy


def run(script: str, *arguments: str) -> dict:
    done = subprocess.run([sys.executable, os.path.join(HERE, script), *arguments, "--max-seconds", "900"],
                          capture_output=True, text=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def smtp(port: int, concurrency: int, count: int, user: str) -> dict:
    return run("loadsmtp.py", "--port", str(port), "-c", str(concurrency), "--size", "1k", "--count", str(count),
               "--recipient", f"{user}@example.test")


def startSuite(folder: str, url: str | None, roles: tuple[str, ...], users: list[str],
               checkout: str | None = None) -> SuiteProcess:
    """
    A started C{twistd -n mailsuite} in C{folder} serving C{roles} to
    C{users} (password C{pw}), on PostgreSQL at C{url} or else Maildir,
    with C{checkout} first on its path when given.
    """
    sections = {"allow_plaintext_auth": True, "relay": {"mode": "off"}, "auth": {"max_concurrent_checks": 1000},
                **{role: LIMITS for role in roles}}
    if url:
        sections["cluster"] = {"postgres": url, "node": "bench"}
    config = configfile.prepareDirectory(folder, {u: "pw" for u in users}, roles=roles, sections=sections)
    server = SuiteProcess(config, pythonPath=checkout)
    server.start(timeout=120)
    return server


def measure(store: str, url: str | None, postgresPID: int | None, count: int) -> list[dict]:
    folder = tempfile.mkdtemp(prefix=f"mailsuite-pgbench-{store}-")
    try:
        server = startSuite(folder, url, ("smtp", "pop3"), USERS)
        try:
            smtp(server.ports["smtp"], 10, 50, "u8")                      # warm-up
            suite, database = cpuSeconds(server.pid), treeCPU(postgresPID)
            result = smtp(server.ports["smtp"], 50, count, USERS[0])
            figures = [_figures(store, "smtp c=50", result, server.pid, postgresPID, suite, database)]
            for user in USERS[1:-1]:
                smtp(server.ports["smtp"], 10, count // 8, user)           # the POP3 mailboxes
            suite, database = cpuSeconds(server.pid), treeCPU(postgresPID)
            result = run("loadpop3.py", "--port", str(server.ports["pop3"]), "--users", ",".join(USERS[1:-1]),
                         "--password", "pw")
            figures.append(_figures(store, f"pop3 {len(USERS) - 2} sessions", result, server.pid, postgresPID,
                                    suite, database))
            return figures
        finally:
            server.terminate()
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _figures(store: str, load: str, result: dict, pid: int, postgresPID: int | None, suite: float,
             database: float) -> dict:
    ok = result.get("ok") or result.get("messages") or 0
    figures = {"store": store, "load": load, "messages": ok, "errors": result.get("errors"),
               "msgs_per_s": result.get("msgs_per_s"), "p50_ms": result.get("p50_ms", result.get("retr_p50_ms")),
               "p99_ms": result.get("p99_ms", result.get("retr_p99_ms")),
               "suite_cpu_us_per_msg": round((cpuSeconds(pid) - suite) / max(1, ok) * 1e6)}
    if postgresPID:
        figures["postgres_cpu_us_per_msg"] = round((treeCPU(postgresPID) - database) / max(1, ok) * 1e6)
    print(json.dumps(figures), flush=True)
    return figures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    parser.add_argument("--count", type=int, default=2000, help="SMTP messages per run")
    parser.add_argument("--rounds", type=int, default=1)
    args = parser.parse_args(argv)
    postgres = PostgresServer()
    postgres.start()
    try:
        for round in range(args.rounds):
            measure("maildir", None, None, args.count)
            url = newDatabase(postgres, f"bench{round}")
            assert postgres.process is not None
            measure("postgres", url, postgres.process.pid, args.count)
    finally:
        postgres.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
