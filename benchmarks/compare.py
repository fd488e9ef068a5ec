# -*- test-case-name: tests.test_benchmarks -*-
"""
Before and after: the SMTP ingest of two (or more) checkouts of the suite,
interleaved, with the figures a shared machine blurs least.

    python benchmarks/compare.py before=../old-checkout after=. -c 1,10 --count 300 --rounds 2
    python benchmarks/compare.py before=../old-checkout after=. -c 1,10 --count 300 --callgrind
    python benchmarks/compare.py before=../old-checkout after=. -c 1,50 --per-session 1 --count 2000
    python benchmarks/compare.py quiet=. scraped=.,scrape=0.1 -c 10 --count 3000

A checkout may carry options after a comma: C{scrape=SECONDS} gives its
server a web listener and fetches C{/metrics} every SECONDS while the
load runs (the cost of being scraped; the checkout must have the HTTP
listener).

Each round starts a fresh server per checkout (C{twistd -n mailsuite}
with that checkout first on C{PYTHONPATH}, SMTP only, fsync on, a minimal
tap.yaml that every version of the suite reads), sends C{--count} 1 KiB
messages with C{loadsmtp.py} at each concurrency, and reports per run:
messages per second, p50/p99, and the server's CPU time per message
(utime + stime of the process and its threads, from C{/proc}).  The
checkout order alternates per round.  C{--per-session N} (passed to
C{loadsmtp.py}) opens a connection per N messages, so that a connection's
cost (accept, greeting, EHLO, close) is part of each message's; the
default, 0, keeps one connection per client for the whole run.

With C{--callgrind}, each server runs under C{valgrind --tool=callgrind}
with instrumentation switched on only while the measured load runs
(after 20 warm-up messages): the figure is machine instructions per
message, the same within a few per cent whatever else the machine is
doing (the rest varies with how the event loop batches the clients).
Throughput under valgrind means nothing and is not reported.

Prints one JSON line per run, then a summary line per checkout and
concurrency (medians).
"""
from __future__ import annotations

import argparse
import glob
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.dirname(HERE))
from common import median  # noqa: E402

from twisted_mail_suite.testing.process import SuiteProcess  # noqa: E402

CONFIG = """\
hostname: mx.example.test
domains: [example.test]
data_dir: {folder}/data
users_file: {folder}/users.passwd
smtp: {{listen: ["tcp:0:interface=127.0.0.1"], max_connections: 500, max_connections_per_ip: 200}}
submission: {{listen: []}}
pop3: {{listen: []}}
chat: {{listen: []}}
imap: {{listen: []}}
"""
WEB = """http: {listen: ["tcp:0:interface=127.0.0.1"]}
"""


class Valgrinded(SuiteProcess):
    """
    The suite under callgrind, instrumentation off until switched on.
    """

    outFile = ""

    def command(self) -> list[str]:
        return ["valgrind", "--tool=callgrind", "--instr-atstart=no", f"--callgrind-out-file={self.outFile}",
                *super().command()]


def cpuSeconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def instructions(pattern: str) -> int:
    total = 0
    for path in glob.glob(pattern):
        with open(path, errors="replace") as f:
            for line in f:
                if line.startswith("totals:"):
                    total += int(line.split()[1])
    return total


