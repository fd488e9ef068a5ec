# -*- test-case-name: tests.test_benchmarks -*-
"""
From a run's records to tables of medians and ratios, the issue targets
marked met or missed, and docs/performance.md.
"""
from __future__ import annotations

import os
import platform
import subprocess
import time
from typing import Any

from common import fileSystem
from figures import ANCHOR_ORDER, cells, fmt, med, ratio, spread, table, targetsOf
from speed import CPU_NOTE, speedTargets, tracedIdleTable

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)

__all__ = ["ANCHOR_ORDER", "ROOT", "commit", "document", "machine", "summaryTable", "targetsMet"]


def smtpTables(records: list[dict]) -> str:
    names = targetsOf(records, "smtp")
    anchors = [t for t in names if t != "ours"]
    rows, latency, cpu = [], [], []
    for cell in cells(records, "smtp"):
        ours = med(records, "smtp", cell, "ours", "msgs_per_s")
        rows.append([cell] + [spread(records, "smtp", cell, t, "msgs_per_s") for t in names]
                    + [ratio(ours, med(records, "smtp", cell, a, "msgs_per_s")) for a in anchors])
        latency.append([cell] + [f"{fmt(med(records, 'smtp', cell, t, 'p50_ms'))} / "
                                 f"{fmt(med(records, 'smtp', cell, t, 'p99_ms'))}" for t in names])
        oursCPU = med(records, "smtp", cell, "ours", "cpu_us_per_msg")
        cpu.append([cell] + [spread(records, "smtp", cell, t, "cpu_us_per_msg") for t in names]
                   + [ratio(oursCPU, med(records, "smtp", cell, a, "cpu_us_per_msg")) for a in anchors])
    return ("Messages per second accepted (median [min..max] of the repeats), and ours ÷ each anchor "
            "(> 1: ours is faster):\n\n"
            + table(["cell"] + names + [f"ours ÷ {a}" for a in anchors], rows)
            + "\n\nLatency per message, p50 / p99 in ms (medians of the repeats):\n\n"
            + table(["cell"] + names, latency)
            + "\n\n" + CPU_NOTE + ", and ours ÷ each anchor (< 1: ours costs less):\n\n"
            + table(["cell"] + names + [f"ours ÷ {a}" for a in anchors], cpu))


def relayTables(records: list[dict]) -> str:
    names = targetsOf(records, "relay")
    rows = []
    for cell in cells(records, "relay"):
        ours = med(records, "relay", cell, "ours", "msgs_per_s")
        for t in names:
            rows.append([cell, t, spread(records, "relay", cell, t, "msgs_per_s"),
                         fmt(med(records, "relay", cell, t, "submitted_per_s")),
                         f"{fmt(med(records, 'relay', cell, t, 'p50_ms'))} / {fmt(med(records, 'relay', cell, t, 'p99_ms'))}",
                         "" if t == "ours" else ratio(ours, med(records, "relay", cell, t, "msgs_per_s"))])
    return ("Submission -> queue -> Postfix's smtp-sink, 1 KiB messages; end to end = from the first MAIL FROM "
            "to the last message at the sink; delay = the relaying server's 250 -> the sink's 250 (file time):\n\n"
            + table(["cell", "server", "delivered msgs/s end to end", "accepted msgs/s", "delay p50 / p99 ms",
                     "ours ÷ this"], rows))


SCALE = ("workers: 1", "workers: 2")


