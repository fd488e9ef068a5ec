# -*- test-case-name: tests.test_benchmarks -*-
"""
The report's parts for issue 17 (speed and memory): the CPU-per-message
note, the idle memory by Python allocation, and the issue's targets.
"""
from __future__ import annotations

from typing import Any

from figures import cells, fmt, med, table

CPU_NOTE = ("Server CPU per message in µs (user + system time of the server's process tree, all threads, "
            "from /proc/PID/stat before and after the run, ÷ messages done; median [min..max])")


def tracedIdleTable(records: list[dict]) -> str:
    """
    What an idle connection holds by Python allocation (C{idlememory.py}), or C{""}.
    """
    traced = [[r["cell"], r["target"], fmt(r["result"].get("kb_per_conn")), r["result"].get("error", "") or ", ".join(
        f"{x['site']} {x['bytes_per_conn']:g}" for x in r["result"].get("sites", [])[:4])]
        for r in records if r["scenario"] == "idle-traced"]
    if not traced:
        return ""
    return ("\n\nThe same by Python allocation (`benchmarks/idlememory.py`: the server in-process under "
            "tracemalloc, growth over K idle connections after a warm-up; the biggest sites in octets):\n\n"
            + table(["protocol", "server", "KiB/conn", "biggest allocation sites"], traced))


def speedTargets(records: list[dict], check: Any, throughput: Any) -> None:
    """
    The targets of issue 17 (speed and memory) beside those of the protocol issues.
    """
    throughput("1 KiB c=1 reuse", "twisted", 1.0, "#17 speed", "1 KiB, c=1: ≥ 1.0× Twisted mail (msgs/s)")
    parts, verdict = [], []
    for cell in cells(records, "smtp"):
        mine, theirs = (med(records, "smtp", cell, t, "cpu_us_per_msg") for t in ("ours", "twisted"))
        if cell.startswith("1 KiB") and mine and theirs:
            parts.append(f"{cell}: {fmt(mine)} / {fmt(theirs)} µs → {mine / theirs:.2f}×")
            verdict.append(mine <= 0.67 * theirs)
    check("#17 speed", "1 KiB: server CPU per message ≤ 0.67× Twisted mail's (every cell)",
          all(verdict) if verdict else None, "; ".join(parts), "no 1 KiB run of ours and Twisted with CPU figures")

    def perConnection(protocol: str, target: str) -> float | None:
        found = next((r["result"] for r in records if r["scenario"] == "idle" and r["cell"] == protocol
                      and r["target"] == target), {})
        return found.get("kb_per_conn")

    for protocol in ("smtp", "pop3"):
        mine, theirs = perConnection(protocol, "ours"), perConnection(protocol, "twisted")
        check("#17 speed", f"KiB per idle {protocol.upper()} connection ≤ Twisted's",
              (mine <= theirs) if mine is not None and theirs is not None else None,
              f"ours {fmt(mine)} KiB, Twisted {fmt(theirs)} KiB" if mine is not None and theirs is not None else "",
              "no idle run of ours and Twisted")
    mine = perConnection("chat", "ours")
    check("#17 speed", "KiB per idle chat connection ≤ 1.3", (mine <= 1.3) if mine is not None else None,
          f"ours {fmt(mine)} KiB" if mine is not None else "", "no idle run")
