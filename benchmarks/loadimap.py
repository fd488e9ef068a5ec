# -*- test-case-name: tests.test_benchmarks -*-
"""
IMAP load generator: every user's session logs in; then, timed, all of
them at once SELECT INBOX, run C{FETCH 1:* (FLAGS RFC822.SIZE ENVELOPE)}
(what a client's message list needs), then C{UID FETCH 1:* BODY.PEEK[]}
(every message, as a sync or backup tool reads them) — C{--passes}
times, back to back (a pass of 8 users x 200 messages takes some 50 ms:
too short alone to be measured on a shared machine); then they log out.
Nothing is changed, so runs repeat.  Logins are timed apart
(C{login_p50_ms}): their cost is the server's password policy, not its
mailbox work.

    python benchmarks/loadimap.py --port 1143 --users u0,u1,u2 --password pw

C{msgs_per_s} counts messages whose body was read.  C{--idle-latency}
instead measures how long after an SMTP delivery's 250 a session in IDLE
hears C{EXISTS} (C{--smtp-port} needed).  Literals are counted as they
stream in, never held.  Prints one JSON line.
"""
from __future__ import annotations

import argparse
import asyncio
import os
import re
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import LOOPBACK, emit, log, millis, percentile  # noqa: E402

_LITERAL = re.compile(rb"\{(\d+)\}\r\n$")


class Refused(Exception):
    """A NO/BAD or a closed connection."""


async def response(reader: asyncio.StreamReader, tag: bytes, counts: dict | None = None) -> None:
    """
    Read until the tagged reply of C{tag}, skipping literals; count the
    untagged FETCH responses and literal octets into C{counts}.
    """
    while True:
        line = await reader.readline()
        if not line:
            raise Refused("connection closed")
        if counts is not None and line.startswith(b"* ") and b" FETCH (" in line[:40]:
            counts["fetched"] += 1
        while True:
            literal = _LITERAL.search(line)
            if not literal:
                break
            size = int(literal.group(1))
            if counts is not None:
                counts["bytes"] += size
            await reader.readexactly(size)
            line = await reader.readline()
        if line.startswith(tag + b" "):
            if not line.startswith(tag + b" OK"):
                raise Refused(line[:100].decode("ascii", "replace"))
            return


async def login(args: argparse.Namespace, user: str, stats: dict) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    began = time.perf_counter_ns()
    reader, writer = await asyncio.open_connection(args.host, args.port, limit=1 << 20)
    await reader.readline()
    writer.write(b"a LOGIN %s %s\r\n" % (user.encode(), args.password.encode()))
    await response(reader, b"a")
    stats["login_ns"].append(time.perf_counter_ns() - began)
    return reader, writer


async def work(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, stats: dict) -> None:
    began = time.perf_counter_ns()
    writer.write(b"b SELECT INBOX\r\n")
    await response(reader, b"b")
    listing = {"fetched": 0, "bytes": 0}
    sent = time.perf_counter_ns()
    writer.write(b"c FETCH 1:* (FLAGS RFC822.SIZE ENVELOPE)\r\n")
    await response(reader, b"c", listing)
    stats["list_ns"].append(time.perf_counter_ns() - sent)
    bodies = {"fetched": 0, "bytes": 0}
    sent = time.perf_counter_ns()
    writer.write(b"d UID FETCH 1:* BODY.PEEK[]\r\n")
    await response(reader, b"d", bodies)
    stats["bodies_ns"].append(time.perf_counter_ns() - sent)
    stats["messages"] += bodies["fetched"]
    stats["bytes"] += bodies["bytes"]
    stats["listed"] += listing["fetched"]
    stats["session_ns"].append(time.perf_counter_ns() - began)