def scaleTables(records: list[dict]) -> str:
    rows = []
    present = targetsOf(records, "scale")
    for cell in cells(records, "scale"):
        chat = cell.startswith("chat")
        p50, p99 = ("p50_ms", "p99_ms") if chat or cell.startswith("SMTP") else ("retr_p50_ms", "retr_p99_ms")
        runs = [r for r in records if r["scenario"] == "scale" and r["cell"] == cell]
        for t in [t for t in SCALE if t in present] + [t for t in present if t not in SCALE]:
            if not any(r["target"] == t for r in runs):
                continue
            m = lambda target, metric: med(runs, "scale", cell, target, metric)  # noqa: E731
            versus = "" if t == SCALE[0] else ratio(m(t, "p99_ms" if chat else "msgs_per_s"),
                                                     m(SCALE[0], "p99_ms" if chat else "msgs_per_s")) + " (p99)" * chat
            if t not in SCALE and m(t, p50) is not None and m(SCALE[0], p50) is not None:
                versus += f", p50 {m(t, p50) - m(SCALE[0], p50):+.2f} ms"
            split = next(r["result"] for r in reversed(runs) if r["target"] == t).get("cpu_s_by_process") or []
            rows.append([cell, t, "—" if chat else spread(runs, "scale", cell, t, "msgs_per_s"),
                         f"{fmt(m(t, p50))} / {fmt(m(t, p99))}",
                         *(fmt(m(t, f"cpu_us_per_msg_{k}")) for k in ("server", "redis", "loadgen")),
                         " / ".join(fmt(m(t, f"cpu_us_per_msg_{k}")) for k in ("postgres", "nginx")
                                    if m(t, f"cpu_us_per_msg_{k}") is not None) or "—",
                         " / ".join(fmt(x, 2) for x in split) or "—", versus])
    return ("Our suite with `workers: 1` and `workers: 2` (each with the same private redis-server, `cluster.redis`) "
            "and, on the SMTP and POP3 cells where this machine has them, `workers: 1` on the PostgreSQL store "
            "(`cluster.postgres`, a private server, fsync on) and behind nginx's mail proxy (MX and POP3 through our "
            "`proxy.auth_http`, XCLIENT on, `proxy_buffer 128k` as in docs/nginx.conf), interleaved; the load "
            "generators run on the same CPUs. CPU = utime + stime from /proc per message (us) of the server's process "
            "tree (supervisor + workers), redis-server, the load generator, PostgreSQL's or nginx's processes (chat: "
            "none, the generator holds every client of both targets at once); split = the CPU seconds of each process "
            "of the server's tree in the last repeat (the supervisor first: how evenly the workers shared the load); "
            "last column: the rate ÷ `workers: 1`'s and, for PostgreSQL and nginx, the p50 latency added:\n\n"
            + table(["cell", "server", "msgs/s", "p50 / p99 ms", "CPU server", "CPU redis", "CPU load gen",
                     "CPU postgres / nginx", "split s", "÷ workers: 1"], rows))


def pop3Tables(records: list[dict]) -> str:
    out = []
    names = targetsOf(records, "pop3")
    rows = []
    for cell in cells(records, "pop3"):
        ours = med(records, "pop3", cell, "ours", "msgs_per_s")
        for t in names:
            rows.append([cell, t, spread(records, "pop3", cell, t, "msgs_per_s"),
                         fmt(med(records, "pop3", cell, t, "mb_per_s")),
                         f"{fmt(med(records, 'pop3', cell, t, 'retr_p50_ms'))} / "
                         f"{fmt(med(records, 'pop3', cell, t, 'retr_p99_ms'))}",
                         spread(records, "pop3", cell, t, "cpu_us_per_msg"),
                         "" if t == "ours" else ratio(ours, med(records, "pop3", cell, t, "msgs_per_s"))])
    if rows:
        out.append("All users fetched in parallel (USER/PASS, LIST, RETR all, QUIT; nothing deleted), "
                   "every server on the same Maildirs; CPU µs/msg as for SMTP:\n\n"
                   + table(["cell", "server", "msgs/s", "MB/s", "RETR p50 / p99 ms", "CPU µs/msg", "ours ÷ this"],
                           rows))
    rows = []
    for cell in cells(records, "pop3-big"):
        for t in targetsOf(records, "pop3-big"):
            r = next((x["result"] for x in records if x["scenario"] == "pop3-big" and x["target"] == t), {})
            rows.append([cell, t, fmt(r.get("elapsed_s")), fmt(_mb(r.get("rss_before_kb"))),
                         fmt(_mb(r.get("rss_peak_kb"))), fmt(_mb(r.get("rss_growth_kb")))])
    if rows:
        out.append("One large message, RETR from a freshly started server (RSS in MB; peak = VmHWM):\n\n"
                   + table(["cell", "server", "seconds", "RSS before", "RSS peak", "growth"], rows))
    return "\n\n".join(out)


