#!/usr/bin/env python
# -*- test-case-name: tests.reliability -*-
"""
The long fuzzing run: the Hypothesis tests of C{tests/reliability/}
(SMTP, POP3 and chat streams, the SMTP session model) with the C{long}
profile, under a wall-clock cap, and how many examples each ran.

    .venv/bin/python scripts/fuzz_long.py --examples 200000 --hours 3
    .venv/bin/python scripts/fuzz_long.py --examples 2000 --json      # a quick look

Each test runs in its own trial process, one after the other (one core),
and is stopped (by its PID) when the cap is reached; a test stopped that
way reports the examples it finished so far only if it got to the end, so
size C{--examples} to the time you give it.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
TESTS = [
    "tests.reliability.test_fuzz_smtp",
    "tests.reliability.test_smtp_model",
    "tests.reliability.test_fuzz_pop3",
    "tests.reliability.test_fuzz_chat",
]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    parser.add_argument("--examples", type=int, default=200_000, help="examples per test")
    parser.add_argument("--hours", type=float, default=3.0, help="wall-clock cap for the whole run")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    stats = tempfile.NamedTemporaryFile(prefix="fuzz-stats-", suffix=".jsonl", delete=False)
    stats.close()
    env = {**os.environ, "PYTHONPATH": ROOT, "MAILSUITE_FUZZ_PROFILE": "long",
           "MAILSUITE_FUZZ_EXAMPLES": str(args.examples), "MAILSUITE_FUZZ_STATS": stats.name}
    trial = os.path.join(os.path.dirname(sys.executable), "trial")
    deadline = time.monotonic() + args.hours * 3600
    began = time.monotonic()
    results = []
    for test in TESTS:
        left = deadline - time.monotonic()
        if left <= 0:
            results.append({"module": test, "outcome": "not run (time cap)"})
            continue
        workDir = tempfile.mkdtemp(prefix="fuzz-trial-")
        process = subprocess.Popen([trial, "--temp-directory", os.path.join(workDir, "_trial_temp"), test],
                                   cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        try:
            output, _ = process.communicate(timeout=left)
            outcome = "passed" if process.returncode == 0 else "FAILED"
        except subprocess.TimeoutExpired:
            os.kill(process.pid, signal.SIGKILL)
            output, _ = process.communicate()
            outcome = "stopped at the time cap"
        shutil.rmtree(workDir, ignore_errors=True)
        entry = {"module": test, "outcome": outcome}
        if outcome == "FAILED":
            entry["output"] = output.decode("utf-8", "replace")[-4000:]
        results.append(entry)
    with open(stats.name, encoding="utf-8") as f:
        counts = [json.loads(line) for line in f if line.strip()]
    os.unlink(stats.name)
    report = {"examples_per_test": args.examples, "modules": results, "tests": counts,
              "total_examples": sum(c["examples"] for c in counts),
              "seconds": round(time.monotonic() - began, 1),
              "ok": all(r["outcome"] in ("passed", "stopped at the time cap") for r in results)}
    if args.json:
        print(json.dumps(report, sort_keys=True))
    else:
        for entry in results:
            print(f"{entry['module']:40} {entry['outcome']}")
            if "output" in entry:
                print(entry["output"])
        for count in counts:
            print(f"  {count['test']:40} {count['examples']:>9} examples in {count['seconds']} s")
        print(f"total {report['total_examples']} examples in {report['seconds']} s")
    return 0 if report["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
