# -*- test-case-name: tests.test_benchmarks -*-
"""
The scenarios of a benchmark run, one function per protocol group.  Each
starts the servers it needs (ours and the anchors that are installed),
runs its cells with the targets interleaved (A B C, B C A, C A B, ...),
the same load generator for every target, profiles our server where it
trails an anchor, and stops what it started.
"""
from __future__ import annotations

import glob
import os
import subprocess
import sys
import time
from dataclasses import dataclass, field
from typing import Any, Callable

import profiles
import targets as T
from common import cpuPerOperation, cpuSeconds, lastJSONLine, log, median, setAside

HERE = os.path.dirname(os.path.abspath(__file__))
SMTP_USERS = ["joe"]


@dataclass
class Plan:
    """
    How much of everything: L{FULL} reproduces docs/performance.md, L{QUICK}
    keeps the benchmark itself working in CI.
    """

    repeats: int
    smtpCells: list[tuple[int, int, int]]        # (size, concurrency, messages per connection: 0 = reuse)
    smtpCount: dict[int, int]                    # size -> messages per run
    pop3Users: int
    pop3Messages: int
    pop3Size: int
    imapPasses: int                              # each IMAP session reads its mailbox this many times per run
    bigSize: int
    chatCells: list[tuple[int, float, int, int]]  # (clients, lines/s, lines, client processes)
    idleConns: int
    dovecotIdleConns: int
    idleSteps: int
    settle: float
    maxChat: int
    profileSeconds: float
    runSeconds: float                            # wall-clock cap of any one load run


FULL = Plan(
    repeats=3,
    smtpCells=[(size, c, per) for per in (0, 1) for size in (1024, 102400) for c in (1, 10, 50)],
    smtpCount={1024: 1000, 102400: 300},
    pop3Users=8, pop3Messages=200, pop3Size=10240, imapPasses=10, bigSize=50 * 1024 * 1024,
    chatCells=[(100, 100.0, 300, 1), (500, 50.0, 150, 2), (1000, 50.0, 150, 2)],
    idleConns=2000, dovecotIdleConns=80, idleSteps=4, settle=1.0,
    maxChat=10000, profileSeconds=6.0, runSeconds=40.0)

QUICK = Plan(
    repeats=1,
    smtpCells=[(1024, 10, 0), (1024, 10, 1), (102400, 10, 0)],
    smtpCount={1024: 40, 102400: 10},
    pop3Users=2, pop3Messages=20, pop3Size=10240, imapPasses=1, bigSize=2 * 1024 * 1024,
    chatCells=[(20, 50.0, 20, 1)],
    idleConns=100, dovecotIdleConns=20, idleSteps=2, settle=0.3,
    maxChat=500, profileSeconds=3.0, runSeconds=15.0)


def sizeName(size: int) -> str:
    return f"{size // 1048576} MB" if size >= 1048576 else f"{size // 1024} KiB"


def smtpCellName(cell: tuple[int, int, int]) -> str:
    size, concurrency, perSession = cell
    return f"{sizeName(size)} c={concurrency} {'reuse' if perSession == 0 else 'per-msg'}"


