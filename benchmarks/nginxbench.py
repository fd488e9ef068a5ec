# -*- test-case-name: tests.test_benchmarks -*-
"""
What nginx's mail proxy in front of the suite costs (docs/scaling.md,
"nginx in front"): the same load straight to our listeners and through a
private nginx (C{twisted_mail_suite.testing.nginx}, asking our
C{proxy.auth_http} endpoint, XCLIENT on), interleaved run by run:

  - SMTP MX, C{-c 10}, 1 KiB (loadsmtp.py), one connection per worker,
    and one per message (nginx then asks auth_http for every message);
  - SMTP MX, C{-c 1}, 100 KiB, through nginx with its default
    C{proxy_buffer} (one page) and with C{proxy_buffer 128k} (the stall);
  - POP3, 8 users x 200 x 10 KiB in parallel (loadpop3.py), default and
    C{proxy_buffer 128k}.

CPU is utime+stime from /proc of each process tree (ours; nginx master
and worker) before and after each run, divided by the messages.

    python benchmarks/nginxbench.py --repeats 3

C{benchmarks/run.py --only scale} puts the same front (L{proxySection},
L{startFront}) before C{workers: 1} as one more target of its SMTP c=50
and POP3 cells.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from typing import Callable

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import targets as T  # noqa: E402
from common import LOOPBACK, freePort, lastJSONLine, log, raiseFileLimit, treeCpuSeconds  # noqa: E402

from twisted_mail_suite.testing.nginx import MailServer, NginxMail, mailConfig, missing  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
SECRET = "bench-secret"
BIG_BUFFER = "        proxy_buffer 128k;\n"


def proxySection(scratch: str) -> tuple[dict, int]:
    """
    Our C{proxy:} section for a bench behind nginx (the auth_http endpoint
    on a free loopback port, its secret in C{scratch}, XCLIENT trusted
    from loopback) and the endpoint's port.
    """
    secretFile = os.path.join(scratch, "secret")
    with open(secretFile, "w") as f:
        f.write(SECRET + "\n")
    authPort = freePort()
    return ({"auth_http": {"listen": [f"tcp:{authPort}:interface={LOOPBACK}"], "secret_file": secretFile},
             "trusted": [LOOPBACK]}, authPort)


def startFront(prefix: str, authPort: int, servers: list[MailServer]) -> NginxMail:
    """
    A private nginx mail proxy in C{prefix} serving C{servers}, asking our
    auth_http endpoint on C{authPort} which backend serves each session.
    """
    return NginxMail(prefix, mailConfig(prefix, authPort, SECRET, servers),
                     [(LOOPBACK, server.port) for server in servers]).start()


def tool(name: str, arguments: list[object]) -> dict:
    output = subprocess.run([sys.executable, os.path.join(HERE, name), *map(str, arguments)],
                            capture_output=True, text=True, check=True).stdout
    return lastJSONLine(output)


def measured(run: Callable[[], dict], count: str, pids: dict[str, int]) -> dict:
    before = {name: treeCpuSeconds(pid) for name, pid in pids.items()}
    result = run()
    done = max(1, int(result.get(count, 0)))
    for name, pid in pids.items():
        result[f"cpu_us_per_msg_{name}"] = round((treeCpuSeconds(pid) - before[name]) * 1e6 / done, 1)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--count", type=int, default=2000, help="1 KiB messages per SMTP run")
    parser.add_argument("--big-count", type=int, default=200, help="100 KiB messages per SMTP run")
    parser.add_argument("--only", default="", help="cells whose name contains this (smtp, 100, pop3)")
    args = parser.parse_args()
    reason = missing()
    if reason is not None:
        sys.exit(f"nginxbench: {reason}")
    raiseFileLimit()
    scratch = tempfile.mkdtemp(prefix="nginxbench-")
    users = ["joe"] + [f"u{i}" for i in range(8)]
    proxy, authPort = proxySection(scratch)

    def seed(mailRoot: str) -> None:
        for user in users[1:]:
            T.seedMaildir(os.path.join(mailRoot, user), 200, 10 * 1024, user)

    ours = T.startOurs(scratch, ("smtp", "pop3"), users, seed=seed, more={"proxy": proxy})
    ports = {"mx": freePort(), "mxbig": freePort(), "pop3": freePort(), "pop3big": freePort()}
    servers = [MailServer(ports["mx"], "smtp", "none"),
               MailServer(ports["mxbig"], "smtp", "none", extra=BIG_BUFFER),
               MailServer(ports["pop3"], "pop3", "plain"),
               MailServer(ports["pop3big"], "pop3", "plain", extra=BIG_BUFFER)]
    nginx = startFront(os.path.join(scratch, "nginx"), authPort, servers)
    assert nginx.process is not None
    pids = {"ours": ours.pid, "nginx": nginx.process.pid}
    smtpPort, pop3Port = ours.ports["smtp"], ours.ports["pop3"]
    cells = [
        ("smtp c=10 1 KiB", "ok", {"direct": smtpPort, "nginx": ports["mx"]},
         lambda port: tool("loadsmtp.py", ["--port", port, "-c", 10, "--size", "1k", "--count", args.count,
                                           "--recipient", "joe@example.com"])),
        ("smtp c=10 1 KiB, a connection per message", "ok", {"direct": smtpPort, "nginx": ports["mx"]},
         lambda port: tool("loadsmtp.py", ["--port", port, "-c", 10, "--size", "1k", "--count", args.count // 2,
                                           "--per-session", 1, "--recipient", "joe@example.com"])),
        ("smtp c=1 100 KiB", "ok", {"direct": smtpPort, "nginx": ports["mx"], "nginx 128k": ports["mxbig"]},
         lambda port: tool("loadsmtp.py", ["--port", port, "-c", 1, "--size", "100k", "--count", args.big_count,
                                           "--recipient", "joe@example.com"])),
        ("pop3 8 x 200 x 10 KiB", "messages", {"direct": pop3Port, "nginx": ports["pop3"],
                                               "nginx 128k": ports["pop3big"]},
         lambda port: tool("loadpop3.py", ["--port", port, "--users", ",".join(users[1:]),
                                           "--password", T.PASSWORD])),
    ]
    results: list[dict] = []
    try:
        for cell, count, targets, run in [c for c in cells if args.only in c[0]]:
            for repeat in range(args.repeats):
                order = list(targets.items())
                order = order[repeat % len(order):] + order[:repeat % len(order)]
                for name, port in order:
                    result = measured(lambda: run(port), count, pids)
                    result.update(cell=cell, target=name, repeat=repeat)
                    log(json.dumps(result))
                    results.append(result)
    finally:
        nginx.stop()
        T.Server.stopAll()
    log(table(results))
    print(json.dumps(results))


def table(results: list[dict]) -> str:
    """
    Markdown: per cell and target, the median over repeats of msg/s, p50
    and p99 (ms) and CPU per message (us) of ours and of nginx.
    """
    from common import median

    lines = ["| cell | target | msg/s | p50 ms | p99 ms | CPU us/msg ours | CPU us/msg nginx |",
             "|---|---|---|---|---|---|---|"]
    seen: list[tuple[str, str]] = []
    for result in results:
        if (result["cell"], result["target"]) not in seen:
            seen.append((result["cell"], result["target"]))
    for cell, target in seen:
        runs = [r for r in results if r["cell"] == cell and r["target"] == target]

        def mid(*keys: str) -> object:
            values = [r[k] for r in runs for k in keys if r.get(k) is not None]
            found = median(values)
            return "-" if found is None else round(found, 1)

        lines.append(f"| {cell} | {target} | {mid('msgs_per_s')} | {mid('p50_ms', 'retr_p50_ms')} | "
                     f"{mid('p99_ms', 'retr_p99_ms')} | {mid('cpu_us_per_msg_ours')} | {mid('cpu_us_per_msg_nginx')} |")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
