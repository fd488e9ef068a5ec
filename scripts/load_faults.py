#!/usr/bin/env python
# -*- test-case-name: tests.reliability.test_load -*-
"""
Load and faults against a real C{twistd -n mailsuite}: misbehaving clients
hit only themselves.  Scenarios, one after the other on one server:

  drops      connections opened and dropped abruptly (TCP RST) at every
             stage: at connect, after the greeting, mid-command, mid-DATA;
             SMTP, POP3 and chat
  slowloris  connections that send a byte now and then (SMTP, POP3, chat)
  chat       chat clients in one room, some of which never read, while
             talkers fill the room: every non-reader is dropped, no reader is
  middata    SMTP clients that vanish in the middle of DATA (some messages
             big enough to be streaming into tmp/): nothing of them is kept
  limits     the configured connection limits (per client address and in
             total) hold under load, and free up again

During each scenario a normal client (127.0.0.1; the misbehaving ones
come from 127.0.0.2 and up) sends a message over SMTP, logs in over
POP3 and asks the chat who is there, and must be served.  The server's
memory (VmRSS of the twistd process, read from C{/proc/<pid>/status}) is
recorded before, during (peak) and after, with its open descriptors.

    .venv/bin/python scripts/load_faults.py                      # full counts
    .venv/bin/python scripts/load_faults.py --profile ci --json  # the CI form

Every count is bounded and each scenario has a wall-clock cap.  Prints a
table (JSON with C{--json}); exits 1 if any check failed.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import re
import shutil
import socket
import struct
import sys
import tempfile
import time
from typing import Any, Callable

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.dirname(HERE))

from twisted_mail_suite.testing.configfile import prepareDirectory  
from twisted_mail_suite.testing.process import SuiteProcess, openFiles  

USERS = {"alice": "alice-pw", "bob": "bob-pw", "carol": "carol-pw"}
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


from twisted.internet import defer, reactor  
from twisted.internet.defer import Deferred, DeferredSemaphore, inlineCallbacks  
from twisted.internet.task import LoopingCall, deferLater  

from tests.reliability.support import connect  

PROFILES = {
    "full": {"drops": 2000, "dropsConcurrency": 100, "slowloris": 200, "slowlorisSeconds": 20.0,
             "chatClients": 1000, "chatSilent": 100, "middata": 200, "limitPerIP": 50, "limitTotal": 300,
             "cap": 180.0, "settle": 1.0},
    "ci": {"drops": 300, "dropsConcurrency": 50, "slowloris": 60, "slowlorisSeconds": 2.0,
           "chatClients": 60, "chatSilent": 6, "middata": 30, "limitPerIP": 10, "limitTotal": 40,
           "cap": 60.0, "settle": 0.4},
}
WHO = re.compile(rb"\*\*\* who #\w+ \((\d+)\)")


def attacker(index: int) -> str:
    """
    The source address of misbehaving client C{index}: 127.0.0.2 to 127.0.0.9.
    """
    return f"127.0.0.{2 + index % 8}"


def reset(client: Any) -> None:
    """
    Drop a connection abruptly: RST, not FIN.
    """
    try:
        client.transport.getHandle().setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    except (OSError, AttributeError):        # already closed
        pass
    client.transport.abortConnection()


def sleep(seconds: float) -> Deferred:
    return deferLater(reactor, seconds, lambda: None)


class Probe:
    """
    The normal client: SMTP, POP3 and chat from 127.0.0.1, timed.
    """

    def __init__(self, server: SuiteProcess) -> None:
        self.server = server
        self.serial = 0
        self.results: list[dict] = []

    @inlineCallbacks
    def once(self) -> Any:
        self.serial += 1
        token = f"probe-{os.getpid()}-{self.serial}"
        began = time.monotonic()
        result: dict[str, Any] = {"token": token}
        try:
            smtp = yield connect(self.server.ports["smtp"])
            smtp.send(b"EHLO probe.test\r\nMAIL FROM:<probe@remote.test>\r\nRCPT TO:<alice@example.test>\r\n"
                      b"DATA\r\nSubject: probe\r\nX-Token: " + token.encode() + b"\r\n\r\nhello\r\n.\r\nQUIT\r\n")
            replies = yield smtp.lost
            result["smtp"] = b"\r\n250 2.0.0 OK queued" in replies and b"221 " in replies
            pop3 = yield connect(self.server.ports["pop3"])
            pop3.send(b"USER bob\r\nPASS " + USERS["bob"].encode() + b"\r\nSTAT\r\nQUIT\r\n")
            replies = yield pop3.lost
            result["pop3"] = replies.count(b"+OK") == 5
            chat = yield connect(self.server.ports["chat"])
            yield chat.waitFor(b"*** you are ")
            chat.send(b"/who\n")
            yield chat.waitFor(b"*** who #")
            chat.send(b"/quit\n")
            yield chat.lost
            result["chat"] = True
        except Exception as e:      # noqa: BLE001 - any failure of the probe is a finding
            result["error"] = repr(e)
        result["seconds"] = round(time.monotonic() - began, 3)
        result["ok"] = all(result.get(key) for key in ("smtp", "pop3", "chat"))
        self.results.append(result)
        return result


class Scenario:
    """
    Runs one attack with the probe repeating and memory sampled.
    """

    def __init__(self, name: str, server: SuiteProcess, probe: Probe, cap: float, settle: float) -> None:
        self.name = name
        self.settle = settle
        self.server = server
        self.probe = probe
        self.cap = cap
        self.peak = 0
        self.checks: dict[str, Any] = {}

    def sample(self) -> None:
        self.peak = max(self.peak, self.server.memory()["VmRSS"])

    @inlineCallbacks
    def run(self, attack: Callable[["Scenario"], Deferred], probeDuring: bool = True) -> Any:
        yield sleep(self.settle / 2)
        before = self.server.memory()["VmRSS"]
        filesBefore = openFiles(self.server.pid)
        self.peak = before
        sampler = LoopingCall(self.sample)
        sampler.start(0.1)
        probes: list[dict] = []
        running = [True]

        @inlineCallbacks
        def probeLoop() -> Any:
            while running[0]:
                probes.append((yield self.probe.once()))
                yield sleep(0.2)

        probing = probeLoop() if probeDuring else defer.succeed(None)
        began = time.monotonic()
        failure = None
        try:
            yield attack(self).addTimeout(self.cap, reactor)
        except Exception as e:     # noqa: BLE001
            failure = repr(e)
        running[0] = False
        yield probing
        elapsed = time.monotonic() - began
        yield sleep(self.settle)           # let the server notice every close
        sampler.stop()
        after = self.server.memory()["VmRSS"]
        filesAfter = openFiles(self.server.pid)
        final = yield self.probe.once()
        probes.append(final)
        result = {
            "scenario": self.name, "seconds": round(elapsed, 1),
            "rss_kib_before": before, "rss_kib_peak_during": self.peak, "rss_kib_after": after,
            "fds_before": filesBefore, "fds_after": filesAfter,
            "probes": len(probes), "probes_ok": sum(1 for p in probes if p["ok"]),
            "probe_max_seconds": max(p["seconds"] for p in probes),
            **self.checks,
        }
        if failure:
            result["error"] = failure
        problems = [p for p in probes if not p["ok"]]
        if problems:
            result["probe_failures"] = problems[:3]
        # + 3: kept from the first delivery on (among them the Maildir store's handle of the new/ folder)
        result["ok"] = (not failure and not problems and filesAfter <= filesBefore + 3
                        and all(v is True for k, v in self.checks.items() if k.startswith("check_")))
        return result


@inlineCallbacks
def drops(scenario: Scenario, profile: dict) -> Any:
    """
    Connections dropped with RST at connect, after the greeting,
    mid-command and mid-DATA.
    """
    ports = scenario.server.ports
    semaphore = DeferredSemaphore(profile["dropsConcurrency"])
    rng = random.Random(7)
    done = {"connected": 0, "refused": 0}

    @inlineCallbacks
    def one(index: int) -> Any:
        role = ("smtp", "pop3", "chat")[index % 3]
        stage = rng.choice(["connect", "greeting", "command", "data"])
        try:
            client = yield connect(ports[role], bindAddress=attacker(index))
        except Exception:     # noqa: BLE001
            done["refused"] += 1
            return
        done["connected"] += 1
        if stage != "connect":
            yield client.waitFor(b"\n")
        if stage == "command":
            client.send({"smtp": b"MAIL FROM:<half", "pop3": b"USER al", "chat": b"half a li"}[role])
        elif stage == "data":
            client.send({"smtp": b"EHLO x\r\nMAIL FROM:<d@remote.test>\r\nRCPT TO:<bob@example.test>\r\n"
                                 b"DATA\r\nX-Token: dropped\r\n\r\nsome text\r\n",
                         # carol, not bob: the probe's POP3 login must not meet a
                         # dropped session's lock ([IN-USE]) still being released
                         "pop3": b"USER carol\r\nPASS " + USERS["carol"].encode() + b"\r\nRETR 1\r\n",
                         "chat": b"hello everyone\nsecond line wi"}[role])
            yield sleep(0.01)
        reset(client)

    yield defer.DeferredList([semaphore.run(one, i) for i in range(profile["drops"])], consumeErrors=True)
    scenario.checks.update({"connections": done["connected"], "refused": done["refused"],
                            "check_all_connected": done["connected"] == profile["drops"]})


@inlineCallbacks
def slowloris(scenario: Scenario, profile: dict) -> Any:
    """
    Connections that trickle one byte a second and never finish a line.
    """
    ports = scenario.server.ports
    count = profile["slowloris"]
    roles = ["smtp"] * (count // 2) + ["pop3"] * (count // 4) + ["chat"] * (count - count // 2 - count // 4)
    clients = []
    for index, role in enumerate(roles):
        clients.append((yield connect(ports[role], bindAddress=attacker(index))))
    text = b"EHLO slow.example.test and more and more and more"
    ended = time.monotonic() + profile["slowlorisSeconds"]
    step = 0
    while time.monotonic() < ended:
        for client in clients:
            if client.transport.connected:
                client.send(text[step % len(text):step % len(text) + 1])
        step += 1
        yield sleep(1.0)
    alive = sum(1 for c in clients if c.transport.connected)
    for client in clients:
        reset(client)
    scenario.checks.update({"connections": count, "still_open_at_end": alive,
                            "check_all_admitted": alive == count})


@inlineCallbacks
def chat(scenario: Scenario, profile: dict) -> Any:
    """
    A full room with silent members, and talkers filling it.
    """
    port = scenario.server.ports["chat"]
    count, silentCount = profile["chatClients"], profile["chatSilent"]
    readers: list[Any] = []
    silent: list[socket.socket] = []
    received = [0]
    for index in range(count):
        if index % (count // silentCount) == 0 and len(silent) < silentCount:
            # A client that never reads, with a small receive window from
            # the start (set before connecting), as a stalled phone would have.
            sock = socket.socket()
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            sock.bind((attacker(index), 0))
            sock.connect(("127.0.0.1", port))
            sock.setblocking(False)
            silent.append(sock)
            continue
        client = yield connect(port, bindAddress=attacker(index))
        original = client.dataReceived

        def counting(data: bytes, original: Callable = original) -> None:
            received[0] += len(data)
            if b"*** " in data:
                original(data)        # keep system lines for waitFor, not megabytes of chat

        client.dataReceived = counting
        readers.append(client)
    yield readers[-1].waitFor(b"*** you are ")
    dropsBefore = scenario.server.output.count(b"stopped reading; dropped")
    talkers = readers[:20]
    line = b"x" * 3900 + b"\n"
    lines = 0
    deadline = time.monotonic() + scenario.cap - 10
    while time.monotonic() < deadline:
        dropped = scenario.server.output.count(b"stopped reading; dropped") - dropsBefore
        if dropped >= silentCount:
            break
        for talker in talkers:
            talker.send(line * 5)
            lines += 5
        yield sleep(0.5)
    dropped = scenario.server.output.count(b"stopped reading; dropped") - dropsBefore
    lostReaders = sum(1 for r in readers if r.lost.called)
    checker = readers[len(readers) // 2]
    checker.received = b""
    checker.send(b"/who\n")
    yield checker.waitFor(b"*** who #")
    present = WHO.search(checker.received)
    for client in readers:
        reset(client)
    for sock in silent:
        sock.close()
    scenario.checks.update({
        "clients": count, "silent": silentCount, "lines_sent": lines, "mb_fanned_out": round(received[0] / 1e6, 1),
        "silent_dropped": dropped, "readers_lost": lostReaders,
        "members_after": int(present.group(1)) if present else None,
        "check_silent_dropped": dropped == silentCount, "check_readers_kept": lostReaders == 0,
    })


@inlineCallbacks
def middata(scenario: Scenario, profile: dict, dataDir: str) -> Any:
    """
    SMTP clients that vanish in the middle of DATA.
    """
    port = scenario.server.ports["smtp"]
    semaphore = DeferredSemaphore(50)
    accepted = [0]

    @inlineCallbacks
    def one(index: int) -> Any:
        client = yield connect(port, bindAddress=attacker(index))
        body = b"a line of a message that will never end\r\n" * (8000 if index % 5 == 0 else 50)
        client.send(b"EHLO m.test\r\nMAIL FROM:<m@remote.test>\r\nRCPT TO:<alice@example.test>\r\n"
                    b"RCPT TO:<carol@example.test>\r\nDATA\r\nSubject: cut\r\nX-Token: middata-"
                    + str(index).encode() + b"\r\n\r\n" + body)
        yield client.waitFor(b"354 ")
        accepted[0] += 1
        yield sleep(0.2)
        reset(client)

    yield defer.DeferredList([semaphore.run(one, i) for i in range(profile["middata"])], consumeErrors=True)
    yield sleep(0.5)
    kept = 0
    for user in USERS:
        for sub in ("new", "cur", "tmp"):
            folder = os.path.join(dataDir, "mail", user, sub)
            for name in os.listdir(folder) if os.path.isdir(folder) else []:
                with open(os.path.join(folder, name), "rb") as f:
                    if b"X-Token: middata-" in f.read(4096):
                        kept += 1
    tmp = sum(len(os.listdir(os.path.join(dataDir, "mail", u, "tmp")))
              for u in USERS if os.path.isdir(os.path.join(dataDir, "mail", u, "tmp")))
    scenario.checks.update({"clients": profile["middata"], "in_data_when_cut": accepted[0], "kept": kept,
                            "tmp_files": tmp, "check_nothing_kept": kept == 0 and tmp == 0,
                            "check_all_reached_data": accepted[0] == profile["middata"]})


@inlineCallbacks
def limits(scenario: Scenario, profile: dict) -> Any:
    """
    Per-address and total limits of SMTP, POP3 and chat.
    """
    results: dict[str, Any] = {}
    for role, marker, refusal in (("smtp", b"220 ", b"421 "), ("pop3", b"+OK", b"-ERR"),
                                  ("chat", b"*** welcome", b"!!! too many")):
        perIP, total = connectionLimits(profile)[role]
        port = scenario.server.ports[role]
        clients = []

        @inlineCallbacks
        def opened(address: str, n: int) -> Any:
            greeted = refused = 0
            batch = []
            for _ in range(n):
                client = yield connect(port, bindAddress=address)
                batch.append(client)
            for client in batch:
                yield client.waitFor(b"\n")
                if client.received.startswith(marker):
                    greeted += 1
                    clients.append(client)
                elif client.received.startswith(refusal):
                    refused += 1
                    reset(client)
            return greeted, refused

        # One address: exactly perIP are served, the rest refused.
        served, refused = yield opened("127.0.0.10", perIP + 5)
        perAddressOK = (served, refused) == (perIP, 5)
        # Many addresses: up to the total, then refused, whoever asks.
        address = 11
        while len(clients) < total:
            yield opened(f"127.0.0.{address}", min(perIP, total - len(clients)))
            address += 1
        served2, refused2 = yield opened(f"127.0.0.{address + 1}", 3)
        normal = yield connect(port)
        yield normal.waitFor(b"\n")
        normalRefused = normal.received.startswith(refusal)
        reset(normal)
        for client in clients:
            reset(client)
        yield sleep(0.5)
        again = yield connect(port)
        yield again.waitFor(b"\n")
        freed = again.received.startswith(marker)
        reset(again)
        results[role] = {"per_ip_served": served, "per_ip_refused": refused, "total_served": len(clients),
                         "over_total_refused": refused2, "normal_refused_at_total": normalRefused,
                         "served_after_release": freed}
        results[f"check_{role}"] = (perAddressOK and served2 == 0 and refused2 == 3 and normalRefused
                                    and freed and len(clients) == total)
    scenario.checks.update(results)


def connectionLimits(profile: dict) -> dict[str, tuple[int, int]]:
    """
    role -> (max_connections_per_ip, max_connections) for this profile; the
    chat's leave room for the chat scenario's clients (over eight addresses).
    """
    perIP, total = profile["limitPerIP"], profile["limitTotal"]
    chatPerIP = profile["chatClients"] // 8 + 10
    return {"smtp": (perIP, total), "pop3": (perIP, total), "chat": (chatPerIP, profile["chatClients"] + 60)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    parser.add_argument("--profile", choices=sorted(PROFILES), default="full")
    parser.add_argument("--only", nargs="*", default=None,
                        choices=["drops", "slowloris", "chat", "middata", "limits"])
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--keep", action="store_true", help="keep the data directory")
    args = parser.parse_args(argv)
    profile = PROFILES[args.profile]
    workDir = tempfile.mkdtemp(prefix="mailsuite-load-")
    limitsFor = connectionLimits(profile)

    def section(role: str) -> dict[str, int]:
        perIP, total = limitsFor[role]
        return {"max_connections": total, "max_connections_per_ip": perIP}

    configPath = prepareDirectory(workDir, USERS, "SHA512-CRYPT", roles=("smtp", "pop3", "chat"), sections={
        "smtp": dict(section("smtp"), command_timeout=60),
        "pop3": section("pop3"),
        "chat": dict(section("chat"), max_pending_output="64KB", announce_limit=50),
    })
    server = SuiteProcess(configPath, pythonPath=ROOT)
    report: dict[str, Any] = {"profile": args.profile, "scenarios": []}
    chosen = args.only or ["drops", "slowloris", "chat", "middata", "limits"]
    began = time.monotonic()

    @inlineCallbacks
    def runAll() -> Any:
        probe = Probe(server)
        # The limits apply to the attack scenarios too: while limits are
        # not the subject, attackers spread over eight addresses.
        for name in chosen:
            scenario = Scenario(name, server, probe, profile["cap"], profile["settle"])
            if name == "limits":
                # The probe shares the limits: here it runs only before and after.
                result = yield scenario.run(lambda s: limits(s, profile), probeDuring=False)
            elif name == "middata":
                result = yield scenario.run(lambda s: middata(s, profile, os.path.join(workDir, "data")))
            else:
                result = yield scenario.run(lambda s, f=globals()[name]: f(s, profile))
            report["scenarios"].append(result)
            print(json.dumps(result, sort_keys=True), file=sys.stderr, flush=True)

    def finish(result: Any) -> None:
        if reactor.running:
            reactor.stop()

    try:
        report["start_seconds"] = round(server.start(), 2)
        report["rss_kib_at_start"] = server.memory()["VmRSS"]
        reactor.callWhenRunning(lambda: runAll().addErrback(lambda f: report.update(error=f.getTraceback()))
                                .addBoth(finish))
        reactor.run()
        report["rss_kib_peak_overall"] = server.memory()["VmHWM"]
        elapsed, status = server.terminate()
        report["sigterm_exit_seconds"] = round(elapsed, 2)
    finally:
        server.kill()
        if not args.keep:
            shutil.rmtree(workDir, ignore_errors=True)
    report["seconds"] = round(time.monotonic() - began, 1)
    report["ok"] = ("error" not in report and len(report["scenarios"]) == len(chosen)
                    and all(s["ok"] for s in report["scenarios"]))
    if args.json:
        print(json.dumps(report, sort_keys=True))
    else:
        for scenario in report["scenarios"]:
            print(json.dumps(scenario, sort_keys=True))
        print(json.dumps({k: v for k, v in report.items() if k != "scenarios"}, sort_keys=True))
    return 0 if report["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
