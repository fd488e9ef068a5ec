#!/usr/bin/env python
# -*- test-case-name: tests.reliability.test_crash -*-
"""
Crash safety of the Maildir store under a real server, proven by SIGKILL.

A real C{twistd -n mailsuite} receives SMTP from several concurrent senders
(Python's C{smtplib}, one persistent connection each, 1 to 3 recipients
per message, mostly small messages and some over 256 KiB that stream into
C{tmp/}).  At random moments the server is killed with SIGKILL and
restarted.  Then:

  - at every restart, before any client is let in: C{tmp/} of every
    Maildir holds no file older than 36 hours (one planted on purpose,
    dated 37 hours back, was removed at start); younger files, such as the
    killed process's own, stay by the Maildir rule (they could as well be
    another delivery agent's files in flight);
  - at the end: every message that got C{250} after its data is in the
    Maildir of each of its recipients exactly once, byte for byte what was
    sent (the trace fields, then the message with LF line ends), matched by
    the token in its C{X-Token} header; every file in C{new/} and C{cur/}
    is a complete copy of a message some sender sent; nothing is anywhere
    else.

Then POP3: a session logs in, marks messages deleted (DELE, after a RETR),
and the server is killed before QUIT; after the restart every message is
still there (same UIDL list, same bytes).  A session that does QUIT does
delete (the control).

    .venv/bin/python scripts/crash_smtp.py                       # long form
    .venv/bin/python scripts/crash_smtp.py --runs 1 --kills 2 --pop3-kills 1 \\
        --interval 0.4 0.8 --senders 4 --json                    # the CI form

Prints a summary (JSON with C{--json}); exits 1 if anything acknowledged
was lost or anything partial was found.
"""
from __future__ import annotations

import argparse
import json
import os
import poplib
import random
import re
import shutil
import smtplib
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field

from twisted_mail_suite.store.maildir.store import TMP_MAX_AGE  # the Maildir rule the store applies at start
from twisted_mail_suite.testing.configfile import prepareDirectory  
from twisted_mail_suite.testing.process import SuiteProcess  

USERS = {"alice": "alice-pw", "bob": "bob-pw", "carol": "carol-pw"}
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


TOKEN = re.compile(rb"^X-Token: (\S+)$", re.MULTILINE)
WORDS = [b"alpha", b"bravo", b"charlie", b"delta", b"echo", b"foxtrot", b"golf", b"hotel"]


@dataclass
class Sent:
    token: str
    recipients: list[str]
    wire: bytes          # the message as given to smtplib (CRLF)
    acked: bool = False


@dataclass
class Ledger:
    """
    What the senders sent, shared by the threads (one lock).
    """

    lock: threading.Lock = field(default_factory=threading.Lock)
    sent: dict[str, Sent] = field(default_factory=dict)
    errors: int = 0

    def add(self, item: Sent) -> None:
        with self.lock:
            self.sent[item.token] = item


def makeMessage(rng: random.Random, token: str, recipients: list[str]) -> bytes:
    """
    A message with CRLF line ends that exercises dot-stuffing, empty and
    long lines; about 1 in 20 is over 256 KiB (the store's spill size).
    """
    lines = [b"From: sender@remote.test",
             b"To: " + b", ".join(f"{r}@example.test".encode() for r in recipients),
             b"Subject: crash test " + token.encode(),
             b"X-Token: " + token.encode(),
             b""]
    big = rng.random() < 0.05
    target = rng.randint(300_000, 600_000) if big else rng.randint(100, 20_000)
    size = 0
    while size < target:
        kind = rng.random()
        if kind < 0.1:
            line = b"." + rng.choice(WORDS)                 # stuffed on the wire
        elif kind < 0.15:
            line = b".."
        elif kind < 0.2:
            line = b""
        elif kind < 0.25:
            line = bytes(rng.choice(b"abcdefghijklmnopqrstuvwxyz0123456789") for _ in range(rng.randint(900, 998)))
        else:
            line = b" ".join(rng.choice(WORDS) for _ in range(rng.randint(1, 12)))
        lines.append(line)
        size += len(line) + 2
    lines.append(b"end of " + token.encode())
    return b"\r\n".join(lines) + b"\r\n"


