# -*- test-case-name: tests.test_benchmarks -*-
"""
The chat fan-out's critical path, a figure a busy machine does not blur.

Runs our suite (chat and the web listener) on the epoll reactor in this
process; a sink process holds N members (a share of them over the
C{/chat} WebSocket) and reads and discards what it gets.  Then one line
is broadcast every C{--gap} seconds and, per broadcast, this thread's CPU
time is taken from the fan-out until the reactor has flushed whatever the
transports buffered (two reactor turns later).  That is the time the last
member waits for the server when it has a core to itself; preemption by
other processes does not inflate it, as it does wall-clock latency.

    python benchmarks/fanout.py --members 1000 --ws-share 0.25 --lines 200

Prints one JSON line: the critical path's median and 90th percentile (ms),
per member (µs), and the process's user and system CPU per delivery (µs).
The checkout measured is the one Python imports (C{PYTHONPATH=<checkout>}).
"""
from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from typing import Any

from twisted.internet import epollreactor

epollreactor.install()

from twisted.internet import reactor  # noqa: E402

from twisted_mail_suite.bus import EventBus  # noqa: E402
from twisted_mail_suite.config import configFromDict  # noqa: E402
from twisted_mail_suite.identity.passwd import InMemoryUsers  # noqa: E402
from twisted_mail_suite.service import MailSuiteService  # noqa: E402
from twisted_mail_suite.store.maildir import MaildirStore, runSynchronously  # noqa: E402
from twisted_mail_suite.testing.configfile import suiteConfig  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import emit, percentile  # noqa: E402

SINK = r'''
import base64, os, select, socket, sys, time
n, chat, web, share, seconds = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4]), float(sys.argv[5])
socks = []
for i in range(n):
    ws = share > 0 and i > 0 and int(i * share) != int((i - 1) * share)
    s = socket.create_connection(("127.0.0.1", web if ws else chat))
    if ws:
        key = base64.b64encode(os.urandom(16)).decode()
        s.sendall((f"GET /chat HTTP/1.1\r\nHost: 127.0.0.1:{web}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                   f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n").encode())
    s.setblocking(False)
    socks.append(s)
poller, byFd = select.epoll(), {}
for s in socks:
    poller.register(s.fileno(), select.EPOLLIN)
    byFd[s.fileno()] = s
end = time.monotonic() + seconds
while time.monotonic() < end:
    for fd, _ in poller.poll(0.5):
        try:
            byFd[fd].recv(65536)
        except BlockingIOError:
            pass
'''


def makeSuite(folder: str) -> MailSuiteService:
    listen = "tcp:0:interface=127.0.0.1:backlog=1024"
    config = configFromDict(suiteConfig(folder), "fanout.yaml", {
        "smtp.listen": [], "submission.listen": [], "pop3.listen": [],
        "chat.listen": [listen], "http.listen": [listen], "chat.idle_timeout": 3600,
        "chat.lines_per_second": 0, "chat.announce_limit": 5, "chat.max_connections": 0,
        "chat.max_connections_per_ip": 0, "http.max_connections": 0, "http.max_connections_per_ip": 0})
    os.makedirs(config.mailDir, exist_ok=True)
    return MailSuiteService(config, reactor, users=InMemoryUsers({}),
                            store=MaildirStore(config.mailDir, runBlocking=runSynchronously),
                            bus=EventBus(), runInThread=runSynchronously)


def measure(args: argparse.Namespace, suite: MailSuiteService, result: dict[str, Any]) -> None:
    lobby = suite.factories["chat"].hub.rooms["lobby"].members
    seconds = args.members * 0.02 + args.lines * args.gap + 60
    sink = subprocess.Popen([sys.executable, "-c", SINK, str(args.members), str(suite.portsFor("chat")[0]),
                             str(suite.portsFor("http")[0]), str(args.ws_share), str(seconds)])
    paths: list[float] = []
    warm = min(10, args.lines // 2)
    began = time.monotonic()

    def waitForMembers() -> None:
        if len(lobby) < args.members:
            if time.monotonic() - began > seconds:
                result["error"] = f"{len(lobby)} of {args.members} members joined"
                stop()
                return
            reactor.callLater(0.05, waitForMembers)
            return
        reactor.callLater(0.5, broadcast, next(iter(lobby)), 0)

    def broadcast(sender: Any, seq: int) -> None:
        if seq == warm:
            result["usage"] = resource.getrusage(resource.RUSAGE_SELF)
        if seq == args.lines:
            used = resource.getrusage(resource.RUSAGE_SELF)
            before = result.pop("usage")
            deliveries = (args.lines - warm) * (args.members - 1)
            result["user_us_per_delivery"] = round((used.ru_utime - before.ru_utime) / deliveries * 1e6, 2)
            result["sys_us_per_delivery"] = round((used.ru_stime - before.ru_stime) / deliveries * 1e6, 2)
            stop()
            return
        data = f"[#lobby] {sender.name}: line {seq} of the fan-out benchmark\n".encode()
        start = time.thread_time()
        sender._broadcast(data)

        def flushed() -> None:
            if seq >= warm:
                paths.append(time.thread_time() - start)

        reactor.callLater(0, reactor.callLater, 0, flushed)     # after the next turn's writes
        reactor.callLater(args.gap, broadcast, sender, seq + 1)

    def stop() -> None:
        sink.kill()
        sink.wait()
        reactor.stop()

    result["paths"] = paths
    waitForMembers()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--members", type=int, default=1000)
    parser.add_argument("--ws-share", type=float, default=0.25, help="share of members on the WebSocket")
    parser.add_argument("--lines", type=int, default=200, help="broadcasts (the first 10 warm up)")
    parser.add_argument("--gap", type=float, default=0.02, help="seconds between broadcasts")
    args = parser.parse_args(argv)
    suite = makeSuite(tempfile.mkdtemp(prefix="fanout-"))
    result: dict[str, Any] = {}
    suite.startService()
    suite.whenListening().addCallback(lambda _: measure(args, suite, result))
    reactor.run()
    paths = sorted(result.pop("paths", []))
    out = {"tool": "fanout", "members": args.members, "ws_share": args.ws_share, "broadcasts": len(paths),
           "load": float(open("/proc/loadavg").read().split()[0]), **result}
    if paths:
        out.update(path_p50_ms=round(percentile(paths, 50) * 1e3, 2), path_p90_ms=round(percentile(paths, 90) * 1e3, 2),
                   path_us_per_member=round(percentile(paths, 50) / max(1, args.members - 1) * 1e6, 2))
    emit(out)


if __name__ == "__main__":
    main()
