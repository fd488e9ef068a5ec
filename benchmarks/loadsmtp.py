# -*- test-case-name: tests.test_benchmarks -*-
"""
SMTP ingest load generator: C{--concurrency} workers send C{--count}
messages of C{--size} bytes in lockstep (no PIPELINING), each message
counted when the server answers 250 after the final dot.

    python benchmarks/loadsmtp.py --port 2525 -c 10 --size 1k --count 1000
    python benchmarks/loadsmtp.py --port 2525 -c 50 --size 1k --per-session 1

C{--per-session 0} keeps one connection per worker for all its messages;
C{1} opens a connection per message (connect, banner and EHLO are then
part of that message's latency).  Bounded by C{--count} and by
C{--max-seconds}.  Failures (non-2xx, resets, timeouts) are counted, never
retried.  Prints one JSON line.
"""
from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import LOOPBACK, emit, log, millis, percentile, raiseFileLimit, sizeArg  # noqa: E402


class Refused(Exception):
    """The server answered something other than what the step expects."""


def buildMessage(size: int, sender: str, recipient: str) -> bytes:
    """
    A message with C{size} bytes of body in 78-octet CRLF lines, followed by
    the end-of-data line; no line starts with a dot.
    """
    header = (f"From: <{sender}>\r\nTo: <{recipient}>\r\nSubject: load {size}\r\n"
              f"Message-ID: <load-{size}-{os.getpid()}@bench.invalid>\r\n\r\n").encode()
    line = b"0123456789" * 7 + b"abcdef\r\n"
    whole, rest = divmod(size, len(line))
    tail = b"z" * max(0, rest - 2) + b"\r\n" if rest else b""
    return header + line * whole + tail + b".\r\n"


async def reply(reader: asyncio.StreamReader) -> int:
    """
    Read one SMTP reply, multi-line or not; return its code.
    """
    while True:
        line = await reader.readline()
        if len(line) < 4:
            raise Refused(f"connection closed or short reply {line!r}")
        if line[3:4] != b"-":
            return int(line[:3])


async def expect(reader: asyncio.StreamReader, *codes: int) -> None:
    code = await reply(reader)
    if code not in codes:
        raise Refused(f"got {code}, wanted {codes}")


class Connection:
    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def open(self) -> None:
        self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        await expect(self.reader, 220)
        self.writer.write(b"EHLO load.bench.invalid\r\n")
        await expect(self.reader, 250)

    async def send(self, envelope: tuple[bytes, bytes], message: bytes) -> None:
        reader, writer = self.reader, self.writer
        assert reader is not None and writer is not None
        writer.write(envelope[0])
        await expect(reader, 250)
        writer.write(envelope[1])
        await expect(reader, 250, 251)
        writer.write(b"DATA\r\n")
        await expect(reader, 354)
        writer.write(message)
        await writer.drain()
        await expect(reader, 250)

    async def close(self, polite: bool) -> None:
        writer, self.writer = self.writer, None
        if writer is None:
            return
        try:
            if polite:
                writer.write(b"QUIT\r\n")
                await asyncio.wait_for(reply(self.reader), 5)   # type: ignore[arg-type]
            writer.close()
        except (OSError, Refused, asyncio.TimeoutError, ValueError):
            writer.transport.abort()


async def run(args: argparse.Namespace) -> dict:
    message = buildMessage(args.size, args.sender, args.recipient)
    envelope = (f"MAIL FROM:<{args.sender}>\r\n".encode(), f"RCPT TO:<{args.recipient}>\r\n".encode())
    left = [args.count]
    latencies: list[int] = []
    errors: list[str] = []
    deadline = time.monotonic() + args.max_seconds

    async def worker() -> None:
        connection, sent = None, 0
        while left[0] > 0 and time.monotonic() < deadline:
            left[0] -= 1
            started = time.perf_counter_ns()
            try:
                if connection is None:
                    connection, sent = Connection(args.host, args.port), 0
                    await asyncio.wait_for(connection.open(), args.timeout)
                await asyncio.wait_for(connection.send(envelope, message), args.timeout)
                latencies.append(time.perf_counter_ns() - started)
                sent += 1
                if args.per_session and sent >= args.per_session:
                    await connection.close(polite=True)
                    connection = None
            except (OSError, Refused, asyncio.TimeoutError, asyncio.IncompleteReadError, ValueError) as e:
                errors.append(f"{e.__class__.__name__}: {e}"[:120])
                if connection is not None:
                    await connection.close(polite=False)
                connection = None
        if connection is not None:
            await connection.close(polite=True)

    began = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(args.concurrency)))
    elapsed = time.perf_counter() - began
    done = len(latencies)
    return {
        "tool": "loadsmtp", "target": f"{args.host}:{args.port}", "label": args.label,
        "concurrency": args.concurrency, "size": args.size, "per_session": args.per_session,
        "requested": args.count, "ok": done, "errors": len(errors),
        "first_errors": sorted(set(errors))[:3], "elapsed_s": round(elapsed, 4),
        "msgs_per_s": round(done / elapsed, 2) if elapsed and done else 0.0,
        "mb_per_s": round(done * len(message) / elapsed / 1e6, 3) if elapsed and done else 0.0,
        "p50_ms": millis(percentile(latencies, 50)),
        "p99_ms": millis(percentile(latencies, 99)),
        "max_ms": millis(max(latencies) if latencies else None),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--host", default=LOOPBACK)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("-c", "--concurrency", type=int, default=10)
    parser.add_argument("--size", type=sizeArg, default=1024, help="body bytes (k/m suffix)")
    parser.add_argument("-n", "--count", type=int, default=1000, help="messages (the count bound)")
    parser.add_argument("--per-session", type=int, default=0, help="messages per connection; 0: unlimited")
    parser.add_argument("--sender", default="load@bench.invalid")
    parser.add_argument("--recipient", default="joe@example.com")
    parser.add_argument("--timeout", type=float, default=30.0, help="per step (s)")
    parser.add_argument("--max-seconds", type=float, default=60.0, help="wall-clock bound (s)")
    parser.add_argument("--label", default="")
    args = parser.parse_args(argv)
    raiseFileLimit(args.concurrency * 2 + 256)
    result = asyncio.run(run(args))
    log(f"loadsmtp {result['target']} c={args.concurrency} size={args.size} "
        f"per-session={args.per_session}: {result['ok']} ok, {result['errors']} errors, "
        f"{result['msgs_per_s']} msg/s, p50 {result['p50_ms']} ms, p99 {result['p99_ms']} ms")
    emit(result)


if __name__ == "__main__":
    main()
