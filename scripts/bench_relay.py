#!/usr/bin/env python3
"""
A first measurement of the relay, end to end: C{--concurrency} smtplib
clients submit C{--count} messages of C{--size} octets (AUTH on the
submission port) to a real C{twistd -n mailsuite} in smarthost mode
(plaintext, loopback) towards Postfix's C{smtp-sink}; each message is
fsync'd into the queue before its 250 and relayed.

Reported: messages per second delivered end to end (first submission to
last C{status=sent}), and the p50/p99 of the relay's C{delay} (from the
moment the message was queued, just before our 250, to the sink's 250).
Not yet part of C{benchmarks/run.py} (no Postfix-relaying anchor).

    .venv/bin/python scripts/bench_relay.py --count 500 --concurrency 10
"""
from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import smtplib
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from twisted_mail_suite.testing.configfile import prepareDirectory  # noqa: E402
from twisted_mail_suite.testing.process import SuiteProcess  # noqa: E402

SENT = re.compile(r"to=<[^>]*>, relay=\S+, delay=([0-9.]+), attempts=\d+, status=sent")


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))] if ordered else 0.0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    parser.add_argument("--count", type=int, default=500)
    parser.add_argument("--concurrency", type=int, default=10)
    parser.add_argument("--size", type=int, default=1024)
    parser.add_argument("--sink-port", type=int, default=26251)
    parser.add_argument("--max-seconds", type=float, default=120.0)
    args = parser.parse_args()
    sinkPath = shutil.which("smtp-sink")
    if sinkPath is None:
        print(json.dumps({"skipped": "smtp-sink (Debian package postfix) is not installed"}))
        return 0
    work = tempfile.mkdtemp(prefix="ms-bench-")
    sink = subprocess.Popen([sinkPath, "-u", "nobody", "-c", f"127.0.0.1:{args.sink_port}", "256"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    config = prepareDirectory(work, {"alice": "secret"}, roles=("submission",), sections={"relay": {
        "mode": "smarthost", "smarthost": f"127.0.0.1:{args.sink_port}", "smarthost_tls": "none"}})
    logPath = os.path.join(work, "twistd.log")
    child = SuiteProcess(config, arguments=["-l", logPath], pythonPath=ROOT)
    try:
        child.start()
        port = child.ports["submission"]
        body = b"Subject: bench\r\n\r\n" + (b"x" * 76 + b"\r\n") * max(1, args.size // 78)
        perWorker = [args.count // args.concurrency + (i < args.count % args.concurrency)
                     for i in range(args.concurrency)]
        failures: list[str] = []

        def worker(n: int) -> None:
            try:
                with smtplib.SMTP("127.0.0.1", port, timeout=30) as client:
                    client.login("alice", "secret")
                    for i in range(n):
                        client.sendmail("alice@example.test", [f"r{i}@remote.test"], body)
            except Exception as e:       # counted, not retried
                failures.append(repr(e))

        began = time.monotonic()
        threads = [threading.Thread(target=worker, args=(n,)) for n in perWorker]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        submitted = time.monotonic() - began
        delays: list[float] = []
        deadline = began + args.max_seconds
        while time.monotonic() < deadline:
            with open(logPath, encoding="utf-8", errors="replace") as f:
                delays = [float(m.group(1)) for m in SENT.finditer(f.read())]
            if len(delays) >= args.count - len(failures):
                break
            time.sleep(0.1)
        total = time.monotonic() - began
        print(json.dumps({
            "messages": args.count, "concurrency": args.concurrency, "size": args.size,
            "failures": len(failures), "delivered": len(delays),
            "submitted_per_second": round(args.count / submitted, 1),
            "delivered_per_second_end_to_end": round(len(delays) / total, 1),
            "delay_p50_ms": round(percentile(delays, 50) * 1000, 1),
            "delay_p99_ms": round(percentile(delays, 99) * 1000, 1)}))
    finally:
        child.terminate()
        sink.send_signal(signal.SIGKILL)
        sink.wait()
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
