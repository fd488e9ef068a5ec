# -*- test-case-name: tests.test_benchmarks -*-
"""
The IMAP scenario group of C{benchmarks/run.py} (issue 16): ours and
Dovecot's imapd on the same Maildirs, and the IDLE latency.
"""
from __future__ import annotations

import os
import time

import targets as T
from scenarios import Bench, sizeName, started, startOursAll, stopAll


def imap(bench: Bench) -> None:
    """
    Ours and Dovecot's imapd read the very same Maildirs (the POP3 group's
    8 users x 200 x 10 KiB): SELECT, FETCH 1:* (FLAGS RFC822.SIZE
    ENVELOPE), UID FETCH 1:* BODY.PEEK[] for every user at once; then the
    IDLE latency from our SMTP server's 250 to the EXISTS.
    """
    plan, scratch = bench.plan, os.path.join(bench.scratch, "imap")
    users = [f"u{i}" for i in range(plan.pop3Users)]
    servers: list[tuple[str, T.Server]] = []

    def seed(mailRoot: str) -> None:
        for user in users:
            T.seedMaildir(os.path.join(mailRoot, user), plan.pop3Messages, plan.pop3Size, user)

    startOursAll(bench, servers, scratch, ("imap", "smtp"), users, seed)
    if not servers or servers[0][0] != "ours":
        return
    ours = servers[0][1]
    mailRoot = os.path.join(ours.folder, "data", "mail")
    if bench.haveDovecot("imap"):
        started(servers, "dovecot", lambda: T.startDovecot(scratch, mailRoot, users, protocol="imap"), bench)
    cell = f"{plan.pop3Users} users x {plan.pop3Messages} x {sizeName(plan.pop3Size)}"

    def run(_: object, name: str, server: T.Server, seconds: float | None = None) -> dict:
        return bench.tool("loadimap.py", ["--port", server.ports["imap"], "--users", ",".join(users),
                                          "--password", T.PASSWORD, "--max-seconds", seconds or plan.runSeconds,
                                          "--passes", plan.imapPasses, "--label", name])

    try:
        bench.interleave("imap", [cell], servers, lambda c: c, run)
        bench.add("imap-idle", "SMTP 250 -> EXISTS", "ours", 0, bench.tool("loadimap.py", [
            "--port", ours.ports["imap"], "--users", users[0], "--password", T.PASSWORD, "--idle-latency",
            "--smtp-port", ours.ports["smtp"], "--domain", T.DOMAIN, "--rounds", 20, "--label", "ours"]))
        trailing = bench.worstCell("imap", "msgs_per_s", True, [cell], ("dovecot",))

        def loop(seconds: float) -> dict:
            deadline, result = time.monotonic() + seconds, {}
            while time.monotonic() < deadline:
                result = run(None, "ours", ours, max(1.0, deadline - time.monotonic()))
            return result
        bench.profileOurs("imap", ours, trailing, loop)
    finally:
        stopAll(servers)
