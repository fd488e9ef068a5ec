# -*- test-case-name: tests.test_benchmarks -*-
"""
The relay scenario group of C{benchmarks/run.py} (issue 13): submission ->
queue -> Postfix's C{smtp-sink}, ours beside a private Postfix relaying
the same load to the same sink (C{postfix -c DIR start-fg}: its own
configuration, queue and log under the run's scratch folder, C{relayhost}
= the sink), both measured by C{loadrelay.py}.

A private Postfix needs root (its master drops to the C{postfix} user);
without root or without Postfix, the group runs ours alone and says why.
"""
from __future__ import annotations

import os
import pwd
import signal
import time

import targets as T
from common import LOOPBACK, freePort, log
from scenarios import Bench, started, stopAll

CELLS = (10, 50)          # concurrency; 1 KiB messages
SIZE = 1024
USER = "joe"


class Postfix(T.Server):
    """
    A private Postfix instance in the foreground (C{start-fg}), stopped by
    the PID of its master.
    """

    def stop(self) -> None:
        """
        SIGTERM to the master (its PID file: C{start-fg} runs it under a
        shell script), then to the process we started.
        """
        try:
            with open(os.path.join(self.scratch, "queue", "pid", "master.pid")) as f:
                os.kill(int(f.read().split()[0]), signal.SIGTERM)
        except (OSError, ValueError, IndexError):
            pass
        super().stop()


MASTER_CF = """\
{listen} inet n - n - - smtpd
pickup unix n - n 60 1 pickup
cleanup unix n - n - 0 cleanup
qmgr unix n - n 300 1 qmgr
rewrite unix - - n - - trivial-rewrite
bounce unix - - n - 0 bounce
defer unix - - n - 0 bounce
trace unix - - n - 0 bounce
verify unix - - n - 1 verify
flush unix n - n 1000? 0 flush
proxymap unix - - n - - proxymap
smtp unix - - n - - smtp
relay unix - - n - - smtp
showq unix n - n - - showq
error unix - - n - - error
retry unix - - n - - error
discard unix - - n - - discard
anvil unix - - n - 1 anvil
scache unix - - n - 1 scache
postlog unix-dgram n - n - 1 postlogd
"""


def postfixMissing() -> str | None:
    """
    Why a private Postfix cannot run here, or None.
    """
    if T._sbin("postfix") is None:
        return "Postfix is not installed (Debian package postfix)"
    if os.geteuid() != 0:
        return "a private Postfix instance needs root (its master drops to the postfix user)"
    return None


def startPostfix(parent: str, sinkPort: int, name: str = "postfix") -> Postfix:
    """
    Postfix relaying everything from loopback to C{sinkPort}, no TLS, no
    local delivery; Postfix's own defaults otherwise (queue on disk with
    its fsync, C{default_process_limit} 100 so c=50 gets 50 smtpd).
    """
    scratch = T.scratchDir(parent, name)
    etc, queue, data = (os.path.join(scratch, d) for d in ("etc", "queue", "data"))
    for folder in (etc, queue, data):
        os.makedirs(folder, exist_ok=True)
    os.chown(data, pwd.getpwnam("postfix").pw_uid, -1)
    port = freePort()
    with open(os.path.join(etc, "main.cf"), "w") as f:
        f.write("\n".join([
            "compatibility_level = 3.6", f"queue_directory = {queue}", f"data_directory = {data}",
            "mail_owner = postfix", "myhostname = relay.bench.invalid", "mydestination =",
            f"inet_interfaces = {LOOPBACK}", "inet_protocols = ipv4", "mynetworks = 127.0.0.0/8",
            f"relayhost = [{LOOPBACK}]:{sinkPort}", "smtp_tls_security_level = none",
            "smtpd_tls_security_level = none", f"maillog_file_prefixes = {scratch}",
            f"maillog_file = {os.path.join(scratch, 'maillog')}", "alias_maps =", "alias_database =",
            "local_recipient_maps =", "smtpd_relay_restrictions = permit_mynetworks, reject",
            "default_process_limit = 100", "smtputf8_enable = no", "biff = no", ""]))
    with open(os.path.join(etc, "master.cf"), "w") as f:
        f.write(MASTER_CF.format(listen=f"{LOOPBACK}:{port}"))
    server = Postfix(name, [T._sbin("postfix") or "postfix", "-c", etc, "start-fg"], {"smtp": port}, scratch)
    server.waitReady()
    return server


def startSink(parent: str) -> tuple[T.Server, str]:
    """
    C{smtp-sink -d}: one file per message in a folder the load generator
    reads (and empties) after each run.
    """
    scratch = T.scratchDir(parent, "sink")
    dump = os.path.join(scratch, "dump")
    os.makedirs(dump, exist_ok=True)
    os.chmod(dump, 0o777)                 # smtp-sink runs as nobody under root
    port = freePort()
    asUser = ["-u", "nobody"] if os.geteuid() == 0 else []
    sink = T.Server("smtp-sink", [T._sbin("smtp-sink") or "smtp-sink", *asUser, "-d", os.path.join(dump, "%H%M%S."),
                                  f"{LOOPBACK}:{port}", "1024"], {"smtp": port}, scratch)
    sink.waitReady()
    return sink, dump


def relay(bench: Bench) -> None:
    """
    Submission -> queue -> smtp-sink, 1 KiB, c = 10 and 50: messages per
    second delivered end to end and the time from the relay's 250 to the
    sink's, ours and a private Postfix, interleaved.
    """
    plan, scratch = bench.plan, os.path.join(bench.scratch, "relay")
    if T._sbin("smtp-sink") is None:
        bench.problems.append("relay: skipped, smtp-sink is not installed (Debian package postfix)")
        return
    os.makedirs(scratch, exist_ok=True)
    os.chmod(scratch, 0o755)              # Postfix and the sink run as other users
    os.chmod(bench.scratch, 0o755)
    sink, dump = startSink(scratch)
    servers: list[tuple[str, T.Server]] = []
    try:
        relaySection = {"relay": {"mode": "smarthost", "smarthost": f"{LOOPBACK}:{sink.ports['smtp']}",
                                  "smarthost_tls": "none"}}
        started(servers, "ours", lambda: T.startOurs(scratch, ("submission",), [USER], more=relaySection), bench)
        why = postfixMissing()
        if why is None:
            started(servers, "postfix", lambda: startPostfix(scratch, sink.ports["smtp"]), bench)
        else:
            bench.problems.append(f"relay: no Postfix anchor: {why}")
        count = 60 if plan.repeats == 1 and plan.runSeconds < 20 else 2000

        def run(concurrency: int, name: str, server: T.Server) -> dict:
            auth = ["--user", USER, "--password", T.PASSWORD] if name != "postfix" else []
            port = server.ports["submission" if name != "postfix" else "smtp"]
            return bench.tool("loadrelay.py", ["--port", port, "--dump", dump, "-c", concurrency, "--size", SIZE,
                                               "--count", count, "--sender", f"{USER}@{T.DOMAIN}",
                                               "--max-seconds", plan.runSeconds, "--label", name, *auth])

        bench.interleave("relay", list(CELLS), servers, lambda c: f"1 KiB c={c}", run,
                         after=lambda name, server: time.sleep(plan.settle))
    finally:
        stopAll(servers)
        sink.stop()
        log("run: relay group done")
