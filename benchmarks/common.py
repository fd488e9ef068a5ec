# -*- test-case-name: tests.test_benchmarks -*-
"""
Small helpers shared by the benchmark modules: statistics, /proc readings,
file-descriptor limits, free loopback ports and the one-JSON-line output
convention of every load generator (progress on stderr, the result as the
last line on stdout).

Standard library only: the load side must run on any Python 3.10+.
"""
from __future__ import annotations

import json
import os
import socket
import sys
import tempfile
import time
from typing import Iterable

LOOPBACK = "127.0.0.1"


def percentile(values: Iterable[float], p: float) -> float | None:
    """
    Nearest-rank percentile (C{p} in 0..100) of C{values}; None when empty.
    """
    ordered = sorted(values)
    if not ordered:
        return None
    rank = int(-(-p * len(ordered) // 100))          # ceil(p/100 * n)
    return ordered[min(len(ordered), max(1, rank)) - 1]


def median(values: Iterable[float]) -> float | None:
    ordered = sorted(v for v in values if v is not None)
    if not ordered:
        return None
    mid = len(ordered) // 2
    return ordered[mid] if len(ordered) % 2 else (ordered[mid - 1] + ordered[mid]) / 2


def millis(nanoseconds: float | None) -> float | None:
    return None if nanoseconds is None else round(nanoseconds / 1e6, 3)


def log(*parts: object) -> None:
    print(*parts, file=sys.stderr, flush=True)


def emit(result: dict) -> None:
    """
    Print the machine-readable result: one JSON object, the last stdout line.
    """
    result.setdefault("at", time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))
    print(json.dumps(result, sort_keys=True), flush=True)


def lastJSONLine(text: str) -> dict:
    for line in reversed(text.strip().splitlines()):
        line = line.strip()
        if line.startswith("{"):
            return json.loads(line)
    raise ValueError("no JSON result line")


def procStatus(pid: int, field: str = "VmRSS") -> int | None:
    """
    A C{kB} field of C{/proc/PID/status} (VmRSS, VmHWM, ...), or None.
    """
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        return None
    return None


def processTree(pid: int) -> list[int]:
    """
    C{pid} and all its descendants (from C{/proc/*/stat}).
    """
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        parent = int(stat[stat.rfind(")") + 2:].split()[1])
        children.setdefault(parent, []).append(int(entry))
    tree, todo = [], [pid]
    while todo:
        current = todo.pop()
        tree.append(current)
        todo.extend(children.get(current, ()))
    return tree


def cpuSeconds(pid: int) -> float | None:
    """
    CPU time (user + system, every thread) used so far by C{pid} and its
    descendants, with the children they reaped (C{utime}, C{stime},
    C{cutime}, C{cstime} of C{/proc/PID/stat}), in seconds; None if
    C{pid} is gone.  The difference of two readings is what the process
    tree spent in between, whichever of its processes came and went.
    """
    ticks, seen = 0, False
    for member in processTree(pid):
        try:
            with open(f"/proc/{member}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        fields = stat[stat.rfind(")") + 2:].split()
        ticks += sum(int(x) for x in fields[11:15])      # fields 14-17 of proc(5)
        seen = True
    return ticks / os.sysconf("SC_CLK_TCK") if seen else None


def cpuPerOperation(before: float | None, after: float | None, operations: int | None) -> dict:
    """
    C{cpu_s} and C{cpu_us_per_msg} of a run, from two L{cpuSeconds} readings
    and the operations it completed (empty if either is unknown).
    """
    if before is None or after is None:
        return {}
    spent = after - before
    out = {"cpu_s": round(spent, 3)}
    if operations:
        out["cpu_us_per_msg"] = round(spent / operations * 1e6, 1)
    return out


def cpuSecondsByProcess(pid: int) -> dict[int, float]:
    """
    utime + stime (every thread) of each process of C{pid}'s tree, in
    seconds, from C{/proc/PID/stat}.
    """
    found = {}
    for member in processTree(pid):
        try:
            with open(f"/proc/{member}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            found[member] = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        except (OSError, IndexError, ValueError):
            continue
    return found


def treeCpuSeconds(pid: int) -> float:
    """
    L{cpuSeconds} of C{pid}'s tree, 0.0 if it is gone.
    """
    return cpuSeconds(pid) or 0.0


def treePssKb(pid: int) -> int | None:
    """
    Proportional set size summed over C{pid}'s process tree (for servers
    that fork a process per connection, such as Dovecot), or None.
    """
    total, seen = 0, False
    for member in processTree(pid):
        try:
            with open(f"/proc/{member}/smaps_rollup") as f:
                for line in f:
                    if line.startswith("Pss:"):
                        total += int(line.split()[1])
                        seen = True
                        break
        except OSError:
            continue
    return total if seen else None


def setAside(paths: Iterable[str], into: str, sync: bool = True) -> int:
    """
    Clear what a run delivered out of the next run's way without freeing an
    inode: flush every dirty page first (C{sync}, unless told not to: no
    run pays for an earlier one's writeback, the anchors' unsynced files
    included), then move each file into C{into} (created if needed; the base names, unique
    per server, are kept).

    Not C{unlink}: on an ext4 file system without a journal (this
    benchmark machine's) the inode allocator skips every inode freed in
    the last 60 to 300 seconds, looking each one up
    (C{find_inode_bit}/C{recently_deleted}), so the files a run deleted
    made each file the next runs created cost more kernel time, the
    longer the benchmark went on: half of a server's CPU samples in a
    C{perf} profile.  The moved files go with the scratch folder when
    the whole benchmark ends.

    @return: how many files were moved.
    """
    if sync:
        os.sync()
    os.makedirs(into, exist_ok=True)
    moved = 0
    for path in paths:
        os.rename(path, os.path.join(into, os.path.basename(path)))
        moved += 1
    return moved


def fileSystem(path: str | None = None) -> str:
    """
    The type and device of the file system holding C{path} (default: the
    temporary directory, where the benchmarks' servers keep their data; from
    C{/proc/self/mountinfo}), and for ext4 whether it has a journal (a
    C{/proc/fs/jbd2} entry): without one, creating a file costs more for
    minutes after many were deleted (see C{common.setAside}).
    """
    path = os.path.realpath(path or tempfile.gettempdir())
    best, found = -1, ""
    try:
        with open("/proc/self/mountinfo") as f:
            for line in f:
                fields = line.split()
                point = fields[4]
                kind, device = fields[fields.index("-") + 1:fields.index("-") + 3]
                if (path == point or path.startswith(point.rstrip("/") + "/")) and len(point) > best:
                    best, found = len(point), f"{kind} on {device}"
                    if kind == "ext4":
                        name = os.path.basename(device)
                        try:
                            journals = os.listdir("/proc/fs/jbd2")
                        except OSError:
                            journals = []
                        journal = any(entry.rsplit("-", 1)[0] == name for entry in journals)
                        found += ", with a journal" if journal else ", no journal"
    except (OSError, ValueError, IndexError):
        return "unknown"
    return found or "unknown"


def raiseFileLimit(want: int | None = None) -> int:
    """
    Raise the soft RLIMIT_NOFILE towards C{want} (default: the hard limit);
    children started afterwards inherit it.  Returns the soft limit now.
    """
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = hard if want is None else min(max(soft, want), hard)
    if target == resource.RLIM_INFINITY:
        target = max(soft, 1 << 20)
    if target > soft:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
        except (ValueError, OSError):
            pass
    return soft


_handedOut: set[int] = set()


def freePort(low: int = 21000, high: int = 32000) -> int:
    """
    A TCP port on loopback, below the ephemeral range (32768+) so that no
    client socket can be holding it, not handed out before in this process.
    """
    start = low + (os.getpid() * 37) % 2000      # spread concurrent runs
    for port in list(range(start, high)) + list(range(low, start)):
        if port in _handedOut:
            continue
        with socket.socket() as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                s.bind((LOOPBACK, port))
            except OSError:
                continue
        _handedOut.add(port)
        return port
    raise RuntimeError(f"no free loopback port in {low}..{high}")


def slope(points: list[tuple[float, float]]) -> float | None:
    """
    Least-squares slope of (x, y) points.
    """
    if len(points) < 2:
        return None
    n = len(points)
    mx = sum(x for x, _ in points) / n
    my = sum(y for _, y in points) / n
    den = sum((x - mx) ** 2 for x, _ in points)
    return None if den == 0 else sum((x - mx) * (y - my) for x, y in points) / den


def sizeArg(text: str) -> int:
    """
    C{1k} -> 1024, C{100K} -> 102400, C{50m} -> 52428800, C{500} -> 500.
    """
    text = str(text).strip().lower().removesuffix("ib").removesuffix("b")
    units = {"k": 1024, "m": 1024 ** 2}
    if text and text[-1] in units:
        return int(float(text[:-1]) * units[text[-1]])
    return int(text)