def imapTables(records: list[dict]) -> str:
    out = []
    names = targetsOf(records, "imap")
    rows = []
    for cell in cells(records, "imap"):
        ours = med(records, "imap", cell, "ours", "msgs_per_s")
        for t in names:
            rows.append([cell, t, spread(records, "imap", cell, t, "msgs_per_s"),
                         fmt(med(records, "imap", cell, t, "mb_per_s")),
                         f"{fmt(med(records, 'imap', cell, t, 'list_p50_ms'))} / "
                         f"{fmt(med(records, 'imap', cell, t, 'bodies_p50_ms'))}",
                         spread(records, "imap", cell, t, "cpu_us_per_msg"),
                         "" if t == "ours" else ratio(ours, med(records, "imap", cell, t, "msgs_per_s"))])
    if rows:
        out.append("All users at once: LOGIN, then SELECT INBOX, FETCH 1:* (FLAGS RFC822.SIZE ENVELOPE), "
                   "UID FETCH 1:* BODY.PEEK[] (in the full run 10 times per session), LOGOUT; every server "
                   "on the same Maildirs; msgs/s counts bodies read:\n\n"
                   + table(["cell", "server", "msgs/s", "MB/s", "list p50 / bodies p50 ms (per session)",
                            "CPU µs/msg", "ours ÷ this"], rows))
    rows = [[r["cell"], r["target"], fmt(r["result"].get("idle_p50_ms")), fmt(r["result"].get("idle_max_ms")),
             str(r["result"].get("rounds", "—"))] for r in records if r["scenario"] == "imap-idle"]
    if rows:
        out.append("IDLE: one session waits in IDLE while messages are sent to it by SMTP one at a time; "
                   "time from reading the 250 to reading the EXISTS (about 0 when the EXISTS is written "
                   "first: new mail is announced at commit, before the 250 goes out):\n\n"
                   + table(["what", "server", "p50 ms", "max ms", "rounds"], rows))
    return "\n\n".join(out)


def _mb(kb: float | None) -> float | None:
    return None if kb is None else kb / 1024


def chatTables(records: list[dict]) -> str:
    names = targetsOf(records, "chat")
    rows = []
    for cell in cells(records, "chat"):
        for t in names:
            found = [r["result"] for r in records if r["scenario"] == "chat" and r["cell"] == cell and r["target"] == t]
            lost = sum(r.get("lost", 0) or 0 for r in found)
            disconnects = max((r.get("disconnects", 0) or 0 for r in found), default=0)
            p50, p99 = med(records, "chat", cell, t, "p50_ms"), med(records, "chat", cell, t, "p99_ms")
            row = [cell, t, spread(records, "chat", cell, t, "p50_ms"), spread(records, "chat", cell, t, "p99_ms"),
                   fmt(med(records, "chat", cell, t, "deliveries_per_s")),
                   spread(records, "chat", cell, t, "cpu_us_per_msg"), str(lost), str(disconnects)]
            if t == "ours" and "ngircd" in names:
                row += [ratio(p50, med(records, "chat", cell, "ngircd", "p50_ms")),
                        ratio(p99, med(records, "chat", cell, "ngircd", "p99_ms"))]
            else:
                row += ["", ""]
            rows.append(row)
    return ("One sender, paced; the other clients of the room receive every line. Latency = send → "
            "receipt (ms, median [min..max] over the rounds, after one unreported warm-up round per server); "
            "lost and disconnects summed over the rounds; ours ÷ ngircd for latency (< 1: ours is faster); "
            "CPU µs per line delivered to one client (the server's CPU over its round ÷ deliveries):\n\n"
            + table(["cell", "server", "p50 ms", "p99 ms", "deliveries/s", "CPU µs/delivery", "lost", "disconnects",
                     "p50 ours ÷ ngircd", "p99 ours ÷ ngircd"], rows) + webSocketTable(records))


