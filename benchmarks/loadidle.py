# -*- test-case-name: tests.test_benchmarks -*-
"""
Idle connections: open K connections in steps, leave them idle, and read
the server's memory after every step.

    python benchmarks/loadidle.py --port 7000 --pid 1234 --conns 2000 --greet line
    python benchmarks/loadidle.py --port 7000 --pid 1234 --conns 10000 --steps 5 --hold 5 --probe

C{--greet}: C{none} (just connect), C{smtp} (banner, EHLO, 250), C{pop3}
(the +OK banner), C{line} (the chat greeting line), C{irc} (NICK/USER,
001).  Memory is VmRSS of C{--pid}, or with C{--tree} the PSS summed over
its process tree (for servers with a process per connection).  Reports the
least-squares slope in KiB per connection and the most connections held at
once; C{--hold} waits and counts again, C{--probe} then checks that a new
client is still served.  Bounded by K (and RLIMIT_NOFILE) and by
C{--max-seconds}.  Prints one JSON line.
"""
from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import LOOPBACK, emit, log, procStatus, raiseFileLimit, slope, treePssKb  # noqa: E402


class Idle(asyncio.Protocol):
    def __init__(self, greet: str, index: int, counters: dict) -> None:
        self.greet, self.index, self.counters = greet, index, counters
        self.ready = asyncio.get_running_loop().create_future()
        self.transport: Any = None
        self.seen = b""

    def connection_made(self, transport: Any) -> None:
        self.transport = transport
        if self.greet == "none":
            self.ready.set_result(True)
        elif self.greet == "irc":
            transport.write(b"NICK id%d\r\nUSER id%d 0 * :idle\r\n" % (self.index, self.index))

    def data_received(self, data: bytes) -> None:
        if b"PING" in data:
            for line in data.split(b"\r\n"):
                if line.startswith(b"PING"):
                    self.transport.write(b"PONG" + line[4:] + b"\r\n")
        if self.ready.done():
            return
        self.seen = (self.seen + data)[-2048:]
        if b"\n" not in self.seen:
            return
        if self.greet == "smtp":
            if self.seen.startswith(b"220"):
                self.transport.write(b"EHLO idle.bench.invalid\r\n")
                self.seen = b""
            elif self.seen.startswith(b"250") and (b"\n250 " in b"\n" + self.seen):
                self.ready.set_result(True)
        elif self.greet == "pop3":
            self.ready.set_result(self.seen.startswith(b"+OK"))
        elif self.greet == "line":
            self.ready.set_result(True)
        elif self.greet == "irc" and b" 001 " in self.seen:
            self.ready.set_result(True)

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.counters["closing"]:
            self.counters["closedByServer"] += 1
        if not self.ready.done():
            self.ready.set_exception(ConnectionError("closed before the greeting"))


def memoryKb(args: argparse.Namespace) -> int | None:
    return treePssKb(args.pid) if args.tree else procStatus(args.pid)


async def run(args: argparse.Namespace) -> dict:
    loop = asyncio.get_running_loop()
    counters = {"closedByServer": 0, "closing": False}
    held: list[Idle] = []
    errors: list[str] = []
    gate = asyncio.Semaphore(args.connect_parallel)
    deadline = time.monotonic() + args.max_seconds

    async def open(index: int) -> None:
        if time.monotonic() > deadline:
            return
        try:
            async with gate:
                _, idle = await asyncio.wait_for(loop.create_connection(
                    lambda: Idle(args.greet, index, counters), args.host, args.port), args.timeout)
            await asyncio.wait_for(idle.ready, args.timeout)
            held.append(idle)
        except (OSError, asyncio.TimeoutError, ConnectionError) as e:
            errors.append(f"{e.__class__.__name__}: {e}"[:100])

    await asyncio.sleep(args.settle)
    steps = [{"conns": 0, "kb": memoryKb(args)}]
    opened = 0
    for step in range(1, args.steps + 1):
        goal = round(args.conns * step / args.steps)
        await asyncio.gather(*(open(i) for i in range(opened, goal)))
        opened = goal
        await asyncio.sleep(args.settle)
        steps.append({"conns": len(held) - counters["closedByServer"], "kb": memoryKb(args)})
        log(f"loadidle {args.host}:{args.port}: {steps[-1]['conns']} open, {steps[-1]['kb']} KiB")
        if time.monotonic() > deadline:
            break
    result: dict = {}
    if args.hold:
        await asyncio.sleep(min(args.hold, max(0.0, deadline - time.monotonic())))
        result["held_after_hold"] = len(held) - counters["closedByServer"]
    if args.probe:
        probe = {"served": False}
        try:
            _, idle = await asyncio.wait_for(loop.create_connection(
                lambda: Idle(args.greet, len(held), counters), args.host, args.port), args.timeout)
            await asyncio.wait_for(idle.ready, args.timeout)
            probe["served"] = True
            held.append(idle)
        except (OSError, asyncio.TimeoutError, ConnectionError) as e:
            probe["error"] = f"{e.__class__.__name__}: {e}"[:100]
        result["probe"] = probe
    counters["closing"] = True
    for idle in held:
        idle.transport.abort()
    await asyncio.sleep(0.2)
    points = [(s["conns"], s["kb"]) for s in steps if s["kb"] is not None]
    perConn = slope(points)
    top = max(steps, key=lambda s: s["conns"])
    result.update({
        "steps": steps, "max_open": top["conns"], "connect_errors": len(errors),
        "first_errors": sorted(set(errors))[:3], "closed_by_server": counters["closedByServer"],
        "base_kb": steps[0]["kb"], "top_kb": top["kb"],
        "kb_per_conn": round(perConn, 3) if perConn is not None else None,
    })
    return result


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--host", default=LOOPBACK)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--pid", type=int, required=True, help="the server process to measure")
    parser.add_argument("--tree", action="store_true", help="PSS over the process tree instead of VmRSS")
    parser.add_argument("-k", "--conns", type=int, default=1000, help="connections (the count bound)")
    parser.add_argument("--steps", type=int, default=4)
    parser.add_argument("--greet", choices=["none", "smtp", "pop3", "line", "irc"], default="none")
    parser.add_argument("--connect-parallel", type=int, default=32)
    parser.add_argument("--settle", type=float, default=1.0, help="pause before each reading (s)")
    parser.add_argument("--hold", type=float, default=0.0, help="then stay idle this long and count again (s)")
    parser.add_argument("--probe", action="store_true", help="then check a new client is still served")
    parser.add_argument("--timeout", type=float, default=30.0)
    parser.add_argument("--max-seconds", type=float, default=120.0, help="wall-clock bound (s)")
    parser.add_argument("--label", default="")
    args = parser.parse_args(argv)
    limit = raiseFileLimit(args.conns + 64)
    if args.conns + 64 > limit:
        log(f"loadidle: RLIMIT_NOFILE is {limit}; capping at {limit - 64} connections")
        args.conns = max(1, limit - 64)
    began = time.monotonic()
    result = asyncio.run(run(args))
    result.update({"tool": "loadidle", "target": f"{args.host}:{args.port}", "label": args.label,
                   "greet": args.greet, "requested": args.conns, "fd_limit": limit,
                   "memory": "pss-tree" if args.tree else "vmrss",
                   "elapsed_s": round(time.monotonic() - began, 2)})
    log(f"loadidle {result['target']}: {result['kb_per_conn']} KiB/conn over {result['max_open']} connections")
    emit(result)


if __name__ == "__main__":
    main()
