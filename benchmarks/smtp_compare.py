# -*- test-case-name: tests.smtp -*-
"""
SMTP ingest benchmark, side by side: our server (C{twistd -n mailsuite},
fsync on), the Twisted mail anchor and the aiosmtpd + Maildir anchor, all
driven by C{../shared/bench/compare.py} with C{smtp_ingest.py} in one run.

    .venv/bin/python benchmarks/smtp_compare.py --repeats 3 -- -n 1000 -c 1,10,50 --sizes 1k,100k

Every server listens on loopback below 32768; every process this script
starts is stopped by its PID at the end.  Not a test: run it by hand.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
BENCH = os.path.normpath(os.path.join(ROOT, "..", "shared", "bench"))
VENV = os.path.dirname(sys.executable)

TAP = """\
hostname: bench.example.com
domains: [example.com]
data_dir: {data}
smtp: {{listen: ["tcp:{port}:interface=127.0.0.1"], max_message_size: 25MB, max_connections_per_ip: 500}}
submission: {{listen: []}}
pop3: {{listen: []}}
chat: {{listen: []}}
"""


def freePort() -> int:
    for port in range(25300, 32000):
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free port")


def waitForPort(port: int, process: subprocess.Popen, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server on {port} exited with {process.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
                s.recv(100)
                return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"nothing listening on {port}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--only", default="ours,twistd,aiosmtpd", help="comma list of targets")
    parser.add_argument("--keep", action="store_true", help="keep the scratch folder")
    parser.add_argument("--variant", action="append", default=[],
                        help="NAME:VAR=VALUE,...: one more of our servers with these environment variables")
    parser.add_argument("ingest", nargs=argparse.REMAINDER, help="-- smtp_ingest.py arguments")
    args = parser.parse_args()
    ingest = [a for a in args.ingest if a != "--"] or ["-n", "1000", "-c", "1,10,50", "--sizes", "1k,100k"]
    targets = args.only.split(",")
    scratch = tempfile.mkdtemp(prefix="smtp-bench-")
    processes: list[subprocess.Popen] = []
    ports: dict[str, int] = {}
    try:
        variants = [("ours", {})] if "ours" in targets else []
        for spec in args.variant:
            name, _, assignments = spec.partition(":")
            variants.append((name, dict(a.split("=", 1) for a in assignments.split(",") if a)))
            targets.append(name)
        for name, environment in variants:
            port = ports[name] = freePort()
            tap = os.path.join(scratch, f"{name}.yaml")
            with open(tap, "w") as f:
                f.write(TAP.format(data=os.path.join(scratch, name), port=port))
            subprocess.run([os.path.join(VENV, "mailsuite-admin"), "--config", tap, "users", "add", "joe",
                            "--password-stdin"], input=b"pw\n", check=True, stdout=subprocess.DEVNULL)
            processes.append(subprocess.Popen(
                [os.path.join(VENV, "twistd"), "-n", "--pidfile=", "-l", os.path.join(scratch, f"{name}.log"),
                 "mailsuite", "--config", tap], env=dict(os.environ, **environment)))
            waitForPort(port, processes[-1])
        if "twistd" in targets:
            port = ports["twistd"] = freePort()
            env = dict(os.environ, BENCH_MAIL_ROOT=os.path.join(scratch, "twistd", "example.com"),
                       BENCH_SMTP=f"tcp:{port}:interface=127.0.0.1",
                       BENCH_POP3=f"tcp:{freePort() + 1}:interface=127.0.0.1")
            processes.append(subprocess.Popen(
                [os.path.join(VENV, "twistd"), "-n", "--pidfile=", "-l", os.path.join(scratch, "twistd.log"),
                 "-y", os.path.join(BENCH, "anchors", "twistd_mail.tac")], env=env, cwd=scratch))
            waitForPort(port, processes[-1])
        if "aiosmtpd" in targets:
            port = ports["aiosmtpd"] = freePort()
            processes.append(subprocess.Popen(
                [sys.executable, os.path.join(BENCH, "anchors", "aiosmtpd_maildir.py"), "--port", str(port),
                 "--maildir", os.path.join(scratch, "aiosmtpd-md")], stderr=subprocess.DEVNULL))
            waitForPort(port, processes[-1])
        command = [sys.executable, os.path.join(BENCH, "compare.py"), "--repeats", str(args.repeats)]
        for name in targets:
            command += ["--target", f"{name}=127.0.0.1:{ports[name]}"]
        command += ["--", os.path.join(BENCH, "smtp_ingest.py"), *ingest]
        print("+", " ".join(command), file=sys.stderr)
        result = subprocess.run(command, stdout=subprocess.PIPE, check=True)
        summary = json.loads(result.stdout.decode().strip().splitlines()[-1])["summary"]
        for cell, metrics in summary.items():
            print(cell)
            for metric in ("msgs_per_s", "p50_ms", "p99_ms"):
                values = metrics.get(metric, {})
                shown = "  ".join(f"{name}={v['median']}" for name, v in values.items())
                print(f"    {metric:10} {shown}")
    finally:
        for process in processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in processes:
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
        if not args.keep:
            shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