def webSocketTable(records: list[dict]) -> str:
    """
    Our receivers by transport, where a share joined over the WebSocket.
    """
    rows = []
    for cell in cells(records, "chat"):
        for t in targetsOf(records, "chat"):
            found = [r["result"] for r in records if r["scenario"] == "chat" and r["cell"] == cell
                     and r["target"] == t and r["result"].get("ws")]
            if not found:
                continue

            def middle(kind: str, key: str) -> str:
                values = sorted(r[kind][key] for r in found if r[kind].get(key) is not None)
                return fmt(values[len(values) // 2]) if values else "—"

            rows.append([cell, t, str(found[0]["ws"].get("receivers", "")), middle("tcp", "p50_ms"),
                         middle("tcp", "p99_ms"), middle("ws", "p50_ms"), middle("ws", "p99_ms")])
    if not rows:
        return ""
    return ("\n\nThe same rounds by the receivers' transport: a share of our receivers joined the room "
            "through the web listener's `/chat` WebSocket (one line per text frame), the rest over TCP "
            "(ms, median over the rounds):\n\n"
            + table(["cell", "server", "WebSocket receivers", "TCP p50 ms", "TCP p99 ms",
                     "WebSocket p50 ms", "WebSocket p99 ms"], rows))


def idleTables(records: list[dict]) -> str:
    rows = []
    for r in records:
        if r["scenario"] != "idle":
            continue
        x = r["result"]
        rows.append([r["cell"], r["target"], fmt(x.get("kb_per_conn")), str(x.get("max_open", "—")),
                     fmt(_mb(x.get("base_kb"))), str(x.get("closed_by_server", "—")),
                     "PSS of the process tree" if x.get("memory") == "pss-tree" else "VmRSS",
                     x.get("error", "") or "; ".join(x.get("first_errors") or [])])
    out = ("Fresh server, K connections opened in steps and left idle (SMTP: after EHLO; POP3: after "
           "the greeting; chat: after the greeting line; IRC: registered). KiB per connection = "
           "least-squares slope of memory over connections:\n\n"
           + table(["protocol", "server", "KiB/conn", "held", "base MB", "closed by server", "memory",
                    "errors"], rows))
    out += tracedIdleTable(records)
    held = [r for r in records if r["scenario"] == "maxchat"]
    if held:
        rows = []
        for r in held:
            x = r["result"]
            rows.append([r["cell"], r["target"], str(x.get("max_open", "—")), str(x.get("held_after_hold", "—")),
                         "yes" if (x.get("probe") or {}).get("served") else "no", fmt(_mb(x.get("top_kb"))),
                         fmt(x.get("kb_per_conn")), str(x.get("fd_limit", "—")),
                         x.get("error", "") or "; ".join(x.get("first_errors") or [])])
        out += ("\n\nMost chat clients held at once (RLIMIT_NOFILE raised to the hard limit for the run; "
                "\"new client served\" = one more client got its greeting while all were held):\n\n"
                + table(["asked", "server", "held", "still held after a pause", "new client served",
                         "RSS MB", "KiB/conn", "fd limit", "errors"], rows))
    return out


# -- targets from the protocol issues ------------------------------------------------

def targetsMet(records: list[dict], judge: bool = True) -> list[tuple[str, str, str, str]]:
    """
    (issue, target, status, figures) for every benchmark target of issues 3,
    4, 5, 16 and 17; with C{judge=False} (a quick run's tiny counts) none is called met
    or missed.
    """
    out: list[tuple[str, str, str, str]] = []

    def check(issue: str, text: str, ok: bool | None, figures: str, why: str = "") -> None:
        if ok is None:
            status = "not measured" + (f" ({why})" if why else "")
        elif not judge:
            status = "not judged (--quick)"
        else:
            status = "met" if ok else "**missed**"
        out.append((issue, text, status, figures))

    def throughput(cell: str, anchor: str, factor: float, issue: str, text: str) -> None:
        mine, theirs = med(records, "smtp", cell, "ours", "msgs_per_s"), med(records, "smtp", cell, anchor, "msgs_per_s")
        if not mine or not theirs:
            check(issue, text, None, "", f"no {cell} run of ours and {anchor}")
        else:
            check(issue, text, mine >= factor * theirs,
                  f"ours {fmt(mine)} msg/s, {anchor} {fmt(theirs)} → {mine / theirs:.2f}×")

    throughput("1 KiB c=50 reuse", "twisted", 1.5, "#3 SMTP", "1 KiB, c=50: ≥ 1.5× Twisted mail (msgs/s; ours fsyncs, it does not)")
    throughput("1 KiB c=50 reuse", "aiosmtpd", 3.0, "#3 SMTP", "1 KiB, c=50: ≥ 3× aiosmtpd + Maildir (msgs/s)")
    throughput("100 KiB c=10 reuse", "twisted", 2.0, "#3 SMTP", "100 KiB, c=10: ≥ 2× Twisted mail (msgs/s)")
    parts, verdict = [], []
    for cell in ("1 KiB c=50 reuse", "100 KiB c=50 reuse"):
        mine, theirs = med(records, "smtp", cell, "ours", "p99_ms"), med(records, "smtp", cell, "twisted", "p99_ms")
        if mine and theirs:
            parts.append(f"{cell}: ours {fmt(mine)} ms, Twisted {fmt(theirs)} ms")
            verdict.append(mine <= theirs)
    check("#3 SMTP", "p99 latency at c=50 no worse than Twisted mail's", all(verdict) if verdict else None,
          "; ".join(parts), "no c=50 runs of ours and Twisted")

    pop3Cell = next(iter(cells(records, "pop3")), "")
    mine, theirs = med(records, "pop3", pop3Cell, "ours", "msgs_per_s"), med(records, "pop3", pop3Cell, "dovecot", "msgs_per_s")
    full = pop3Cell.startswith("8 users x 200")
    check("#4 POP3", "8 users × 200 × 10 KiB: ≥ 1.2× Dovecot (msgs/s)",
          (mine >= 1.2 * theirs) if mine and theirs and full else None,
          f"{pop3Cell}: ours {fmt(mine)} msg/s, Dovecot {fmt(theirs)} → {mine / theirs:.2f}×" if mine and theirs else "",
          "no Dovecot run" if full else "the full cell runs without --quick")
    imapCell = next(iter(cells(records, "imap")), "")
    mine, theirs = med(records, "imap", imapCell, "ours", "msgs_per_s"), med(records, "imap", imapCell, "dovecot",
                                                                          "msgs_per_s")
    full = imapCell.startswith("8 users x 200")
    check("#16 IMAP", "8 users × 200 × 10 KiB: ≥ 1.0× Dovecot's imapd (msgs/s)",
          (mine >= theirs) if mine and theirs and full else None,
          f"{imapCell}: ours {fmt(mine)} msg/s, Dovecot {fmt(theirs)} → {mine / theirs:.2f}×" if mine and theirs else "",
          "no Dovecot imapd run" if full else "the full cell runs without --quick")
    mine, theirs = med(records, "relay", "1 KiB c=10", "ours", "msgs_per_s"), med(records, "relay", "1 KiB c=10",
                                                                              "postfix", "msgs_per_s")
    check("#13 relay", "1 KiB c=10: ≥ 1.0× Postfix relaying to the same sink (msgs/s end to end)",
          (mine >= theirs) if mine and theirs else None,
          f"ours {fmt(mine)} msg/s, Postfix {fmt(theirs)} → {mine / theirs:.2f}×" if mine and theirs else "",
          "no relay run of both")
    p99 = med(records, "relay", "1 KiB c=10", "ours", "p99_ms")
    check("#13 relay", "1 KiB c=10: p99 from our 250 to the sink's under 100 ms", (p99 < 100) if p99 else None,
          f"p99 {fmt(p99)} ms" if p99 else "", "no relay run")
    idle = next((r for r in records if r["scenario"] == "imap-idle" and r["target"] == "ours"), None)
    worst = idle["result"].get("idle_max_ms") if idle else None
    check("#16 IMAP", "IDLE: EXISTS within a second of the SMTP 250", (worst < 1000) if worst is not None else None,
          f"p50 {fmt(idle['result'].get('idle_p50_ms'))} ms, max {fmt(worst)} ms" if worst is not None and idle else "",
          "no IDLE run")
    big = next((r for r in records if r["scenario"] == "pop3-big" and r["target"] == "ours"), None)
    growth = big["result"].get("rss_growth_kb") if big else None
    bigFull = bool(big and big["cell"].startswith("one 50 MB"))
    check("#4 POP3", "a 50 MB message retrieved with the server's RSS growing < 5 MB",
          (growth < 5 * 1024) if growth is not None and bigFull else None,
          f"{big['cell']}: peak RSS growth {growth / 1024:.1f} MB" if growth is not None and big else "",
          "the 50 MB message runs without --quick")

    chatCell = "1000 clients, 50 lines/s"
    p50, theirs50 = med(records, "chat", chatCell, "ours", "p50_ms"), med(records, "chat", chatCell, "ngircd", "p50_ms")
    p99, theirs99 = med(records, "chat", chatCell, "ours", "p99_ms"), med(records, "chat", chatCell, "ngircd", "p99_ms")
    check("#5 chat", "1000 clients, 50 lines/s: p50 ≤ ngircd's", (p50 <= theirs50) if p50 and theirs50 else None,
          f"ours {fmt(p50)} ms, ngircd {fmt(theirs50)} ms" if p50 and theirs50 else "", "no 1000-client run of both")
    check("#5 chat", "1000 clients, 50 lines/s: p99 ≤ 0.8× ngircd's", (p99 <= 0.8 * theirs99) if p99 and theirs99 else None,
          f"ours {fmt(p99)} ms, ngircd {fmt(theirs99)} ms → {p99 / theirs99:.2f}×" if p99 and theirs99 else "",
          "no 1000-client run of both")
    runs = [r["result"] for r in records if r["scenario"] == "chat" and r["cell"] == chatCell and r["target"] == "ours"]
    lost = sum((r.get("lost") or 0) + (r.get("disconnects") or 0) for r in runs)
    check("#5 chat", "1000 clients, 50 lines/s: 0 lost", (lost == 0) if runs else None,
          f"{sum(r.get('lost') or 0 for r in runs)} lost, {max((r.get('disconnects') or 0 for r in runs), default=0)} "
          f"disconnects over {len(runs)} rounds" if runs else "", "no 1000-client run")
    idle = next((r["result"] for r in records if r["scenario"] == "idle" and r["cell"] == "chat" and r["target"] == "ours"), None)
    perConn = idle.get("kb_per_conn") if idle else None
    check("#5 chat", "memory per idle chat connection ≤ 2 KiB", (perConn <= 2.0) if perConn is not None else None,
          f"{perConn:.2f} KiB over {idle.get('max_open')} connections" if perConn is not None and idle else "", "no idle run")
    held = next((r for r in records if r["scenario"] == "maxchat" and r["target"] == "ours"), None)
    if held and int(held["cell"].split()[0]) >= 10000:
        x = held["result"]
        ok = (x.get("held_after_hold") or 0) >= 10000 and bool((x.get("probe") or {}).get("served"))
        check("#5 chat", "10,000 idle chat clients held", ok,
              f"{x.get('max_open')} held, {x.get('held_after_hold')} after the pause, new client "
              f"{'served' if (x.get('probe') or {}).get('served') else 'NOT served'} (fd limit {x.get('fd_limit')})")
    else:
        check("#5 chat", "10,000 idle chat clients held", None, "", "10,000 runs without --quick")
    speedTargets(records, check, throughput)
    for cell in (c for c in cells(records, "scale") if not c.startswith("chat")):
        one, two = (med(records, "scale", cell, t, "msgs_per_s") for t in SCALE)
        full = "c=50" in cell or cell.startswith("POP3 8 users x 200")
        check("#18 scale", f"{cell}: ≥ 1.6× at workers: 2 (msgs/s; load generator on the same 2 CPUs)",
              (two >= 1.6 * one) if one and two and full else None,
              f"workers: 1 {fmt(one)} msg/s, workers: 2 {fmt(two)} → {two / one:.2f}×" if one and two else "",
              "no run of both" if full else "not the full cell")
    return out


# -- the machine -------------------------------------------------------------------

def machine() -> dict[str, Any]:
    model = ""
    try:
        with open("/proc/cpuinfo") as f:
            model = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), "")
    except OSError:
        pass
    memory = ""
    try:
        with open("/proc/meminfo") as f:
            memory = f"{int(f.readline().split()[1]) / 1048576:.1f} GiB"
    except (OSError, ValueError, IndexError):
        pass
    return {"cpus": os.cpu_count(), "cpu_model": model or platform.processor() or "unknown",
            "kernel": f"{platform.system()} {platform.release()}", "memory": memory,
            "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "load": os.getloadavg(), "filesystem": fileSystem()}


def commit() -> str:
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True,
                              text=True, timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=ROOT,
                               capture_output=True, text=True, timeout=10).stdout.strip()
        return head + (" with uncommitted changes" if dirty else "") if head else "unknown"
    except OSError:
        return "unknown"


