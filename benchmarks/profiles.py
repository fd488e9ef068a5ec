# -*- test-case-name: tests.test_benchmarks -*-
"""
Where our server's time goes: sample it with py-spy while one load run
goes on, and boil the stacks down to a few lines for docs/performance.md.

py-spy is not installed by the benchmark (C{pip install py-spy}); without
it the run says so and leaves profiles out.  Samples are taken with
C{--nonblocking} (the server is never paused) and per thread, so the
reactor thread and the thread pool (fsync, password hashing) are told apart.
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections import Counter
from typing import Callable

from common import log

_LINE = re.compile(r":\d+\)$")
PACKAGE = "twisted_mail_suite/"


def pySpy() -> str | None:
    beside = os.path.join(os.path.dirname(sys.executable), "py-spy")
    return beside if os.access(beside, os.X_OK) else shutil.which("py-spy")


def record(pid: int, seconds: float, output: str, load: Callable[[], dict]) -> dict:
    """
    Sample C{pid} for C{seconds} while C{load()} runs; return the summary
    (see L{summarize}) with the load's result under C{"load"}.
    """
    spy = pySpy()
    if spy is None:
        return {"error": "py-spy is not installed (pip install py-spy)"}
    sampler = subprocess.Popen([spy, "record", "--pid", str(pid), "--duration", str(int(seconds)),
                                "--rate", "250", "--format", "raw", "--nonblocking", "--threads",
                                "--output", output], stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        result = load()
        said, _ = sampler.communicate(timeout=seconds + 30)
    finally:
        if sampler.poll() is None:
            sampler.kill()
            sampler.wait()
    if not os.path.exists(output):
        return {"error": "py-spy wrote nothing: " + said.decode(errors="replace").strip()[-200:],
                "load": result}
    summary = summarize(output)
    summary["load"] = result
    summary["raw"] = output
    log(f"profile: {summary['samples']} samples, reactor thread {summary['reactor_share']:.0%}")
    return summary


def _function(frame: str) -> str:
    """
    C{'f (twisted/internet/tcp.py:123)'} -> C{'f (twisted/internet/tcp.py)'}.
    """
    return _LINE.sub(")", frame.strip())


def summarize(path: str, top: int = 8) -> dict:
    """
    Collapsed stacks -> the share of samples per thread kind, the hottest
    functions on the reactor thread by own time (with their caller), and
    our own functions by inclusive time.
    """
    threads: Counter = Counter()
    own: Counter = Counter()
    inclusive: Counter = Counter()
    total = reactor = 0
    with open(path, errors="replace") as f:
        for line in f:
            stack, _, count = line.rstrip("\n").rpartition(" ")
            if not count.isdigit():
                continue
            samples = int(count)
            frames = stack.split(";")
            kind = "reactor" if "MainThread" in frames[0] else "pool"
            threads[kind] += samples
            total += samples
            if kind != "reactor":
                continue
            reactor += samples
            caller = frames[-2].split(" (")[0] if len(frames) > 2 else ""
            own[_function(frames[-1]) + (f" ← {caller}" if caller else "")] += samples
            for name in {_function(fr) for fr in frames[1:] if PACKAGE in fr}:
                inclusive[name] += samples

    def share(counter: Counter, base: int) -> list[tuple[str, float]]:
        return [(name, round(n / base, 3)) for name, n in counter.most_common(top)] if base else []

    return {"samples": total, "reactor_share": reactor / total if total else 0.0,
            "pool_share": threads["pool"] / total if total else 0.0,
            "reactor_own": share(own, reactor), "ours_inclusive": share(inclusive, reactor)}