class Senders:
    """
    C{count} threads sending over SMTP to whatever port the server has
    now, waiting while it is down.
    """

    def __init__(self, count: int, ledger: Ledger, seed: int) -> None:
        self.ledger = ledger
        self.up = threading.Event()
        self.stop = threading.Event()
        self.port = 0
        self.threads = [threading.Thread(target=self._run, args=(i, seed + i), daemon=True) for i in range(count)]
        self.connections = 0

    def start(self) -> None:
        for thread in self.threads:
            thread.start()

    def join(self) -> None:
        self.stop.set()
        self.up.set()
        for thread in self.threads:
            thread.join(30)

    def _run(self, index: int, seed: int) -> None:
        rng = random.Random(seed)
        serial = 0
        while not self.stop.is_set():
            self.up.wait()
            if self.stop.is_set():
                return
            try:
                client = smtplib.SMTP("127.0.0.1", self.port, timeout=10)
            except OSError:
                time.sleep(0.05)
                continue
            self.connections += 1
            try:
                client.ehlo("sender.test")
                while not self.stop.is_set() and self.up.is_set():
                    serial += 1
                    token = f"s{index}-{serial}-{rng.getrandbits(32):08x}"
                    recipients = rng.sample(sorted(USERS), rng.choice([1, 1, 1, 2, 3]))
                    wire = makeMessage(rng, token, recipients)
                    item = Sent(token, recipients, wire)
                    self.ledger.add(item)
                    refused = client.sendmail("sender@remote.test", [f"{r}@example.test" for r in recipients],
                                              wire)
                    if not refused:
                        item.acked = True        # 250 after the data
            except (OSError, smtplib.SMTPException):
                with self.ledger.lock:
                    self.ledger.errors += 1
            finally:
                try:
                    client.close()
                except OSError:
                    pass


def tmpFiles(dataDir: str, olderThan: float = 0.0) -> list[str]:
    mail = os.path.join(dataDir, "mail")
    found = []
    limit = time.time() - olderThan
    for user in os.listdir(mail) if os.path.isdir(mail) else []:
        folder = os.path.join(mail, user, "tmp")
        if os.path.isdir(folder):
            found.extend(path for path in (os.path.join(folder, name) for name in os.listdir(folder))
                         if os.stat(path).st_mtime <= limit)
    return found


def plantLeftover(dataDir: str, index: int) -> None:
    folder = os.path.join(dataDir, "mail", "alice", "tmp")
    os.makedirs(folder, exist_ok=True)
    path = os.path.join(folder, f"planted-leftover-{index}")
    with open(path, "wb") as f:
        f.write(b"X-Token: planted\n\npartial mess")
    old = time.time() - TMP_MAX_AGE - 3600
    os.utime(path, (old, old))


def storedFiles(dataDir: str) -> list[tuple[str, str]]:
    """
    (user, path) of every file in C{new/} and C{cur/}.
    """
    mail = os.path.join(dataDir, "mail")
    result = []
    for user in sorted(os.listdir(mail)):
        for sub in ("new", "cur"):
            folder = os.path.join(mail, user, sub)
            if os.path.isdir(folder):
                result.extend((user, os.path.join(folder, name)) for name in os.listdir(folder))
    return result


def checkStoredForm(content: bytes, wire: bytes) -> bool:
    """
    Is C{content} exactly the trace fields followed by C{wire} with LF
    line ends?
    """
    expected = wire.replace(b"\r\n", b"\n")
    if not content.endswith(expected):
        return False
    head = content[:len(content) - len(expected)]
    if not head.startswith(b"Return-Path: <") or not head.endswith(b"\n"):
        return False
    return all(line.startswith((b"Return-Path: ", b"Received: ", b"\t"))
               for line in head[:-1].split(b"\n"))