# -- the document ---------------------------------------------------------------------

def summaryTable(records: list[dict]) -> str:
    """
    The table printed at the end of a run and written to the output folder.
    """
    sections = []
    if cells(records, "smtp"):
        sections.append("## SMTP ingest\n\n" + smtpTables(records))
    if cells(records, "pop3") or cells(records, "pop3-big"):
        sections.append("## POP3 retrieval\n\n" + pop3Tables(records))
    if cells(records, "imap") or cells(records, "imap-idle"):
        sections.append("## IMAP retrieval\n\n" + imapTables(records))
    if cells(records, "relay"):
        sections.append("## Relay (outbound)\n\n" + relayTables(records))
    if cells(records, "chat"):
        sections.append("## Chat fan-out\n\n" + chatTables(records))
    if cells(records, "idle") or cells(records, "maxchat"):
        sections.append("## Idle connections\n\n" + idleTables(records))
    if cells(records, "scale"):
        sections.append("## Scale: workers 1 vs 2, PostgreSQL, nginx\n\n" + scaleTables(records))
    return "\n\n".join(sections)


def profileSection(profiles: dict[str, dict], profiling: bool) -> str:
    if not profiles:
        return ("No scenario was profiled in this run (" + ("ours did not trail an anchor in any profiled scenario"
                if profiling else "profiling was off or py-spy is not installed: pip install py-spy") + ").")
    out = ["py-spy samples of our server (250 Hz, non-blocking, per thread) while one more run of the cell "
           "where ours trails an anchor most went on. Shares are of the reactor thread's samples; "
           "\"waiting\" is the reactor blocked in epoll (nothing to do: clients or the commit thread are "
           "the bottleneck), \"thread pool\" is fsync and password work off the reactor thread."]
    for key, p in profiles.items():
        if p.get("error"):
            out.append(f"### {key}: {p.get('cell', '')}\n\nnot profiled: {p['error']}")
            continue
        waiting = sum(share for name, share in p["reactor_own"] if name.startswith("EPollReactor.doPoll"))
        own = "\n".join(f"  - {share:.0%} {name}" for name, share in p["reactor_own"]
                        if not name.startswith("EPollReactor.doPoll"))
        ours = "\n".join(f"  - {share:.0%} {name}" for name, share in p["ours_inclusive"])
        out.append(f"### {key}: {p['cell']} (ours at {p['ratio']}× {p['anchor']})\n\n"
                   f"{p['samples']} samples: reactor thread {p['reactor_share']:.0%} (of which waiting in "
                   f"epoll {waiting:.0%}), thread pool {p['pool_share']:.0%}.\n\n"
                   f"- Own time on the reactor thread (function ← its caller):\n{own}\n"
                   f"- Our functions, inclusive:\n{ours}")
    return "\n\n".join(out)


