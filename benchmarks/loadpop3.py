# -*- test-case-name: tests.test_benchmarks -*-
"""
POP3 retrieval load generator.  Each session logs in (USER/PASS), LISTs,
RETRs every message (nothing is deleted, so runs repeat) and QUITs; the
users' sessions run in parallel.

    python benchmarks/loadpop3.py --port 1110 --users u0,u1,u2 --password pw
    python benchmarks/loadpop3.py --port 1110 --users big --password pw --pid 1234

With C{--pid} one session logs in and out first (what any login
allocates), then the server's VmRSS is read before the run and its VmHWM
(peak) after: for a fresh server fetching one large message,
C{rss_growth_kb} = peak - before is what retrieving it cost the server.  Message bodies are
counted as they stream in, never held.  Bounded by the mailbox contents and
by C{--max-seconds}.  Prints one JSON line.
"""
from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import LOOPBACK, emit, log, millis, percentile, procStatus  # noqa: E402

TERMINATOR = b"\r\n.\r\n"


class Refused(Exception):
    """A C{-ERR} or a closed connection."""


async def status(reader: asyncio.StreamReader) -> bytes:
    line = await reader.readline()
    if not line.startswith(b"+OK"):
        raise Refused(f"server said {line[:100]!r}")
    return line


async def multiline(reader: asyncio.StreamReader, keep: bool) -> tuple[int, bytes]:
    """
    Read a dot-terminated block after its status line; return its size in
    octets (the final CRLF counted, the terminating dot line not) and, if
    C{keep}, its bytes.  Unkept blocks are counted as they stream in.
    """
    if keep:
        block = bytearray()
        while not (block == b".\r\n" or block.endswith(TERMINATOR)):
            chunk = await reader.read(1 << 16)
            if not chunk:
                raise Refused("connection closed inside a multi-line reply")
            block += chunk
        body = bytes(block[:-3])
        return len(body), body
    size, tail = 0, b""
    while True:
        chunk = await reader.read(1 << 16)
        if not chunk:
            raise Refused("connection closed inside a multi-line reply")
        if size == 0 and chunk.startswith(b".\r\n"):
            return 0, b""
        window = tail + chunk
        end = window.find(TERMINATOR)
        if end >= 0:
            return size + end + 2 - len(tail), b""
        size += len(chunk)
        tail = window[-(len(TERMINATOR) - 1):]


async def session(args: argparse.Namespace, user: str, stats: dict, retrieve: bool = True) -> None:
    began = time.perf_counter_ns()
    reader, writer = await asyncio.open_connection(args.host, args.port, limit=1 << 20)
    try:
        await status(reader)
        writer.write(f"USER {user}\r\n".encode())
        await status(reader)
        writer.write(f"PASS {args.password}\r\n".encode())
        await status(reader)
        writer.write(b"LIST\r\n")
        await status(reader)
        _, listing = await multiline(reader, keep=True)
        numbers = [int(line.split()[0]) for line in listing.split(b"\r\n") if line.strip()]
        for number in numbers[:args.max_messages or None] if retrieve else []:
            if time.monotonic() > stats["deadline"]:
                break
            sent = time.perf_counter_ns()
            writer.write(b"RETR %d\r\n" % number)
            await status(reader)
            size, _ = await multiline(reader, keep=False)
            stats["retr_ns"].append(time.perf_counter_ns() - sent)
            stats["messages"] += 1
            stats["bytes"] += size
        writer.write(b"QUIT\r\n")
        await asyncio.wait_for(reader.readline(), 5)
        stats["session_ns"].append(time.perf_counter_ns() - began)
        if not numbers:
            stats["empty"] += 1
    finally:
        writer.close()


def resetPeak(pid: int) -> bool:
    """
    Reset the process's VmHWM to its current RSS (Linux 4.0+, same user or root).
    """
    try:
        with open(f"/proc/{pid}/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


async def run(args: argparse.Namespace) -> dict:
    users = [u for u in args.users.split(",") if u]
    stats: dict = {"messages": 0, "bytes": 0, "retr_ns": [], "session_ns": [], "errors": [],
                   "empty": 0, "deadline": time.monotonic() + args.max_seconds}

    async def one(user: str) -> None:
        try:
            await asyncio.wait_for(session(args, user, stats), args.max_seconds + 5)
        except (OSError, Refused, asyncio.TimeoutError, asyncio.IncompleteReadError,
                asyncio.LimitOverrunError, ValueError) as e:
            stats["errors"].append(f"{user}: {e.__class__.__name__}: {e}"[:120])

    if args.pid:    # a first session allocates what any login does; measure what RETR adds
        await session(args, users[0], {**stats, "session_ns": [], "retr_ns": []}, retrieve=False)
        await asyncio.sleep(0.3)
    memory: dict = {"rss_before_kb": procStatus(args.pid) if args.pid else None}
    if args.pid:
        memory["peak_reset"] = resetPeak(args.pid)
    began = time.perf_counter()
    await asyncio.gather(*(one(user) for user in users))
    elapsed = time.perf_counter() - began
    if args.pid:
        await asyncio.sleep(0.3)
        memory.update(rss_after_kb=procStatus(args.pid), rss_peak_kb=procStatus(args.pid, "VmHWM"))
        if memory["rss_before_kb"] and memory["rss_peak_kb"]:
            memory["rss_growth_kb"] = memory["rss_peak_kb"] - memory["rss_before_kb"]
    done = stats["messages"]
    return {
        "tool": "loadpop3", "target": f"{args.host}:{args.port}", "label": args.label,
        "users": len(users), "messages": done, "bytes": stats["bytes"],
        "errors": len(stats["errors"]), "first_errors": stats["errors"][:3],
        "empty_mailboxes": stats["empty"], "elapsed_s": round(elapsed, 4),
        "msgs_per_s": round(done / elapsed, 2) if elapsed and done else 0.0,
        "mb_per_s": round(stats["bytes"] / elapsed / 1e6, 3) if elapsed and done else 0.0,
        "retr_p50_ms": millis(percentile(stats["retr_ns"], 50)),
        "retr_p99_ms": millis(percentile(stats["retr_ns"], 99)),
        "session_p50_ms": millis(percentile(stats["session_ns"], 50)),
        **memory,
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--host", default=LOOPBACK)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--users", required=True, help="comma list; one parallel session each")
    parser.add_argument("--password", default="pw")
    parser.add_argument("--max-messages", type=int, default=0, help="RETR at most this many per session")
    parser.add_argument("--pid", type=int, default=0, help="server PID whose memory to read")
    parser.add_argument("--max-seconds", type=float, default=60.0, help="wall-clock bound (s)")
    parser.add_argument("--label", default="")
    args = parser.parse_args(argv)
    result = asyncio.run(run(args))
    log(f"loadpop3 {result['target']}: {result['messages']} msgs {result['msgs_per_s']} msg/s "
        f"{result['mb_per_s']} MB/s RETR p50 {result['retr_p50_ms']} ms, {result['errors']} errors")
    emit(result)


if __name__ == "__main__":
    main()