@dataclass
class Bench:
    """
    One run's shared state: the plan, where to put things, what is
    missing, and every result so far.
    """

    plan: Plan
    scratch: str
    missing: dict[str, str]
    profile: bool
    variants: dict[str, dict[str, str]] = field(default_factory=dict)   # more of ours, with environment
    records: list[dict] = field(default_factory=list)
    profiles: dict[str, dict] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

    def have(self, anchor: str) -> bool:
        return anchor not in self.missing

    def haveDovecot(self, protocol: str) -> bool:
        """
        Is Dovecot's C{protocol} server here (and Dovecot not skipped)?
        The C{dovecot} anchor check looks for its POP3 server.
        """
        skipped = self.missing.get("dovecot", "").startswith("skipped")
        return not skipped and T.dovecotServes(protocol)

    def tool(self, module: str, args: list[str], timeout: float | None = None) -> dict:
        """
        Run one load generator in a child process; its JSON line, or an error.
        """
        command = [sys.executable, os.path.join(HERE, module), *map(str, args)]
        try:
            done = subprocess.run(command, capture_output=True, text=True,
                                  timeout=timeout or self.plan.runSeconds + 60)
        except subprocess.TimeoutExpired as e:
            return {"error": f"{module} did not finish within {e.timeout:.0f} s"}
        try:
            return lastJSONLine(done.stdout)
        except ValueError:
            return {"error": f"{module} exited {done.returncode} without a result: {done.stderr.strip()[-300:]}"}

    def add(self, scenario: str, cell: str, target: str, repeat: int, result: dict) -> None:
        self.records.append({"scenario": scenario, "cell": cell, "target": target,
                             "repeat": repeat, "result": result})
        if result.get("error") or result.get("errors") or result.get("connect_errors"):
            detail = result.get("error") or result.get("first_errors") or result.get("errors")
            count = result.get("errors") if isinstance(result.get("errors"), int) else result.get("connect_errors")
            self.problems.append(f"{scenario} {cell} {target}: {f'{count} failed: ' if count else ''}"
                                 f"{str(detail)[:200]}")

    def interleave(self, scenario: str, cells: list[Any], servers: list[tuple[str, T.Server]],
                   cellName: Callable[[Any], str], run: Callable[[Any, str, T.Server], dict],
                   after: Callable[[str, T.Server], None] | None = None) -> None:
        """
        Every cell, C{plan.repeats} times, the targets in rotated order;
        each result gets the server's CPU time over the run (its process
        tree, from C{/proc}) and per message (L{cpuPerOperation}).
        """
        for cell in cells:
            for repeat in range(self.plan.repeats):
                shift = repeat % len(servers)
                for name, server in servers[shift:] + servers[:shift]:
                    before = cpuSeconds(server.pid)
                    result = run(cell, name, server)
                    result.update(cpuPerOperation(before, cpuSeconds(server.pid),
                                                  result.get("ok", result.get("messages"))))
                    self.add(scenario, cellName(cell), name, repeat, result)
                    log(f"run: {scenario} {cellName(cell)} #{repeat} {name}: " + ", ".join(
                        f"{k} {result[k]}" for k in ("msgs_per_s", "p50_ms", "p99_ms", "cpu_us_per_msg", "error")
                        if k in result))
                    if after is not None:
                        after(name, server)

    def medians(self, scenario: str, metric: str) -> dict[str, dict[str, float]]:
        """
        cell -> target -> median of C{metric}.
        """
        values: dict[str, dict[str, list]] = {}
        for r in self.records:
            if r["scenario"] == scenario and isinstance(r["result"].get(metric), (int, float)):
                values.setdefault(r["cell"], {}).setdefault(r["target"], []).append(r["result"][metric])
        return {cell: {t: median(v) for t, v in per.items()} for cell, per in values.items()}

    def worstCell(self, scenario: str, metric: str, higherIsBetter: bool, cells: list[str],
                  anchors: tuple[str, ...]) -> tuple[str, str, float] | None:
        """
        The cell (of C{cells}) where ours trails one of C{anchors} most:
        (cell, anchor, ours relative to it), or None if ours leads everywhere.
        """
        worst = None
        for cell, per in self.medians(scenario, metric).items():
            if cell not in cells or not per.get("ours"):
                continue
            for anchor in anchors:
                theirs = per.get(anchor)
                if not theirs:
                    continue
                ratio = per["ours"] / theirs if higherIsBetter else theirs / per["ours"]
                if ratio < 1 and (worst is None or ratio < worst[2]):
                    worst = (cell, anchor, round(ratio, 3))
        return worst

    def profileOurs(self, key: str, server: T.Server, trailing: tuple[str, str, float] | None,
                    load: Callable[[float], dict]) -> None:
        if trailing is None or not self.profile:
            return
        cell, anchor, ratio = trailing
        log(f"run: profiling ours on {key} {cell} (ours at {ratio}x {anchor})")
        seconds = self.plan.profileSeconds
        summary = profiles.record(server.pid, seconds, os.path.join(self.scratch, f"profile-{key}.txt"),
                                  lambda: load(seconds))
        summary.update(cell=cell, anchor=anchor, ratio=ratio)
        self.profiles[key] = summary