def document(records: list[dict], profiles: dict[str, dict], info: dict[str, Any], command: str,
             missing: dict[str, str], problems: list[str], profiling: bool) -> str:
    m, v = info["machine"], info["versions"]
    software = ", ".join(f"{k} {val}" for k, val in v.items())
    targetRows = [list(row) for row in targetsMet(records, judge=not info.get("quick"))]
    notesPath = os.path.join(HERE, "NOTES.md")
    notes = ""
    if os.path.exists(notesPath) and not info.get("quick"):
        with open(notesPath) as f:
            notes = f.read().strip()
    parts = [
        "# Performance",
        f"Generated by `{command}` on {m['date']} (commit {info['commit']}, {info['minutes']:.1f} minutes). "
        "Do not edit by hand: rerun the command (see [benchmarks/README.md](../benchmarks/README.md)); "
        "only the notes at the end are written by hand, in `benchmarks/NOTES.md`.",
        "## Machine\n\n"
        + table(["", ""], [["CPUs", f"{m['cpus']} × {m['cpu_model']}"], ["memory", m["memory"]],
                           ["kernel", m["kernel"]], ["software", software],
                           ["file system of the servers' data", m.get("filesystem", "unknown")],
                           ["load average at start / end", f"{info['loadStart']:.2f} / {info['loadEnd']:.2f}"]])
        + "\n\nThe load generators run on the same machine as the servers and share its CPUs; only ratios "
          "measured side by side in one run are meaningful.",
        "## Targets from the protocol issues\n\n" + table(["issue", "target", "status", "figures"], targetRows),
    ]
    if missing:
        parts.append("## Anchors missing on this machine\n\n" + "\n".join(
            f"- {name}: {hint}" for name, hint in missing.items()))
    parts.append(summaryTable(records))
    parts.append("## Where our time goes (profiles)\n\n" + profileSection(profiles, profiling))
    parts.append(METHOD)
    if problems:
        parts.append("## Errors seen in this run\n\n" + "\n".join(f"- {p}" for p in problems[:30]))
    if notes:
        parts.append(notes)
    return "\n\n".join(parts) + "\n"