def verifyMaildirs(dataDir: str, ledger: Ledger) -> dict[str, int]:
    """
    The end-of-run check of every file against the ledger.
    """
    seen: dict[tuple[str, str], int] = {}
    corrupt = unknown = misdelivered = 0
    for user, path in storedFiles(dataDir):
        with open(path, "rb") as f:
            content = f.read()
        match = TOKEN.search(content)
        item = ledger.sent.get(match.group(1).decode()) if match else None
        if item is None:
            unknown += 1
            continue
        if not checkStoredForm(content, item.wire):
            corrupt += 1
            continue
        if user not in item.recipients:
            misdelivered += 1
        seen[(item.token, user)] = seen.get((item.token, user), 0) + 1
    ackedCopies = lost = unackedDelivered = 0
    for item in ledger.sent.values():
        for user in item.recipients:
            if item.acked:
                ackedCopies += 1
                if (item.token, user) not in seen:
                    lost += 1
            elif (item.token, user) in seen:
                unackedDelivered += 1
    return {
        "acked_messages": sum(1 for item in ledger.sent.values() if item.acked),
        "acked_copies_checked": ackedCopies,
        "lost": lost,
        "corrupt_or_partial": corrupt,
        "unknown_files": unknown,
        "misdelivered": misdelivered,
        "duplicates": sum(count - 1 for count in seen.values()),
        "unacked_but_delivered": unackedDelivered,
        "files_checked": sum(seen.values()) + corrupt + unknown,
    }


def pop3Session(port: int, user: str) -> poplib.POP3:
    client = poplib.POP3("127.0.0.1", port, timeout=10)
    client.user(user)
    client.pass_(USERS[user])
    return client


def uidl(client: poplib.POP3) -> dict[str, int]:
    """
    uid -> message number.
    """
    _, lines, _ = client.uidl()
    result = {}
    for line in lines:
        number, uid = line.split()
        result[uid.decode()] = int(number)
    return result


def pop3Crash(server: SuiteProcess, dataDir: str, rng: random.Random, report: dict) -> None:
    """
    DELE then SIGKILL before QUIT: nothing is deleted.
    """
    users = [u for u in sorted(USERS) if os.path.isdir(os.path.join(dataDir, "mail", u, "new"))]
    user = rng.choice(users)
    client = pop3Session(server.ports["pop3"], user)
    before = uidl(client)
    if not before:
        client.quit()
        return
    chosen = rng.sample(sorted(before.values()), min(len(before), rng.randint(1, 5)))
    client.retr(chosen[0])
    for number in chosen:
        client.dele(number)
    server.kill()                                    # no QUIT
    client.sock.close()
    report["pop3_kills"] += 1
    report["pop3_deletions_marked"] += len(chosen)
    server.start()
    client = pop3Session(server.ports["pop3"], user)
    after = uidl(client)
    client.quit()
    report["pop3_deletions_applied_wrongly"] += len(set(before) - set(after))


def pop3Control(server: SuiteProcess, dataDir: str, report: dict) -> None:
    """
    The control: DELE and QUIT does delete.
    """
    for user in sorted(USERS):
        client = pop3Session(server.ports["pop3"], user)
        before = uidl(client)
        if not before:
            client.quit()
            continue
        uid = min(before, key=before.get)
        client.dele(before[uid])
        client.quit()
        client = pop3Session(server.ports["pop3"], user)
        after = uidl(client)
        client.quit()
        report["pop3_quit_deleted"] = uid not in after
        return