def started(servers: list[tuple[str, T.Server]], name: str, start: Callable[[], T.Server],
            bench: Bench) -> None:
    try:
        server = start()
    except Exception as e:      # an anchor that fails to start is reported, not fatal
        bench.problems.append(f"{name} did not start: {str(e)[:300]}")
        log(f"run: {name} did not start: {e}")
        return
    T.logStarted(server)
    servers.append((name, server))


def startOursAll(bench: Bench, servers: list[tuple[str, T.Server]], scratch: str, roles: tuple[str, ...],
                 users: list[str], seed: Callable[[str], None] | None = None) -> None:
    """
    Ours, then every C{--variant} of ours (each with its own data).
    """
    started(servers, "ours", lambda: T.startOurs(scratch, roles, users, seed=seed), bench)
    for name, environment in bench.variants.items():
        started(servers, name, lambda: T.startOurs(scratch, roles, users, name, environment, seed), bench)


def stopAll(servers: list[tuple[str, T.Server]]) -> None:
    for _, server in servers:
        server.stop()


# -- SMTP ------------------------------------------------------------------

def smtp(bench: Bench) -> None:
    plan, scratch = bench.plan, os.path.join(bench.scratch, "smtp")
    servers: list[tuple[str, T.Server]] = []
    startOursAll(bench, servers, scratch, ("smtp",), SMTP_USERS)
    for name, start in [("smtp-sink", lambda: T.startSmtpSink(scratch)),
                        ("twisted", lambda: T.startTwisted(scratch, ("smtp",), SMTP_USERS)),
                        ("aiosmtpd", lambda: T.startAiosmtpd(scratch))]:
        if bench.have(name):
            started(servers, name, start, bench)
    mailboxes = {"twisted": "twisted/mail/joe", "aiosmtpd": "aiosmtpd/Maildir",
                 **{name: f"{name}/data/mail/joe" for name in ["ours", *bench.variants]}}

    def run(cell: tuple[int, int, int], name: str, server: T.Server, count: int | None = None,
            seconds: float | None = None) -> dict:
        size, concurrency, perSession = cell
        return bench.tool("loadsmtp.py", [
            "--port", server.ports["smtp"], "-c", concurrency, "--size", size,
            "-n", count or plan.smtpCount[size], "--per-session", perSession,
            "--max-seconds", seconds or plan.runSeconds, "--label", name])

    def emptyMailbox(name: str, server: T.Server) -> None:
        """Set aside what the run delivered (L{setAside}: no writeback, no freed inode for later runs)."""
        if name in mailboxes:
            setAside(glob.glob(os.path.join(scratch, mailboxes[name], "*", "*")),
                     os.path.join(scratch, f"{name}-delivered"))

    try:
        bench.interleave("smtp", plan.smtpCells, servers, smtpCellName, run, emptyMailbox)
        ours = dict(servers).get("ours")
        if ours is not None:
            for size in sorted({c[0] for c in plan.smtpCells}):
                cells = [c for c in plan.smtpCells if c[0] == size]
                trailing = bench.worstCell("smtp", "msgs_per_s", True, [smtpCellName(c) for c in cells],
                                           ("twisted", "aiosmtpd"))
                cell = next((c for c in cells if trailing and smtpCellName(c) == trailing[0]), None)
                bench.profileOurs(f"smtp-{sizeName(size).replace(' ', '')}", ours, trailing,
                                  lambda seconds: run(cell, "ours", ours, 10 ** 6, seconds))
                emptyMailbox("ours", ours)
    finally:
        stopAll(servers)


# -- POP3 ------------------------------------------------------------------