def load(port: int, concurrency: int, count: int, perSession: int = 0) -> dict:
    done = subprocess.run([sys.executable, os.path.join(HERE, "loadsmtp.py"), "--port", str(port),
                           "-c", str(concurrency), "--size", "1k", "--count", str(count),
                           "--per-session", str(perSession),
                           "--recipient", "alice@example.test", "--max-seconds", "900"],
                          capture_output=True, text=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


class Scraper(threading.Thread):
    """
    GET C{/metrics} every C{interval} seconds until stopped.
    """

    def __init__(self, port: int, interval: float) -> None:
        super().__init__(daemon=True)
        self.url, self.interval = f"http://127.0.0.1:{port}/metrics", interval
        self.stopped = threading.Event()
        self.scrapes = 0

    def run(self) -> None:
        while not self.stopped.wait(self.interval):
            with urllib.request.urlopen(self.url, timeout=10) as reply:
                reply.read()
            self.scrapes += 1


FOLDERS: list[str] = []


def measure(checkout: str, concurrency: int, count: int, callgrind: bool, scrape: float = 0.0,
            perSession: int = 0) -> dict:
    folder = tempfile.mkdtemp(prefix="mailsuite-compare-")
    try:
        os.makedirs(os.path.join(folder, "data"))
        with open(os.path.join(folder, "users.passwd"), "w") as f:
            f.write("alice:{PLAIN}pw::::::\n")
        config = os.path.join(folder, "tap.yaml")
        with open(config, "w") as f:
            f.write(CONFIG.format(folder=folder) + (WEB if scrape else ""))
        server = (Valgrinded if callgrind else SuiteProcess)(config, pythonPath=os.path.abspath(checkout),
                                                            env={"PYTHONMALLOC": "malloc"} if callgrind else None)
        server.outFile = os.path.join(folder, "callgrind.out")
        server.start(timeout=300)
        try:
            port = server.ports["smtp"]
            if callgrind:
                load(port, concurrency, 20, perSession)
                subprocess.run(["callgrind_control", "-i", "on", str(server.pid)], capture_output=True, check=True)
            scraper = Scraper(server.ports["http"], scrape) if scrape else None
            before = cpuSeconds(server.pid)
            if scraper is not None:
                scraper.start()
            result = load(port, concurrency, count, perSession)
            used = cpuSeconds(server.pid) - before
            if scraper is not None:
                scraper.stopped.set()
                scraper.join()
            if callgrind:
                subprocess.run(["callgrind_control", "-i", "off", str(server.pid)], capture_output=True, check=True)
        finally:
            server.stop()
        ok = result.get("ok") or 0
        figures = {"ok": ok, "errors": result.get("errors"), "per_session": result.get("per_session")}
        if scrape:
            figures["scrapes"] = scraper.scrapes
        if callgrind:
            figures["instructions_per_msg"] = instructions(server.outFile + "*") // max(1, ok)
        else:
            figures.update(msgs_per_s=result.get("msgs_per_s"), p50_ms=result.get("p50_ms"),
                           p99_ms=result.get("p99_ms"), cpu_us_per_msg=round(used / max(1, ok) * 1e6))
        return figures
    finally:
        FOLDERS.append(folder)      # removed at the end: freed inodes slow the next rounds' (common.setAside)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("checkouts", nargs="+", metavar="NAME=PATH", help="a checkout of the suite to measure")
    parser.add_argument("-c", "--concurrency", default="1,10", help="comma list")
    parser.add_argument("--count", type=int, default=3000, help="messages per run")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--callgrind", action="store_true", help="instructions per message under valgrind")
    parser.add_argument("--per-session", type=int, default=0, metavar="N",
                        help="messages per connection (loadsmtp.py's option); 0: one connection per client")
    args = parser.parse_args(argv)
    if args.callgrind and not shutil.which("valgrind"):
        parser.error("--callgrind needs valgrind (Debian package valgrind)")
    checkouts = []
    for item in args.checkouts:
        name, _, rest = item.partition("=")
        path, *options = rest.split(",")
        settings = dict(option.split("=", 1) for option in options)
        checkouts.append((name, path, float(settings.get("scrape", 0))))
    try:
        return compare(checkouts, args)
    finally:
        for folder in FOLDERS:
            shutil.rmtree(folder, ignore_errors=True)


def compare(checkouts: list[tuple[str, str, float]], args: argparse.Namespace) -> int:
    results: dict[tuple[str, int], list[dict]] = {}
    for round_ in range(args.rounds):
        order = checkouts if round_ % 2 == 0 else checkouts[::-1]
        for concurrency in (int(c) for c in args.concurrency.split(",")):
            for name, path, scrape in order:
                figures = measure(path, concurrency, args.count, args.callgrind, scrape, args.per_session)
                results.setdefault((name, concurrency), []).append(figures)
                print(json.dumps({"round": round_, "checkout": name, "c": concurrency, **figures}), flush=True)
    for (name, concurrency), runs in results.items():
        keys = [k for k in ("instructions_per_msg", "msgs_per_s", "p99_ms", "cpu_us_per_msg") if k in runs[0]]
        print(json.dumps({"summary": name, "c": concurrency, "runs": len(runs),
                          **{k: median([r[k] for r in runs if r.get(k) is not None]) for k in keys},
                          **{f"{k}_range": [min(r[k] for r in runs), max(r[k] for r in runs)] for k in keys}}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
