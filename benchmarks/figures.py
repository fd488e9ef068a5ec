# -*- test-case-name: tests.test_benchmarks -*-
"""
The numbers and tables every report module shares: medians and spreads
of a run's records, ratios, markdown tables.
"""
from __future__ import annotations

from common import median

ANCHOR_ORDER = ["ours", "smtp-sink", "twisted", "aiosmtpd", "postfix", "dovecot", "ngircd"]


# -- numbers -----------------------------------------------------------------

def values(records: list[dict], scenario: str, cell: str, target: str, metric: str) -> list[float]:
    return [r["result"][metric] for r in records
            if r["scenario"] == scenario and r["cell"] == cell and r["target"] == target
            and isinstance(r["result"].get(metric), (int, float))]


def med(records: list[dict], scenario: str, cell: str, target: str, metric: str) -> float | None:
    return median(values(records, scenario, cell, target, metric))


def cells(records: list[dict], scenario: str) -> list[str]:
    seen: list[str] = []
    for r in records:
        if r["scenario"] == scenario and r["cell"] not in seen:
            seen.append(r["cell"])
    return seen


def targetsOf(records: list[dict], scenario: str) -> list[str]:
    """
    Ours first, then variants of ours (--variant), then the anchors.
    """
    present = {r["target"] for r in records if r["scenario"] == scenario}
    variants = sorted(present - set(ANCHOR_ORDER))
    return [t for t in ["ours", *variants, *ANCHOR_ORDER[1:]] if t in present]


def fmt(value: float | None, digits: int = 3) -> str:
    if value is None:
        return "—"
    if abs(value) >= 100:
        return f"{value:.0f}"
    return f"{value:.{digits}g}"


def spread(records: list[dict], scenario: str, cell: str, target: str, metric: str) -> str:
    found = values(records, scenario, cell, target, metric)
    if not found:
        return "—"
    text = fmt(median(found))
    if len(found) > 1:
        text += f" [{fmt(min(found))}..{fmt(max(found))}]"
    return text


def ratio(mine: float | None, theirs: float | None) -> str:
    if not mine or not theirs:
        return "—"
    return f"{mine / theirs:.2f}×"


# -- tables --------------------------------------------------------------------

def table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)