def pop3(bench: Bench) -> None:
    """
    Ours, Dovecot and Twisted read the very same Maildirs (ours's data/mail;
    a variant of ours gets its own copy).
    """
    plan, scratch = bench.plan, os.path.join(bench.scratch, "pop3")
    users = [f"u{i}" for i in range(plan.pop3Users)]
    servers: list[tuple[str, T.Server]] = []

    def seed(mailRoot: str) -> None:
        for user in users:
            T.seedMaildir(os.path.join(mailRoot, user), plan.pop3Messages, plan.pop3Size, user)

    startOursAll(bench, servers, scratch, ("pop3",), users, seed)
    if not servers or servers[0][0] != "ours":
        return
    ours = servers[0][1]
    mailRoot = os.path.join(ours.folder, "data", "mail")
    if bench.have("dovecot"):
        started(servers, "dovecot", lambda: T.startDovecot(scratch, mailRoot, users), bench)
    if bench.have("twisted"):
        started(servers, "twisted", lambda: T.startTwisted(scratch, ("pop3",), users, mailRoot), bench)
    # Twisted's POP3 logs in as user@domain
    logins = {"twisted": ",".join(f"{u}@{T.DOMAIN}" for u in users)}
    cell = f"{plan.pop3Users} users x {plan.pop3Messages} x {sizeName(plan.pop3Size)}"

    def run(_: object, name: str, server: T.Server, seconds: float | None = None) -> dict:
        return bench.tool("loadpop3.py", ["--port", server.ports["pop3"], "--users", logins.get(name, ",".join(users)),
                                          "--password", T.PASSWORD, "--max-seconds", seconds or plan.runSeconds,
                                          "--label", name])

    try:
        bench.interleave("pop3", [cell], servers, lambda c: c, run)
        trailing = bench.worstCell("pop3", "msgs_per_s", True, [cell], ("dovecot", "twisted"))

        def loop(seconds: float) -> dict:
            deadline, result = time.monotonic() + seconds, {}
            while time.monotonic() < deadline:
                result = run(None, "ours", ours, max(1.0, deadline - time.monotonic()))
            return result
        bench.profileOurs("pop3", ours, trailing, loop)
    finally:
        stopAll(servers)
    bigMessage(bench)


# -- IMAP ------------------------------------------------------------------

def imap(bench: Bench) -> None:
    """
    The IMAP group (L{imapgroup}: its own module, this one is long enough).
    """
    import imapgroup
    imapgroup.imap(bench)


def bigMessage(bench: Bench) -> None:
    """
    One large message retrieved from a fresh server: how much its memory grows.
    """
    plan = bench.plan
    cell = f"one {sizeName(plan.bigSize)} message"
    for name in ["ours"] + (["twisted"] if bench.have("twisted") else []):
        scratch = os.path.join(bench.scratch, f"pop3-big-{name}")
        servers: list[tuple[str, T.Server]] = []
        mailRoot = os.path.join(scratch, "ours", "data", "mail") if name == "ours" else os.path.join(scratch, "mail")
        T.makeMaildirs(mailRoot, ["big"])
        T.seedMaildir(os.path.join(mailRoot, "big"), 1, plan.bigSize, "big")
        if name == "ours":
            def start() -> T.Server:
                return T.startOurs(scratch, ("pop3",), ["big"])
        else:
            def start() -> T.Server:
                return T.startTwisted(scratch, ("pop3",), ["big"], mailRoot)
        started(servers, name, start, bench)
        try:
            for _, server in servers:
                time.sleep(plan.settle)
                login = "big" if name == "ours" else f"big@{T.DOMAIN}"
                bench.add("pop3-big", cell, name, 0, bench.tool("loadpop3.py", [
                    "--port", server.ports["pop3"], "--users", login, "--password", T.PASSWORD,
                    "--pid", server.pid, "--max-seconds", plan.runSeconds, "--label", name]))
        finally:
            stopAll(servers)


# -- chat ------------------------------------------------------------------

WS_SHARE = 0.25     # of our chat receivers, over the WebSocket


