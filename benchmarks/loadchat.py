# -*- test-case-name: tests.test_benchmarks -*-
"""
Chat fan-out load generator, for several servers in one run.

N clients join one room on every target (our line chat, or IRC for
ngircd); client 0 of a target sends M lines at a fixed rate and the N-1
others receive them.  Each sent line carries the token
C{LT<round>.<seq>.<CLOCK_MONOTONIC ns>Z}, found anywhere in a received line
whatever the server's prefix, so latency = receipt - send on the clock all
local processes share, and the clients may be spread over C{--procs}
processes.

All targets' clients are connected once (setup is not timed), then
C{--warmup} rounds (default 1) run every target without being reported
(the generator's first round cost it about twice the CPU per delivery of
the later ones, and the first target of that round paid for it in its
p99), then the rounds run interleaved: round r measures the targets in
the order rotated by r (A B, B A, ...), one target at a time while the
others' clients idle.

    python benchmarks/loadchat.py --target ours=127.0.0.1:7000:line \\
        --target ngircd=127.0.0.1:6667:irc --clients 1000 --lines 150 --rate 50 --rounds 3 --procs 2

Per target and round: deliveries/s, p50/p99/max latency, lost (expected
M x (N-1) minus unique receipts), duplicates, disconnects; with C{--pid
NAME=PID}, the server's CPU time over the round, per line delivered to one
client and per line sent; and the load generator's own CPU (all its processes) per line
delivered (C{generator_cpu_us_per_msg}: it shares the cores), and the time the
server waited for a CPU while runnable (C{runqueue_wait_ms}).  Bounded by the
line count and by C{--max-seconds} per round.  Prints one JSON line.

WebSocket share: with C{--ws NAME=HOST:PORT} (our web listener), a
C{--ws-share} of that target's receivers join the same room through the
WebSocket at C{/chat} (one line per text frame) instead of TCP; the run
then reports their latency (C{ws}) beside the TCP receivers' (C{tcp}).
The sender stays on TCP.
"""
from __future__ import annotations

import argparse
import array
import asyncio
import base64
import multiprocessing
import os
import re
import sys
import time
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import cpuPerOperation, cpuSeconds, emit, log, millis, percentile, raiseFileLimit  # noqa: E402

TOKEN = re.compile(rb"LT(\d+)\.(\d+)\.(\d+)Z")
IRC_CHANNEL = "#bench"
IRC_TROUBLE = {b"432", b"433", b"464", b"471", b"473", b"474", b"405", b"491"}


class Target:
    def __init__(self, spec: str) -> None:
        self.name, _, rest = spec.partition("=")
        host, port, self.protocol = rest.split(":")
        self.host, self.port = host, int(port)
        if self.protocol not in ("line", "irc"):
            raise ValueError(f"protocol of {spec!r} must be line or irc")


class Client(asyncio.Protocol):
    """
    One chat connection: registers (IRC), answers PINGs, counts tokens.
    """

    ws = False

    def __init__(self, index: int, target: Target, state: TargetState) -> None:
        self.index, self.target, self.state = index, target, state
        self.nick = f"lt{index}"
        loop = asyncio.get_running_loop()
        self.ready = loop.create_future()        # greeting (line) or 366 after JOIN (irc)
        self.registered = loop.create_future()   # irc 001
        self.opered = loop.create_future()       # irc 381
        self.transport: Any = None
        self.partial = b""
        self.closed = False
        self.seen = bytearray()
        self.unique = 0

    def connection_made(self, transport: Any) -> None:
        self.transport = transport
        if self.target.protocol == "irc":
            self.send(f"NICK {self.nick}")
            self.send(f"USER {self.nick} 0 * :load")

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.state.disconnects += 1
        for future in (self.ready, self.registered, self.opered):
            if not future.done():
                future.set_exception(ConnectionError("closed during setup"))
        self.state.checkDone()

    def send(self, text: str) -> None:
        if not self.closed:
            self.transport.write(text.encode() + (b"\r\n" if self.target.protocol == "irc" else b"\n"))

    def data_received(self, data: bytes) -> None:
        data = self.partial + data
        cut = data.rfind(b"\n") + 1
        self.partial, data = data[cut:], data[:cut]
        if not data:
            return
        if not self.ready.done() or b"PING" in data:
            self.control(data)
        if b"LT" in data and self.index != 0:
            self.count(data)

    def control(self, data: bytes) -> None:
        if self.target.protocol == "line":
            if not self.ready.done():
                self.ready.set_result(True)
            return
        for line in data.split(b"\n"):
            words = line.strip().split(b" ")
            if words[0] == b"PING":
                self.send("PONG " + b" ".join(words[1:]).decode("ascii", "replace"))
                continue
            code = words[1] if len(words) > 1 else b""
            waiting = {b"001": self.registered, b"381": self.opered, b"366": self.ready}.get(code)
            if waiting is not None and not waiting.done():
                waiting.set_result(True)
            elif code in IRC_TROUBLE and not self.ready.done():
                log(f"loadchat {self.target.name} client {self.index}: {line[:100]!r}")

    def count(self, data: bytes) -> None:
        state = self.state
        if state.round < 0:
            return
        now = time.monotonic_ns()
        for match in TOKEN.finditer(data):
            if int(match.group(1)) != state.round:
                continue
            seq = int(match.group(2))
            if seq >= len(self.seen):
                continue
            if self.seen[seq]:
                state.duplicates += 1
                continue
            self.seen[seq] = 1
            self.unique += 1
            (state.wsLatencies if self.ws else state.latencies).append(now - int(match.group(3)))
            state.lastReceipt = max(state.lastReceipt, now)
        if self.unique >= len(self.seen):
            state.checkDone()