def oneRun(args: argparse.Namespace, runIndex: int, report: dict, deadline: float) -> None:
    rng = random.Random(args.seed + runIndex)
    workDir = tempfile.mkdtemp(prefix="mailsuite-crash-")
    dataDir = os.path.join(workDir, "data")
    configPath = prepareDirectory(workDir, USERS, "SHA512-CRYPT", roles=("smtp", "pop3"),
                                  sections={"smtp": {"max_connections_per_ip": 500}})
    ledger = Ledger()
    server = SuiteProcess(configPath, pythonPath=ROOT)
    try:
        report["start_seconds"].append(round(server.start(), 2))
        senders = Senders(args.senders, ledger, args.seed * 1000 + runIndex * 100)
        senders.port = server.ports["smtp"]
        senders.up.set()
        senders.start()
        for kill in range(args.kills):
            if time.monotonic() > deadline:
                break
            time.sleep(rng.uniform(*args.interval))
            server.kill()
            senders.up.clear()
            report["kills"] += 1
            report["tmp_leftovers_after_kill"] += len(tmpFiles(dataDir))
            plantLeftover(dataDir, kill)
            report["start_seconds"].append(round(server.start(), 2))
            report["tmp_files_after_restart"] += len(tmpFiles(dataDir, TMP_MAX_AGE))
            senders.port = server.ports["smtp"]
            senders.up.set()
        time.sleep(rng.uniform(*args.interval))
        senders.join()
        report["smtp_connections"] += senders.connections
        report["send_errors"] += ledger.errors
        result = verifyMaildirs(dataDir, ledger)
        for key, value in result.items():
            report[key] = report.get(key, 0) + value
        for _ in range(args.pop3_kills):
            if time.monotonic() > deadline:
                break
            pop3Crash(server, dataDir, rng, report)
        # After the POP3 crashes every stored file is still complete and nothing is lost.
        again = verifyMaildirs(dataDir, ledger)
        report["lost_after_pop3"] += again["lost"] + again["corrupt_or_partial"]
        if args.pop3_kills:
            pop3Control(server, dataDir, report)
        report["runs"] += 1
    finally:
        server.kill()
        if not args.keep:
            shutil.rmtree(workDir, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--kills", type=int, default=20, help="SIGKILLs under SMTP load per run")
    parser.add_argument("--pop3-kills", type=int, default=5, help="SIGKILLs after DELE, before QUIT, per run")
    parser.add_argument("--interval", type=float, nargs=2, default=(0.5, 3.0), metavar=("MIN", "MAX"),
                        help="seconds of load before each kill (uniform)")
    parser.add_argument("--senders", type=int, default=8)
    parser.add_argument("--seed", type=int, default=int(time.time()))
    parser.add_argument("--max-seconds", type=float, default=1800.0, help="wall-clock cap")
    parser.add_argument("--keep", action="store_true", help="keep the data directories")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    began = time.monotonic()
    deadline = began + args.max_seconds
    report: dict = {"seed": args.seed, "runs": 0, "kills": 0, "pop3_kills": 0, "pop3_deletions_marked": 0,
                    "pop3_deletions_applied_wrongly": 0, "pop3_quit_deleted": None, "lost_after_pop3": 0,
                    "tmp_leftovers_after_kill": 0, "tmp_files_after_restart": 0, "smtp_connections": 0,
                    "send_errors": 0, "start_seconds": []}
    for runIndex in range(args.runs):
        if time.monotonic() > deadline:
            break
        oneRun(args, runIndex, report, deadline)
    report["seconds"] = round(time.monotonic() - began, 1)
    failed = (report.get("lost", 0) or report.get("corrupt_or_partial", 0) or report.get("unknown_files", 0)
              or report.get("misdelivered", 0) or report.get("duplicates", 0)
              or report["tmp_files_after_restart"] or report["pop3_deletions_applied_wrongly"]
              or report["lost_after_pop3"] or report["pop3_quit_deleted"] is False or not report["runs"])
    report["ok"] = not failed
    if args.json:
        print(json.dumps(report, sort_keys=True))
    else:
        for key in sorted(report):
            print(f"{key:32} {report[key]}")
    return 0 if report["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
