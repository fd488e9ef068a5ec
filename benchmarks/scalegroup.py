# -*- test-case-name: tests.test_benchmarks -*-
"""
The scale group of C{benchmarks/run.py} (issue 18): our suite with
C{workers: 1} and with C{workers: 2}, both with a private redis-server
(C{cluster.redis}: the shared state every worker count pays for), on the
same cells: SMTP 1 KiB at c=50 on kept connections, POP3 (the POP3
group's users x messages x size) and the chat fan-out p99.  On the SMTP
and POP3 cells two more targets, where this machine has them:
C{workers: 1} on the PostgreSQL store (C{cluster.postgres}, a private
server: L{pgstore}) and C{workers: 1} behind nginx's mail proxy (asking
our C{proxy.auth_http}, XCLIENT on, C{proxy_buffer 128k}:
L{nginxbench}), both beside the same Redis, so that each differs from
C{workers: 1} in one thing.

Besides messages per second, each run records the CPU time per message
(utime + stime from C{/proc}, the same way before and after the run) of
the server's process tree (the supervisor and its workers; each
process's share is kept too, C{cpu_s_by_process}), of redis-server, and of the load generator (this process's finished
children, C{getrusage}), and of PostgreSQL or nginx for their targets:
the generators run on the same cores as the servers, so what they use is
not available to the workers.
"""
from __future__ import annotations

import glob
import os
import resource
import time
from dataclasses import dataclass
from typing import Any, Callable

import nginxbench
import pgstore
import targets as T
from common import LOOPBACK, cpuSecondsByProcess, freePort, log, setAside, treeCpuSeconds
from scenarios import Bench, chatCellName, sizeName, started, stopAll

from twisted_mail_suite.testing import nginx as N
from twisted_mail_suite.testing.redisserver import RedisServer, redisServerPath

WORKERS = (1, 2)
POSTGRES = "workers: 1, PostgreSQL"
NGINX = "workers: 1, nginx in front"
SMTP_CELL = (1024, 50, 0)           # 1 KiB, c=50, connections kept
READY = b"twisted-mail-suite ready"


@dataclass
class Front:
    """
    nginx in front of one of our servers, as a target: its C{ports} are
    nginx's, its C{pid} and C{folder} are the server's behind it (the CPU
    figures of every target are our server's).
    """

    behind: Any
    nginx: Any
    ports: dict[str, int]

    name = "nginx"

    @property
    def pid(self) -> int:
        return int(self.behind.pid)

    @property
    def folder(self) -> str:
        return str(self.behind.folder)

    def stop(self) -> None:
        self.nginx.stop()


def targetName(workers: int) -> str:
    return f"workers: {workers}"


def smtpCell() -> str:
    return f"SMTP {sizeName(SMTP_CELL[0])} c={SMTP_CELL[1]}"


def childrenCpuSeconds() -> float:
    used = resource.getrusage(resource.RUSAGE_CHILDREN)
    return used.ru_utime + used.ru_stime


def waitWorkers(server: Any, workers: int, timeout: float = 60.0) -> None:
    """
    Wait until C{workers} workers said they are ready in the server's log
    (the supervisor is ready before its workers).
    """
    path = os.path.join(server.folder, "twistd.log")
    deadline = time.monotonic() + timeout
    while True:
        try:
            with open(path, "rb") as f:
                if f.read().count(READY) >= workers:
                    return
        except FileNotFoundError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"{workers} workers not ready within {timeout:g} s; see {path}")
        time.sleep(0.2)