METHOD = """\
## Method

- Servers: ours is `twistd -n mailsuite --config <generated tap.yaml>` (fsync of every message and of
  `new/` before the 250, as always; connection limits and the chat flood throttle raised so that the
  load generator is never refused); the anchors are Postfix's `smtp-sink` (C, discards: the
  protocol-handling upper bound on this machine), Twisted's own mail service
  (`benchmarks/anchors/twistedmail.tac`: stock code with its Python 3 str/bytes bugs fixed, no
  fsync), aiosmtpd + the standard library's `mailbox.Maildir` (`benchmarks/anchors/aiosmtpdmaildir.py`:
  fsyncs each message file), Dovecot's POP3 and IMAP (defaults, passwd-file, the same Maildirs as ours) and
  ngircd (the senders are IRC operators with mode +F so flood control does not throttle them). Each
  runs in a temporary directory on a free loopback port below 32768 and is stopped by its PID.
- Load: the generators in `benchmarks/` (asyncio, standard library only), the same one for every
  target; every loop is bounded by a count and a wall-clock cap. SMTP is lockstep (no PIPELINING);
  latency runs from the start of the message (connect + banner + EHLO included when the message
  opens its own connection) to the 250 after the final dot. POP3 sessions LIST and RETR every
  message and QUIT without deleting. Chat latency is the sender's write → a receiver's read, on
  the shared CLOCK_MONOTONIC.
- Interleaving: every cell runs each target in turn, the order rotated per repeat (A B C, B C A,
  C A B), so drift on a shared machine hits all alike; chat clients of all targets stay connected
  and the rounds alternate between targets. Figures are medians over the repeats, with [min..max].
- Memory: VmRSS of the server process (Dovecot: PSS summed over its process tree, as it runs a
  process per connection; its login processes are limited to 100 by default, so K is small there),
  on a freshly started server; the large-message figure is VmHWM (peak) minus VmRSS before."""
