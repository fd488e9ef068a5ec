# -*- test-case-name: tests.test_benchmarks -*-
"""
Relay load generator, end to end: C{--concurrency} workers submit
C{--count} messages of C{--size} bytes to a relaying server (ours on its
submission port with AUTH PLAIN, or Postfix from C{mynetworks} without),
which passes them to Postfix's C{smtp-sink} started with C{-d DIR} (one
file per message).  Every message carries C{X-Bench-Run} and
C{X-Bench-Seq} headers; the time of the relaying server's 250 is noted
per message, and the sink's file for it (its modification time: the end
of DATA at the sink) gives the time it arrived.

    python benchmarks/loadrelay.py --port 2587 --user joe --password pw \\
        --dump DIR -c 10 --size 1k --count 1000

Every connection is opened (and logged in) before the clock starts, so a
login's password hash is not part of the figures.  Reported: messages
per second submitted and delivered end to end (from the first MAIL FROM
to the last arrival at the sink), and the p50/p99/max of the time from
our 250 to the sink's.  Bounded by C{--count} and C{--max-seconds}; the
files of this run are moved out of C{DIR} once read (C{common.setAside}).  Prints one JSON
line.
"""
from __future__ import annotations

import argparse
import asyncio
import base64
import os
import sys
import time
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import LOOPBACK, emit, log, percentile, raiseFileLimit, setAside, sizeArg  # noqa: E402
from loadsmtp import Connection, Refused, expect  # noqa: E402

RUN_HEADER = b"X-Bench-Run: "
SEQ_HEADER = b"X-Bench-Seq: "


def buildBody(size: int, run: str) -> tuple[bytes, bytes]:
    """
    The message around its sequence number: (head up to the number, the
    rest with the end-of-data line).
    """
    line = b"0123456789" * 7 + b"abcdef\r\n"
    lines = max(1, size // len(line))
    head = (b"From: <load@bench.invalid>\r\nTo: <sink@remote.invalid>\r\nSubject: relay load\r\n"
            + RUN_HEADER + run.encode() + b"\r\n" + SEQ_HEADER)
    return head, b"\r\n\r\n" + line * lines + b".\r\n"


async def login(connection: Connection, user: str, password: str) -> None:
    assert connection.reader is not None and connection.writer is not None
    token = base64.b64encode(f"\0{user}\0{password}".encode())
    connection.writer.write(b"AUTH PLAIN " + token + b"\r\n")
    await expect(connection.reader, 235)


def arrivals(dump: str, run: str) -> dict[int, float]:
    """
    Sequence number -> arrival time (file mtime) of this run's messages in
    C{dump}; the files read are moved aside (L{setAside}).
    """
    found: dict[int, float] = {}
    read: list[str] = []
    marker = RUN_HEADER + run.encode()
    for name in os.listdir(dump):
        path = os.path.join(dump, name)
        try:
            with open(path, "rb") as f:
                head = f.read(4096)
            arrived = os.stat(path).st_mtime
        except OSError:
            continue
        if marker not in head:
            continue
        start = head.find(SEQ_HEADER)
        if start < 0:
            continue
        end = head.find(b"\r\n", start)
        if end < 0:
            end = head.find(b"\n", start)
        found[int(head[start + len(SEQ_HEADER):end])] = arrived
        read.append(path)
    setAside(read, dump.rstrip("/") + "-read", sync=False)       # called while the run goes on
    return found


async def run(args: argparse.Namespace) -> dict:
    tag = uuid.uuid4().hex[:12]
    head, tail = buildBody(args.size, tag)
    envelope = (f"MAIL FROM:<{args.sender}>\r\n".encode(), f"RCPT TO:<{args.recipient}>\r\n".encode())
    connections = [Connection(args.host, args.port) for _ in range(args.concurrency)]

    async def openOne(connection: Connection) -> None:
        await asyncio.wait_for(connection.open(), args.timeout)
        if args.user:
            await asyncio.wait_for(login(connection, args.user, args.password), args.timeout)
    await asyncio.gather(*(openOne(c) for c in connections))

    accepted: dict[int, float] = {}
    errors: list[str] = []
    counter = [0]
    deadline = time.monotonic() + args.max_seconds

    async def worker(connection: Connection) -> None:
        while counter[0] < args.count and time.monotonic() < deadline:
            seq = counter[0]
            counter[0] += 1
            try:
                await asyncio.wait_for(connection.send(envelope, head + str(seq).encode() + tail), args.timeout)
                accepted[seq] = time.time()
            except (OSError, Refused, asyncio.TimeoutError, asyncio.IncompleteReadError, ValueError) as e:
                errors.append(f"{e.__class__.__name__}: {e}"[:120])
                return
        await connection.close(polite=True)

    began = time.time()
    await asyncio.gather(*(worker(c) for c in connections))
    submitted = time.time() - began
    found: dict[int, float] = {}
    while time.monotonic() < deadline + args.drain_seconds:
        found.update(arrivals(args.dump, tag))
        if len(found) >= len(accepted):
            break
        await asyncio.sleep(0.05)
    delays = [(found[seq] - at) * 1e9 for seq, at in accepted.items() if seq in found]
    lastArrival = max(found.values()) if found else began
    endToEnd = lastArrival - began
    return {
        "tool": "loadrelay", "target": f"{args.host}:{args.port}", "label": args.label,
        "concurrency": args.concurrency, "size": args.size, "requested": args.count,
        "ok": len(accepted), "delivered": len(found), "errors": len(errors),
        "first_errors": sorted(set(errors))[:3],
        "submitted_per_s": round(len(accepted) / submitted, 2) if submitted and accepted else 0.0,
        "msgs_per_s": round(len(found) / endToEnd, 2) if endToEnd > 0 and found else 0.0,
        "p50_ms": round(percentile(delays, 50) / 1e6, 2) if delays else None,
        "p99_ms": round(percentile(delays, 99) / 1e6, 2) if delays else None,
        "max_ms": round(max(delays) / 1e6, 2) if delays else None,
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--host", default=LOOPBACK)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--dump", required=True, help="smtp-sink's -d folder")
    parser.add_argument("--user", default="", help="AUTH PLAIN as this user (none: no AUTH)")
    parser.add_argument("--password", default="")
    parser.add_argument("-c", "--concurrency", type=int, default=10)
    parser.add_argument("--size", type=sizeArg, default=1024, help="body bytes (k/m suffix)")
    parser.add_argument("-n", "--count", type=int, default=1000, help="messages (the count bound)")
    parser.add_argument("--sender", default="joe@bench.example.com")
    parser.add_argument("--recipient", default="sink@remote.invalid")
    parser.add_argument("--timeout", type=float, default=30.0, help="per step (s)")
    parser.add_argument("--max-seconds", type=float, default=60.0, help="wall-clock bound of submitting (s)")
    parser.add_argument("--drain-seconds", type=float, default=30.0, help="then the bound on waiting for the sink")
    parser.add_argument("--label", default="")
    args = parser.parse_args(argv)
    raiseFileLimit(args.concurrency * 2 + 256)
    result = asyncio.run(run(args))
    log(f"loadrelay {result['target']} c={args.concurrency}: {result['ok']} accepted, "
        f"{result['delivered']} delivered, {result['msgs_per_s']} msg/s end to end, "
        f"p50 {result['p50_ms']} ms, p99 {result['p99_ms']} ms")
    emit(result)


if __name__ == "__main__":
    main()