def measured(run: Callable[[], dict], count: str, server: Any, others: dict[str, int]) -> dict:
    """
    C{run()}'s result with the CPU per message (us) of the server's tree,
    of each of C{others} (name -> the PID of a process tree: redis-server,
    postgres, nginx) and of the load generator; C{count} names the
    result's message count.
    """
    processes = cpuSecondsByProcess(server.pid)
    names = ["server", *others, "loadgen"]

    def reading(server: float) -> list[float]:
        return [server, *(treeCpuSeconds(pid) for pid in others.values()), childrenCpuSeconds()]

    before = reading(sum(processes.values()))
    result = run()
    now = cpuSecondsByProcess(server.pid)
    after = reading(sum(now.values()))
    done = int(result.get(count) or 0)
    if done:
        for key, b, a in zip(names, before, after):
            result[f"cpu_us_per_msg_{key}"] = round((a - b) * 1e6 / done, 1)
    # how the work spread: CPU seconds of each process of the tree (the supervisor is the first)
    result["cpu_s_by_process"] = [round(now[pid] - processes.get(pid, 0.0), 2) for pid in now]
    return result


def scale(bench: Bench) -> None:
    """
    C{workers: 1} against C{workers: 2}, interleaved: SMTP, POP3, chat.
    """
    plan, scratch = bench.plan, os.path.join(bench.scratch, "scale")
    if redisServerPath() is None:
        bench.problems.append("scale: skipped, redis-server is not installed (Debian package redis-server)")
        log("run: scale skipped: redis-server is not installed")
        return
    os.makedirs(scratch, exist_ok=True)
    users = [f"u{i}" for i in range(plan.pop3Users)]

    def seed(mailRoot: str) -> None:
        for user in users:
            T.seedMaildir(os.path.join(mailRoot, user), plan.pop3Messages, plan.pop3Size, user)

    redis = RedisServer(T.scratchDir(scratch, "redis")).start()
    assert redis.process is not None
    others = {name: {"redis": redis.process.pid} for name in map(targetName, WORKERS)}
    servers: list[tuple[str, T.Server]] = []
    database: list[Any] = []
    proxy, authPort = nginxbench.proxySection(scratch)
    try:
        for workers in WORKERS:
            more = {"cluster": {"redis": redis.url, "node": "bench"}, "workers": workers}
            if workers == 1:
                more["proxy"] = proxy       # for the nginx in front (one more listener, idle otherwise)

            def start(workers: int = workers, more: dict = more) -> Any:
                server = T.startOurs(scratch, ("smtp", "pop3", "chat"), ["joe", *users], f"workers-{workers}",
                                     seed=seed, more=more)
                waitWorkers(server, workers)
                return server
            started(servers, targetName(workers), start, bench)
        if not servers:
            return
        workerServers = list(servers)
        startPostgres(bench, scratch, servers, others, database, redis, ["joe", *users], seed)
        startNginx(bench, scratch, servers, others, authPort)
        smtpCount = plan.smtpCount[SMTP_CELL[0]] * (2 if plan.repeats > 1 else 1)

        def emptyMailbox(name: str, server: Any) -> None:
            setAside(glob.glob(os.path.join(server.folder, "data", "mail", "joe", "*", "*")),
                     os.path.join(server.folder, "delivered"))

        def smtp(_: object, name: str, server: Any) -> dict:
            size, concurrency, perSession = SMTP_CELL
            return measured(lambda: bench.tool("loadsmtp.py", [
                "--port", server.ports["smtp"], "-c", concurrency, "--size", size, "-n", smtpCount,
                "--per-session", perSession, "--max-seconds", plan.runSeconds, "--label", name]), "ok", server,
                others[name])

        def pop3(_: object, name: str, server: Any) -> dict:
            return measured(lambda: bench.tool("loadpop3.py", [
                "--port", server.ports["pop3"], "--users", ",".join(users), "--password", T.PASSWORD,
                "--max-seconds", plan.runSeconds, "--label", name]), "messages", server, others[name])

        bench.interleave("scale", [smtpCell()], servers, lambda c: c, smtp, emptyMailbox)
        bench.interleave("scale", [f"POP3 {plan.pop3Users} users x {plan.pop3Messages} x {sizeName(plan.pop3Size)}"],
                         servers, lambda c: c, pop3)
        chat(bench, workerServers)
    finally:
        stopAll(servers)
        for postgres in database:
            postgres.stop()
        redis.close()
        log("run: scale group done")