def chatCellName(cell: tuple[int, float, int, int]) -> str:
    clients, rate, lines, _ = cell
    return f"{clients} clients, {rate:g} lines/s"


def chat(bench: Bench) -> None:
    """
    Fan-out: all targets' clients connected at once, rounds interleaved
    inside the load generator.
    """
    plan, scratch = bench.plan, os.path.join(bench.scratch, "chat")
    servers: list[tuple[str, T.Server]] = []
    startOursAll(bench, servers, scratch, ("chat", "http"), SMTP_USERS)   # http: the /chat WebSocket
    if bench.have("ngircd"):
        started(servers, "ngircd", lambda: T.startNgircd(scratch), bench)
    protocol = {"ngircd": "irc"}
    specs = [f"{name}={T.LOOPBACK}:{server.ports['chat']}:{protocol.get(name, 'line')}" for name, server in servers]
    # a share of our receivers join over the WebSocket: their latency is reported beside the TCP ones'
    webSockets = [f"{name}={T.LOOPBACK}:{server.ports['http']}" for name, server in servers if "http" in server.ports]

    def fanOut(cell: tuple[int, float, int, int], specs: list[str], rounds: int, label: str) -> dict:
        clients, rate, lines, procs = cell
        args = ["-n", clients, "-m", lines, "--rate", rate, "--rounds", rounds, "--procs", procs,
                "--max-seconds", plan.runSeconds, "--settle", plan.settle, "--label", label]
        for spec in specs:
            name = spec.partition("=")[0]
            args += ["--target", spec, "--pid", f"{name}={dict(servers)[name].pid}"]
        for spec in webSockets:
            if any(target.startswith(spec.partition("=")[0] + "=") for target in specs):
                args += ["--ws", spec, "--ws-share", WS_SHARE]
        # setup of 1000 IRC clients takes ngircd up to a minute
        return bench.tool("loadchat.py", args, timeout=(plan.runSeconds + 20) * (rounds + 1) * len(specs) + clients * 0.2 + 180)

    try:
        for cell in plan.chatCells:
            result = fanOut(cell, specs, plan.repeats, chatCellName(cell))
            if result.get("error") or not result.get("runs"):
                bench.add("chat", chatCellName(cell), "ours", 0, {"error": result.get("error") or result.get("errors")})
                continue
            for name, setup in result["setup"].items():
                if setup["errors"]:
                    bench.problems.append(f"chat {chatCellName(cell)} {name}: {setup['errors']} clients failed "
                                          f"to connect or join: {setup['first_errors']}")
            for run in result["runs"]:
                run.update(setup=result["setup"].get(run["target"]), errors=result.get("errors"))
                bench.add("chat", chatCellName(cell), run["target"], run["round"], run)
        ours = dict(servers).get("ours")
        names = [chatCellName(c) for c in plan.chatCells]
        trailing = bench.worstCell("chat", "p99_ms", False, names, ("ngircd",)) \
            or bench.worstCell("chat", "p50_ms", False, names, ("ngircd",))
        if ours is not None and trailing is not None:
            cell = plan.chatCells[names.index(trailing[0])]
            oursSpec = [s for s in specs if s.startswith("ours=")]
            rounds = max(1, int(plan.profileSeconds // (cell[2] / cell[1])))
            bench.profileOurs("chat", ours, trailing, lambda seconds: fanOut(cell, oursSpec, rounds, "profile"))
    finally:
        stopAll(servers)


# -- memory ----------------------------------------------------------------

def idle(bench: Bench) -> None:
    """
    Memory per idle connection, each protocol on a fresh server (RSS); then
    what ours and Twisted's hold by Python allocation (tracemalloc).
    """
    plan = bench.plan
    cases = [("smtp", "ours", "smtp"), ("pop3", "ours", "pop3"), ("chat", "ours", "line"), ("imap", "ours", "line"),
             ("smtp", "twisted", "smtp"), ("pop3", "twisted", "pop3"), ("smtp", "aiosmtpd", "smtp"),
             ("pop3", "dovecot", "pop3"), ("imap", "dovecot", "line"), ("chat", "ngircd", "irc")]
    for protocol, name, greet in cases:
        if name == "dovecot" and not bench.haveDovecot(protocol) or name not in ("ours", "dovecot") \
                and not bench.have(name):
            continue
        scratch = os.path.join(bench.scratch, f"idle-{protocol}-{name}")
        servers: list[tuple[str, T.Server]] = []
        start = {
            "ours": lambda: T.startOurs(scratch, (protocol,), SMTP_USERS),
            "twisted": lambda: T.startTwisted(scratch, (protocol,), SMTP_USERS),
            "aiosmtpd": lambda: T.startAiosmtpd(scratch),
            "dovecot": lambda: T.startDovecot(scratch, os.path.join(scratch, "mail"), SMTP_USERS,
                                              protocol=protocol),
            "ngircd": lambda: T.startNgircd(scratch),
        }[name]
        if name == "dovecot":
            T.makeMaildirs(os.path.join(scratch, "mail"), SMTP_USERS)
        started(servers, name, start, bench)
        try:
            for _, server in servers:
                conns = plan.dovecotIdleConns if name == "dovecot" else plan.idleConns
                args = ["--port", server.ports[protocol], "--pid", server.pid, "-k", conns,
                        "--steps", plan.idleSteps, "--greet", greet, "--settle", plan.settle,
                        "--max-seconds", plan.runSeconds * 3, "--label", name]
                if name == "dovecot":
                    args.append("--tree")      # a login process per connection
                if name == "ngircd":
                    args += ["--connect-parallel", 8]   # its listen backlog is 10
                bench.add("idle", protocol, name, 0, bench.tool("loadidle.py", args, timeout=plan.runSeconds * 3 + 60))
        finally:
            stopAll(servers)
    for protocol, name in [(p, "ours") for p in ("smtp", "pop3", "chat")] + [(p, "twisted") for p in ("smtp", "pop3")]:
        if name == "ours" or bench.have(name):
            bench.add("idle-traced", protocol, name, 0, bench.tool("idlememory.py", [
                "--protocol", protocol, "--server", name, "-k", plan.idleConns // 4, "--settle", plan.settle]))


def maxChat(bench: Bench) -> None:
    """
    The most chat clients our server holds at once: as many as the
    file-descriptor limit allows (at least the 10,000 target; a quick run
    asks for few), then whether one more client is still served.
    """
    import resource

    plan = bench.plan
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    asked = plan.maxChat if plan.maxChat < 10000 else max(plan.maxChat, min(20000, hard - 256))
    scratch = os.path.join(bench.scratch, "maxchat")
    servers: list[tuple[str, T.Server]] = []
    started(servers, "ours", lambda: T.startOurs(scratch, ("chat",), SMTP_USERS), bench)
    try:
        for name, server in servers:
            result = bench.tool("loadidle.py", [
                "--port", server.ports["chat"], "--pid", server.pid, "-k", asked, "--steps", 5,
                "--greet", "line", "--settle", plan.settle, "--hold", 3 * plan.settle, "--probe",
                "--connect-parallel", 32, "--max-seconds", plan.runSeconds * 4, "--label", name],
                timeout=plan.runSeconds * 4 + 90)
            bench.add("maxchat", f"{asked} clients", name, 0, result)
    finally:
        stopAll(servers)


def relay(bench: Bench) -> None:
    """
    The relay group (L{relaygroup}: its own module).
    """
    import relaygroup
    relaygroup.relay(bench)


def scale(bench: Bench) -> None:
    """
    The scale group (L{scalegroup}: its own module): C{workers: 1} against
    C{workers: 2}.
    """
    import scalegroup
    scalegroup.scale(bench)


GROUPS: dict[str, Callable[[Bench], None]] = {
    "smtp": smtp, "pop3": pop3, "imap": imap, "relay": relay, "chat": chat, "idle": idle, "maxchat": maxChat,
    "scale": scale}