async def logout(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        writer.write(b"e LOGOUT\r\n")
        await asyncio.wait_for(response(reader, b"e"), 5)
    finally:
        writer.close()


async def run(args: argparse.Namespace) -> dict:
    """
    Every user logs in first; then the clock runs while every session
    SELECTs and FETCHes at once (what the figure measures: mailbox work,
    not password checks, which cost what the server's policy makes them).
    """
    users = [u for u in args.users.split(",") if u]
    stats: dict = {"messages": 0, "listed": 0, "bytes": 0, "list_ns": [], "bodies_ns": [], "session_ns": [],
                   "login_ns": [], "errors": []}

    def failed(user: str, e: BaseException) -> None:
        stats["errors"].append(f"{user}: {e.__class__.__name__}: {e}"[:120])

    errors = (OSError, Refused, asyncio.TimeoutError, asyncio.IncompleteReadError, asyncio.LimitOverrunError,
              ValueError)
    connections: dict[str, tuple] = {}

    async def connect(user: str) -> None:
        try:
            connections[user] = await asyncio.wait_for(login(args, user, stats), args.max_seconds)
        except errors as e:
            failed(user, e)

    async def one(user: str) -> None:
        try:
            for _ in range(args.passes):
                await asyncio.wait_for(work(*connections[user], stats), args.max_seconds)
        except errors as e:
            failed(user, e)

    await asyncio.gather(*(connect(user) for user in users))
    began = time.perf_counter()
    await asyncio.gather(*(one(user) for user in connections))
    elapsed = time.perf_counter() - began
    await asyncio.gather(*(logout(*pair) for pair in connections.values()), return_exceptions=True)
    done = stats["messages"]
    return {
        "tool": "loadimap", "target": f"{args.host}:{args.port}", "label": args.label,
        "users": len(users), "passes": args.passes, "messages": done, "listed": stats["listed"], "bytes": stats["bytes"],
        "errors": len(stats["errors"]), "first_errors": stats["errors"][:3],
        "elapsed_s": round(elapsed, 4),
        "msgs_per_s": round(done / elapsed, 2) if elapsed and done else 0.0,
        "mb_per_s": round(stats["bytes"] / elapsed / 1e6, 3) if elapsed and done else 0.0,
        "login_p50_ms": millis(percentile(stats["login_ns"], 50)),
        "list_p50_ms": millis(percentile(stats["list_ns"], 50)),
        "bodies_p50_ms": millis(percentile(stats["bodies_ns"], 50)),
        "session_p50_ms": millis(percentile(stats["session_ns"], 50)),
    }


async def idleLatency(args: argparse.Namespace) -> dict:
    """
    One session in IDLE; C{--rounds} messages sent by SMTP one after the
    other; for each, the time from the SMTP 250 to the EXISTS.
    """
    user = args.users.split(",")[0]
    reader, writer = await login(args, user, {"login_ns": []})
    writer.write(b"b SELECT INBOX\r\n")
    await response(reader, b"b")
    writer.write(b"c IDLE\r\n")
    if not (await reader.readline()).startswith(b"+"):
        raise Refused("IDLE refused")
    latencies, errors = [], []
    for _ in range(args.rounds):
        smtpReader, smtpWriter = await asyncio.open_connection(args.host, args.smtp_port)

        async def reply() -> bytes:
            while True:
                line = await smtpReader.readline()
                if not line or line[3:4] != b"-":
                    return line

        await reply()
        message = b"Subject: idle\r\n\r\nping\r\n.\r\n"
        for command in (b"HELO bench\r\n", b"MAIL FROM:<b@example.test>\r\n",
                        b"RCPT TO:<%s@%s>\r\n" % (user.encode(), args.domain.encode()), b"DATA\r\n"):
            smtpWriter.write(command)
            await reply()
        smtpWriter.write(message)
        accepted = await reply()
        at = time.perf_counter_ns()
        if not accepted.startswith(b"250"):
            errors.append(accepted[:80].decode("ascii", "replace"))
            continue
        while True:
            line = await asyncio.wait_for(reader.readline(), 10)
            if line.endswith(b" EXISTS\r\n"):
                latencies.append(time.perf_counter_ns() - at)
                break
        smtpWriter.write(b"QUIT\r\n")
        smtpWriter.close()
    writer.write(b"DONE\r\nd LOGOUT\r\n")
    writer.close()
    return {"tool": "loadimap", "mode": "idle-latency", "label": args.label, "rounds": args.rounds,
            "errors": len(errors), "first_errors": errors[:3],
            "idle_p50_ms": millis(percentile(latencies, 50)), "idle_max_ms": millis(max(latencies, default=0))}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--host", default=LOOPBACK)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--users", required=True, help="comma list; one parallel session each")
    parser.add_argument("--password", default="pw")
    parser.add_argument("--max-seconds", type=float, default=120.0, help="wall-clock bound per session (s)")
    parser.add_argument("--idle-latency", action="store_true", help="measure IDLE latency instead")
    parser.add_argument("--smtp-port", type=int, default=0)
    parser.add_argument("--domain", default="example.test")
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--passes", type=int, default=1,
                        help="timed passes per session (SELECT, list, bodies; each reads the whole mailbox)")
    parser.add_argument("--label", default="")
    args = parser.parse_args(argv)
    if args.idle_latency:
        result = asyncio.run(idleLatency(args))
        log(f"loadimap idle: p50 {result['idle_p50_ms']} ms, max {result['idle_max_ms']} ms")
    else:
        result = asyncio.run(run(args))
        log(f"loadimap {result['target']}: {result['messages']} msgs {result['msgs_per_s']} msg/s "
            f"{result['mb_per_s']} MB/s, login p50 {result['login_p50_ms']} ms, list p50 "
            f"{result['list_p50_ms']} ms, {result['errors']} errors")
    emit(result)


if __name__ == "__main__":
    main()