def startPostgres(bench: Bench, scratch: str, servers: list[tuple[str, Any]], others: dict[str, dict[str, int]],
                  database: list[Any], redis: RedisServer, users: list[str], seed: Callable[[str], None]) -> None:
    """
    C{workers: 1} on the PostgreSQL store (its POP3 mail copied in from
    the same seeded Maildirs), appended to C{servers}; its database server
    to C{database}.
    """
    reason = pgstore.missing()
    if reason is not None:
        bench.problems.append(f"scale: no PostgreSQL store target, {reason}")
        log(f"run: scale without the PostgreSQL store: {reason}")
        return

    def start() -> Any:
        postgres, url = pgstore.startDatabase()
        database.append(postgres)
        others[POSTGRES] = {"redis": redis.process.pid, "postgres": postgres.process.pid}
        return T.startOurs(scratch, ("smtp", "pop3"), users, "workers-1-postgres",
                           seed=pgstore.seededStore(url, seed),
                           more={"cluster": {"redis": redis.url, "node": "bench", "postgres": url}})
    started(servers, POSTGRES, start, bench)


def startNginx(bench: Bench, scratch: str, servers: list[tuple[str, Any]], others: dict[str, dict[str, int]],
               authPort: int) -> None:
    """
    nginx's mail proxy in front of C{workers: 1} (SMTP as MX, POP3 with
    USER/PASS; C{proxy_buffer 128k} as docs/nginx.conf has it, against the
    40 ms stall), appended to C{servers} as a L{Front}.
    """
    reason = N.missing()
    behind = dict(servers).get(targetName(1))
    if reason is not None or behind is None:
        bench.problems.append(f"scale: no nginx target, {reason or 'workers: 1 did not start'}")
        log(f"run: scale without nginx in front: {reason}")
        return

    def start() -> Any:
        ports = {"smtp": freePort(), "pop3": freePort()}
        front = nginxbench.startFront(os.path.join(scratch, "nginx"), authPort,
                                      [N.MailServer(ports["smtp"], "smtp", "none", extra=nginxbench.BIG_BUFFER),
                                       N.MailServer(ports["pop3"], "pop3", "plain", extra=nginxbench.BIG_BUFFER)])
        others[NGINX] = {**others[targetName(1)], "nginx": front.process.pid}
        return Front(behind, front, ports)
    started(servers, NGINX, start, bench)


def chat(bench: Bench, servers: list[tuple[str, T.Server]]) -> None:
    """
    The chat fan-out, both worker counts' clients connected at once and the
    rounds alternating inside the load generator (as the chat group does):
    with two workers, the room's members are spread over both and every
    line crosses Redis to the other one.
    """
    plan = bench.plan
    cell = plan.chatCells[1] if len(plan.chatCells) > 1 else plan.chatCells[0]
    clients, rate, lines, procs = cell
    args: list[Any] = ["-n", clients, "-m", lines, "--rate", rate, "--rounds", plan.repeats, "--procs", procs,
                       "--max-seconds", plan.runSeconds, "--settle", plan.settle, "--label", "scale"]
    for name, server in servers:
        args += ["--target", f"{name.replace(': ', '')}={LOOPBACK}:{server.ports['chat']}:line"]
    names = {name.replace(": ", ""): name for name, _ in servers}
    result = bench.tool("loadchat.py", args, timeout=(plan.runSeconds + 20) * (plan.repeats + 1) * len(servers) + 180)
    name = f"chat {chatCellName(cell)}"
    if result.get("error") or not result.get("runs"):
        bench.add("scale", name, targetName(WORKERS[0]), 0, {"error": result.get("error") or result.get("errors")})
        return
    for run in result["runs"]:
        run.update(setup=result["setup"].get(run["target"]), errors=result.get("errors"))
        bench.add("scale", name, names.get(run["target"], run["target"]), run["round"], run)