class WSClient(Client):
    """
    A receiver on the chat's WebSocket (C{GET /chat} upgrade, then one
    line per text frame): frames are decoded into lines for L{Client}.
    """

    ws = True

    def __init__(self, index: int, target: Target, state: TargetState, where: tuple[str, int]) -> None:
        super().__init__(index, target, state)
        self.where = where
        self.raw = b""
        self.upgraded = False

    def connection_made(self, transport: Any) -> None:
        self.transport = transport
        key = base64.b64encode(os.urandom(16)).decode("ascii")
        transport.write((f"GET /chat HTTP/1.1\r\nHost: {self.where[0]}:{self.where[1]}\r\nUpgrade: websocket\r\n"
                         f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n")
                        .encode("ascii"))

    def send(self, text: str) -> None:
        if not self.closed:
            self.transport.write(frame(0x1, text.encode()))

    def data_received(self, data: bytes) -> None:
        raw = self.raw + data
        if not self.upgraded:
            end = raw.find(b"\r\n\r\n")
            if end < 0:
                self.raw = raw
                return
            if raw.split(b" ", 2)[1:2] != [b"101"]:
                log(f"loadchat {self.target.name} ws client {self.index}: {raw[:80]!r}")
                self.transport.close()
                return
            self.upgraded, raw = True, raw[end + 4:]
        lines = []
        while len(raw) >= 2:
            opcode, length, start = raw[0] & 0x0F, raw[1] & 0x7F, 2
            if length == 126:
                length, start = int.from_bytes(raw[2:4], "big"), 4
            elif length == 127:
                length, start = int.from_bytes(raw[2:10], "big"), 10
            if len(raw) < start + length:
                break
            payload, raw = raw[start:start + length], raw[start + length:]
            if opcode in (0x0, 0x1):
                lines.append(payload + b"\n")
            elif opcode == 0x9:
                self.transport.write(frame(0xA, payload))
            elif opcode == 0x8:
                self.transport.close()
        self.raw = raw
        if lines:
            super().data_received(b"".join(lines))


def frame(opcode: int, payload: bytes) -> bytes:
    """
    One masked client frame (RFC 6455 §5.2).
    """
    size = len(payload)
    head = bytes([0x80 | opcode])
    if size < 126:
        head += bytes([0x80 | size])
    elif size < 65536:
        head += bytes([0x80 | 126]) + size.to_bytes(2, "big")
    else:
        head += bytes([0x80 | 127]) + size.to_bytes(8, "big")
    mask = os.urandom(4)
    repeated = (mask * (size // 4 + 1))[:size]
    masked = (int.from_bytes(payload, "big") ^ int.from_bytes(repeated, "big")).to_bytes(size, "big")
    return head + mask + masked


def isWebSocket(args: argparse.Namespace, target: Target, index: int) -> bool:
    """
    Whether receiver C{index} of C{target} joins over the WebSocket (an
    even spread of C{--ws-share} of them; never the sender).
    """
    share = args.ws_share
    return (target.name in args.wsEndpoints and index != 0 and share > 0
            and int(index * share) != int((index - 1) * share))


class TargetState:
    """
    This process's clients of one target and the counters of the current round.
    """

    def __init__(self, target: Target) -> None:
        self.target = target
        self.clients: list[Client] = []
        self.round = -1
        self.disconnects = 0
        self.done: asyncio.Future | None = None
        self.reset(-1, 0)

    def reset(self, roundNo: int, lines: int) -> None:
        self.round, self.latencies, self.wsLatencies = roundNo, array.array("q"), array.array("q")
        self.duplicates, self.lastReceipt = 0, 0
        for client in self.clients:
            client.seen, client.unique = bytearray(lines if client.index else 0), 0
        self.done = asyncio.get_running_loop().create_future() if roundNo >= 0 else None

    def checkDone(self) -> None:
        if self.done is not None and not self.done.done() and all(
                c.closed or c.unique >= len(c.seen) for c in self.clients):
            self.done.set_result(True)


async def connect(args: argparse.Namespace, state: TargetState, index: int, gate: asyncio.Semaphore) -> Client:
    target = state.target
    loop = asyncio.get_running_loop()
    async with gate:      # bounds simultaneous connects (ngircd's listen backlog is 10)
        if isWebSocket(args, target, index):
            host, port = args.wsEndpoints[target.name]
            _, client = await asyncio.wait_for(loop.create_connection(
                lambda: WSClient(index, target, state, (host, port)), host, port), args.timeout)
        else:
            _, client = await asyncio.wait_for(loop.create_connection(
                lambda: Client(index, target, state), target.host, target.port), args.timeout)
    if target.protocol == "irc":
        await asyncio.wait_for(client.registered, args.timeout)
        if index == 0:     # the sender: operator with +F, or ngircd throttles it
            client.send("OPER bench bench")
            await asyncio.wait_for(client.opered, args.timeout)
            client.send(f"MODE {client.nick} +F")
        client.send(f"JOIN {IRC_CHANNEL}")
    await asyncio.wait_for(client.ready, args.timeout)
    return client


async def sendLines(args: argparse.Namespace, client: Client, roundNo: int, go: int) -> None:
    for seq in range(args.lines):
        delay = (go + seq * 1e9 / args.rate - time.monotonic_ns()) / 1e9
        if delay > 0:
            await asyncio.sleep(delay)
        if client.closed:
            return
        token = f"LT{roundNo}.{seq}.{time.monotonic_ns()}Z"
        client.send(f"PRIVMSG {IRC_CHANNEL} :{token}" if client.target.protocol == "irc" else token)


async def childMain(args: argparse.Namespace, low: int, high: int, pipe: Any) -> None:
    loop = asyncio.get_running_loop()
    states = {}
    setup = {}
    for spec in args.target:
        target = Target(spec)
        state = states[target.name] = TargetState(target)
        gate = asyncio.Semaphore(args.irc_connect_parallel if target.protocol == "irc" else args.connect_parallel)
        began = time.monotonic()
        results = await asyncio.gather(*(connect(args, state, i, gate) for i in range(low, high)),
                                       return_exceptions=True)
        state.clients = [c for c in results if isinstance(c, Client)]
        failures = [f"{e.__class__.__name__}: {e}"[:100] for e in results if not isinstance(e, Client)]
        setup[target.name] = {"connected": len(state.clients), "errors": len(failures),
                              "first_errors": failures[:2], "setup_s": round(time.monotonic() - began, 2)}
    pipe.send(("ready", setup))
    while True:
        message = await loop.run_in_executor(None, pipe.recv)
        if message[0] != "go":
            break
        _, name, roundNo, go = message
        state = states[name]
        state.reset(roundNo, args.lines)
        while time.monotonic_ns() < go:
            await asyncio.sleep((go - time.monotonic_ns()) / 1e9)
        sender = [c for c in state.clients if c.index == 0]
        sending = [asyncio.ensure_future(sendLines(args, c, roundNo, go)) for c in sender]
        deadline = time.monotonic() + args.max_seconds
        if sending:
            await asyncio.wait(sending, timeout=args.max_seconds)
        state.checkDone()
        seen = -1
        while not state.done.done() and time.monotonic() < deadline and len(state.latencies) != seen:
            seen = len(state.latencies)
            try:
                await asyncio.wait_for(asyncio.shield(state.done), args.drain)
            except asyncio.TimeoutError:
                pass
        receivers = [c for c in state.clients if c.index != 0]
        pipe.send(("result", {
            "expected": len(receivers) * args.lines, "unique": sum(c.unique for c in receivers),
            "duplicates": state.duplicates, "disconnects": state.disconnects,
            "last": state.lastReceipt, "latencies": state.latencies.tobytes(),
            "ws_latencies": state.wsLatencies.tobytes(), "ws_receivers": sum(1 for c in receivers if c.ws)}))
        state.reset(-1, 0)
    for state in states.values():
        for client in state.clients:
            client.transport.close()
    await asyncio.sleep(0.1)


def runQueueWait(pid: int) -> int | None:
    """
    Nanoseconds the threads of C{pid} have spent runnable but waiting for
    a CPU (C{/proc/PID/task/*/schedstat}): preemption by other processes.
    """
    total = 0
    try:
        for task in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{task}/schedstat") as f:
                total += int(f.read().split()[1])
    except (OSError, ValueError, IndexError):
        return None
    return total


def latencySummary(latencies: array.array) -> dict:
    ordered = sorted(latencies)
    return {"delivered": len(ordered), "p50_ms": millis(percentile(ordered, 50)),
            "p99_ms": millis(percentile(ordered, 99)), "max_ms": millis(ordered[-1] if ordered else None)}


def child(args: argparse.Namespace, low: int, high: int, pipe: Any) -> None:
    raiseFileLimit((high - low) * len(args.target) + 256)
    try:
        asyncio.run(childMain(args, low, high, pipe))
    except Exception as e:   # tell the parent rather than leave it waiting
        pipe.send(("error", f"{e.__class__.__name__}: {e}"[:300]))


def receive(pipe: Any, timeout: float) -> tuple:
    if not pipe.poll(timeout):
        return ("error", f"no answer within {timeout:.0f} s")
    try:
        return pipe.recv()
    except EOFError:
        return ("error", "client process ended")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--target", action="append", required=True, help="NAME=HOST:PORT:line|irc (repeatable)")
    parser.add_argument("-n", "--clients", type=int, default=100, help="clients per target")
    parser.add_argument("-m", "--lines", type=int, default=100, help="lines sent per round (the count bound)")
    parser.add_argument("--rate", type=float, default=50.0, help="lines/s sent (paced)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--warmup", type=int, default=1,
                        help="unreported rounds first, every target in each (the generator's first round costs it "
                             "twice the CPU of the later ones)")
    parser.add_argument("--procs", type=int, default=1, help="client processes")
    parser.add_argument("--connect-parallel", type=int, default=16,
                        help="per process; keep procs x this below the listen backlog (Twisted: 50)")
    parser.add_argument("--irc-connect-parallel", type=int, default=4,
                        help="per process; keep procs x this below ngircd's backlog of 10")
    parser.add_argument("--drain", type=float, default=3.0, help="stop a round after this long without receipts")
    parser.add_argument("--timeout", type=float, default=60.0, help="per-client setup step (s)")
    parser.add_argument("--max-seconds", type=float, default=60.0, help="wall-clock bound per round (s)")
    parser.add_argument("--settle", type=float, default=1.0, help="pause after setup (s)")
    parser.add_argument("--pid", action="append", default=[], metavar="NAME=PID",
                        help="a target's server process: its CPU per delivered line is measured (repeatable)")
    parser.add_argument("--label", default="")
    parser.add_argument("--ws", action="append", default=[], metavar="NAME=HOST:PORT",
                        help="the web listener of target NAME: a share of its receivers join over its /chat WebSocket")
    parser.add_argument("--ws-share", type=float, default=0.25, help="share of receivers on the WebSocket (0 to 1)")
    args = parser.parse_args(argv)
    args.wsEndpoints = {}
    for spec in args.ws:
        name, _, where = spec.partition("=")
        host, _, port = where.rpartition(":")
        args.wsEndpoints[name] = (host, int(port))
    targets = [Target(spec) for spec in args.target]
    pids = {name: int(pid) for name, _, pid in (spec.partition("=") for spec in args.pid) if pid.isdigit()}
    context = multiprocessing.get_context("fork")
    share = -(-args.clients // args.procs)
    processes, pipes = [], []
    for low in range(0, args.clients, share):
        mine, theirs = context.Pipe()
        process = context.Process(target=child, args=(args, low, min(args.clients, low + share), theirs),
                                  daemon=True)
        process.start()
        processes.append(process)
        pipes.append(mine)
    setup: dict = {t.name: {"connected": 0, "errors": 0, "first_errors": [], "setup_s": 0.0} for t in targets}
    fatal: list[str] = []
    for pipe in pipes:
        message = receive(pipe, args.timeout * 4 + args.clients * len(targets) * 0.2)
        if message[0] != "ready":
            fatal.append(message[1])
            continue
        for name, part in message[1].items():
            total = setup[name]
            total["connected"] += part["connected"]
            total["errors"] += part["errors"]
            total["first_errors"] += part["first_errors"]
            total["setup_s"] = max(total["setup_s"], part["setup_s"])
    for name, total in setup.items():
        log(f"loadchat {name}: {total['connected']}/{args.clients} clients ready in {total['setup_s']} s")
    time.sleep(args.settle)
    runs = []
    for roundNo in range(args.warmup + args.rounds if not fatal else 0):
        measured = roundNo - args.warmup               # < 0: a warm-up round, not reported
        shift = measured % len(targets)
        for target in targets[shift:] + targets[:shift]:
            go = time.monotonic_ns() + 200_000_000
            pid = pids.get(target.name)
            cpuBefore = cpuSeconds(pid) if pid else None
            generatorBefore = cpuSeconds(os.getpid())
            waitBefore = runQueueWait(pid) if pid else None
            for pipe in pipes:
                pipe.send(("go", target.name, roundNo, go))
            parts = [receive(pipe, args.max_seconds + args.drain * 3 + 30) for pipe in pipes]
            fatal += [p[1] for p in parts if p[0] != "result"]
            parts = [p[1] for p in parts if p[0] == "result"]
            tcp, ws = array.array("q"), array.array("q")
            for part in parts:
                tcp.frombytes(part["latencies"])
                ws.frombytes(part["ws_latencies"])
            latencies = tcp + ws
            expected = sum(p["expected"] for p in parts)
            unique = sum(p["unique"] for p in parts)
            last = max((p["last"] for p in parts), default=0)
            span = (last - go) / 1e9 if last > go else None
            ordered = sorted(latencies)
            run = {"target": target.name, "round": measured, "expected": expected, "delivered": unique,
                   "lost": expected - unique, "duplicates": sum(p["duplicates"] for p in parts),
                   "disconnects": sum(p["disconnects"] for p in parts),
                   "deliveries_per_s": round(unique / span, 1) if span else 0.0,
                   "p50_ms": millis(percentile(ordered, 50)), "p99_ms": millis(percentile(ordered, 99)),
                   "max_ms": millis(ordered[-1] if ordered else None)}
            # per message = per line delivered to one client (the server's work is the fan-out)
            run.update(cpuPerOperation(cpuBefore, cpuSeconds(pid) if pid else None, unique))
            # the load generator's own CPU (all its processes), on the same cores as the server
            generator = cpuPerOperation(generatorBefore, cpuSeconds(os.getpid()), unique)
            waitAfter = runQueueWait(pid) if pid else None
            if waitBefore is not None and waitAfter is not None:
                run["runqueue_wait_ms"] = round((waitAfter - waitBefore) / 1e6, 1)
            if generator:
                run["generator_cpu_s"] = generator["cpu_s"]
                run["generator_cpu_us_per_msg"] = generator.get("cpu_us_per_msg")
            if "cpu_s" in run and args.lines:
                run["cpu_us_per_line"] = round(run["cpu_s"] / args.lines * 1e6, 1)
            if target.name in args.wsEndpoints:
                run["tcp"], run["ws"] = latencySummary(tcp), latencySummary(ws)
                run["ws"]["receivers"] = sum(p["ws_receivers"] for p in parts)
            log(f"loadchat {target.name} round {measured}{' (warm-up)' if measured < 0 else ''}: "
                f"p50 {run['p50_ms']} ms p99 {run['p99_ms']} ms "
                f"lost {run['lost']} disconnects {run['disconnects']}"
                + (f" (tcp p50 {run['tcp']['p50_ms']} p99 {run['tcp']['p99_ms']}, websocket p50 "
                   f"{run['ws']['p50_ms']} p99 {run['ws']['p99_ms']} ms)" if "ws" in run else ""))
            if measured >= 0:
                runs.append(run)
    for pipe in pipes:
        try:
            pipe.send(("stop",))
        except OSError:
            pass
    for process in processes:
        process.join(10)
        if process.is_alive():
            process.terminate()
    emit({"tool": "loadchat", "label": args.label, "clients": args.clients, "lines": args.lines,
          "rate": args.rate, "rounds": args.rounds, "warmup": args.warmup, "procs": len(processes), "setup": setup,
          "runs": runs, "errors": fatal[:5]})


if __name__ == "__main__":
    main()
