# -*- test-case-name: tests.test_testserver -*-
"""
C{mailsuite-testserver}: the test harness on its own, for tests written in
other languages and for tools.  It prints one JSON line (ports, users,
CA file) then the same for people, and runs until SIGINT or SIGTERM.

    mailsuite-testserver --port smtp=2525 --user carol --tls
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any, Sequence, TextIO

from twisted.internet.defer import maybeDeferred

from ..registry import PROTOCOLS
from .harness import DEFAULT_DOMAIN, DEFAULT_USERS, MailSuiteHarness, randomUsers

__all__ = ["main", "parseArguments", "readyRecord"]


def _port(text: str) -> tuple[str, int]:
    role, equals, number = text.partition("=")
    roles = [entry.role for entry in PROTOCOLS]
    if not equals or role not in roles + [r + "s" for r in roles] or not number.isdigit() \
            or not 0 <= int(number) < 65536:
        raise argparse.ArgumentTypeError(f"expected ROLE=PORT with ROLE one of {', '.join(roles)} "
                                         f"(add 's' for implicit TLS, e.g. smtps=2465), got {text!r}")
    return role, int(number)


def parseArguments(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="mailsuite-testserver",
        description="Run the twisted-mail-suite test harness standalone: every protocol on loopback "
                    "(ephemeral ports unless given), in-memory users with random passwords, until "
                    "SIGINT or SIGTERM. The first line printed is JSON.")
    parser.add_argument("--port", action="append", type=_port, default=[], metavar="ROLE=PORT",
                        help="a fixed port (repeatable), e.g. smtp=2525 pop3=1110 smtps=2465")
    parser.add_argument("--user", action="append", default=[], metavar="NAME",
                        help=f"a user with a random password (repeatable; default {' and '.join(DEFAULT_USERS)})")
    parser.add_argument("--domain", default=DEFAULT_DOMAIN, help="the local mail domain (default %(default)s)")
    parser.add_argument("--interface", default="127.0.0.1", help="the address to listen on (default %(default)s)")
    parser.add_argument("--tls", action="store_true", help="offer STARTTLS/STLS and listen with implicit TLS too")
    parser.add_argument("--data-dir", default=None,
                        help="keep the Maildirs here (kept after exit; default: a temporary folder, removed)")
    return parser.parse_args(argv)


def readyRecord(harness: MailSuiteHarness, interface: str) -> dict[str, Any]:
    """
    What a started server tells its caller.
    """
    return {"event": "ready", "pid": os.getpid(), "host": interface, "domain": harness.domain,
            "ports": harness.ports(), "users": dict(harness.users), "caFile": harness.caFile,
            "dataDir": harness.dataDir}


def _announce(record: dict[str, Any], out: TextIO) -> None:
    out.write(json.dumps(record) + "\n")
    out.write(f"mailsuite-testserver ready (pid {record['pid']}), domain {record['domain']}\n")
    for role, port in sorted(record["ports"].items()):
        out.write(f"  {role:<12} {record['host']}:{port}\n")
    for name, password in sorted(record["users"].items()):
        out.write(f"  user {name}@{record['domain']} password {password}\n")
    out.write(f"  CA file {record['caFile']}\n  Ctrl-C or SIGTERM stops it.\n")
    out.flush()


def main(argv: Sequence[str] | None = None, reactor: Any = None, out: TextIO | None = None) -> int:
    """
    The console script: start, announce, run until a signal, stop.
    """
    args = parseArguments(sys.argv[1:] if argv is None else argv)
    out = out or sys.stdout
    if reactor is None:
        from twisted.internet import reactor as globalReactor

        reactor = globalReactor
    if args.data_dir:
        os.makedirs(args.data_dir, exist_ok=True)
    harness = MailSuiteHarness(users=randomUsers(args.user) if args.user else None, domain=args.domain,
                               tls=args.tls, reactor=reactor, dataDir=args.data_dir, ports=dict(args.port),
                               interface=args.interface)
    failures: list[str] = []

    def started(_: object) -> None:
        _announce(readyRecord(harness, args.interface), out)   # type: ignore[arg-type]
        reactor.addSystemEventTrigger("before", "shutdown", harness.stop)

    def failed(failure: Any) -> None:
        failures.append(str(failure.value))
        reactor.stop()

    reactor.callWhenRunning(lambda: maybeDeferred(harness.start).addCallbacks(started, failed))
    reactor.run()
    if failures:
        sys.stderr.write(f"mailsuite-testserver: cannot start: {failures[0]}\n")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
