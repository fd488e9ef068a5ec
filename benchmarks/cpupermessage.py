# -*- test-case-name: tests.test_benchmarks -*-
"""
CPU per SMTP message of our server: start it (SMTP only, through
L{targets.startOurs}), send C{--count} messages with L{loadsmtp}, and
divide the server's C{utime + stime} (C{/proc/PID/stat}, read before and
after) by the messages accepted.  On a shared machine this is steadier
than messages per second: other processes steal wall-clock time, not the
server's CPU time.  Several rounds, each on a fresh server; prints one
JSON line with every round and the median and minimum per variant.

    python benchmarks/cpupermessage.py --count 3000 --rounds 3
    python benchmarks/cpupermessage.py --variant base=/tmp/base --variant new=   # A/B, interleaved

A variant is C{NAME=PYTHONPATH} (empty: this installation): the server
runs with that folder first on its C{PYTHONPATH} (another checkout of the
suite); the variants' rounds alternate (A B, B A, A B, ...), so load from
elsewhere on the machine falls on both alike.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import emit, lastJSONLine, log, median  # noqa: E402
from targets import Server, startOurs  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))


def cpuSeconds(pid: int) -> float:
    """
    C{utime + stime} of C{pid} in seconds, from C{/proc/PID/stat}.
    """
    with open(f"/proc/{pid}/stat", encoding="ascii") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def oneRound(parent: str, args: argparse.Namespace, number: int, pythonPath: str) -> dict:
    environment = {"PYTHONPATH": pythonPath} if pythonPath else None
    server = startOurs(parent, ("smtp",), ["joe"], name=f"ours{number}", environment=environment)
    try:
        port = server.ports["smtp"]
        warm = [sys.executable, os.path.join(HERE, "loadsmtp.py"), "--port", str(port), "-c",
                str(args.concurrency), "--size", args.size, "--per-session", str(args.per_session)]
        subprocess.run(warm + ["--count", "200"], check=True, capture_output=True)
        before = cpuSeconds(server.pid)
        done = subprocess.run(warm + ["--count", str(args.count), "--max-seconds", "600"],
                              check=True, capture_output=True, text=True)
        after = cpuSeconds(server.pid)
    finally:
        server.terminate()
        Server.running.remove(server)   # type: ignore[arg-type]
    result = lastJSONLine(done.stdout)
    cpu = after - before
    return {"ok": result["ok"], "errors": result["errors"], "cpu_s": round(cpu, 3),
            "cpu_us_per_msg": round(cpu / result["ok"] * 1e6, 1) if result["ok"] else None,
            "msgs_per_s": result["msgs_per_s"], "first_errors": result.get("first_errors", [])}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-n", "--count", type=int, default=3000)
    parser.add_argument("-c", "--concurrency", type=int, default=10)
    parser.add_argument("--size", default="1k")
    parser.add_argument("--per-session", type=int, default=0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--variant", action="append", default=[],
                        help="NAME=PYTHONPATH, repeatable (default: this installation alone)")
    args = parser.parse_args(argv)
    variants = [tuple(v.split("=", 1)) for v in args.variant] or [("ours", "")]
    rounds: dict[str, list[dict]] = {name: [] for name, _ in variants}
    with tempfile.TemporaryDirectory(prefix="cpupermsg-") as parent:
        started = 0
        for number in range(args.rounds):
            for name, path in variants if number % 2 == 0 else variants[::-1]:
                rounds[name].append(oneRound(parent, args, started, path))
                started += 1
    summary = {}
    for name, results in rounds.items():
        values = [r["cpu_us_per_msg"] for r in results if r["cpu_us_per_msg"] is not None]
        summary[name] = {"median_us": median(values), "min_us": min(values) if values else None}
        log(f"cpupermessage {name}: median {summary[name]['median_us']} us, min {summary[name]['min_us']} us "
            f"CPU per message ({len(values)} rounds)")
    emit({"variants": summary, "rounds": rounds, "count": args.count, "concurrency": args.concurrency,
          "size": args.size, "per_session": args.per_session})


if __name__ == "__main__":
    main()
