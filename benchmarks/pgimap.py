# -*- test-case-name: tests.test_benchmarks -*-
"""
IMAP on the PostgreSQL store against IMAP on Maildir (issue 18): the
same mail (C{--users} users x C{--count} 1 KiB messages, sent by SMTP) read
through a real C{twistd -n mailsuite} on each store by C{loadimap.py}
(SELECT, C{FETCH 1:* (FLAGS RFC822.SIZE ENVELOPE)}, C{UID FETCH 1:*
BODY.PEEK[]}, every user at once), with a private PostgreSQL server.

    python benchmarks/pgimap.py --users 4 --count 250 --rounds 2 [--before ../main-checkout]

Per run: messages read per second and CPU time per message read (utime +
stime from C{/proc}) of the suite and, for PostgreSQL, of the database
server's processes.  With C{--before}, Maildir is measured on that
checkout too (the cost of the folder seam).  Prints one JSON line per run.
"""
from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.dirname(HERE))
from compare import cpuSeconds  # noqa: E402
from pgstore import _figures, run, smtp, startSuite, treeCPU  # noqa: E402

from twisted_mail_suite.store.postgres.tools import migrateDatabase  # noqa: E402
from twisted_mail_suite.testing.postgres import PostgresServer  # noqa: E402


def measure(store: str, url: str | None, postgresPID: int | None, users: list[str], count: int,
            checkout: str | None = None) -> dict:
    folder = tempfile.mkdtemp(prefix=f"mailsuite-pgimap-{store}-")
    try:
        server = startSuite(folder, url, ("smtp", "imap"), users, checkout)
        try:
            for user in users:
                smtp(server.ports["smtp"], 10, count, user)
            arguments = ["--port", str(server.ports["imap"]), "--users", ",".join(users), "--password", "pw"]
            run("loadimap.py", *arguments)                                  # warm-up (UIDs, \Recent, caches)
            suite, database = cpuSeconds(server.pid), treeCPU(postgresPID)
            result = run("loadimap.py", *arguments)
            return _figures(store, f"imap {len(users)} x {count}", result, server.pid, postgresPID, suite, database)
        finally:
            server.terminate()
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    parser.add_argument("--users", type=int, default=4)
    parser.add_argument("--count", type=int, default=250, help="messages per user")
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--before", help="a checkout to measure Maildir on too")
    args = parser.parse_args(argv)
    users = [f"u{n}" for n in range(args.users)]
    postgres = PostgresServer()
    postgres.start()
    try:
        for round in range(args.rounds):
            if args.before:
                measure("maildir-before", None, None, users, args.count, os.path.abspath(args.before))
            measure("maildir", None, None, users, args.count)
            url = postgres.createDatabase(f"bench{round}")
            migrateDatabase(url)
            assert postgres.process is not None
            measure("postgres", url, postgres.process.pid, users, args.count)
    finally:
        postgres.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
