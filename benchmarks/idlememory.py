#!/usr/bin/env python
# -*- test-case-name: tests.test_benchmarks -*-
"""
What an idle connection holds, by Python allocation: the server runs in
this process under C{tracemalloc}, the clients in a child process (so
their allocations are not counted).  After a warm-up, C{--conns} more
clients connect and greet (SMTP: EHLO; POP3: the banner; chat: the
greeting line) and stay idle; the growth of the traced memory divided by
their number is the figure, with the allocation sites that make it up (and
the peak while they connected: transient garbage that a fresh process's
RSS keeps as fragmentation).

    python benchmarks/idlememory.py --protocol smtp --server ours
    python benchmarks/idlememory.py --protocol pop3 --server twisted --conns 500

C{ours} is the suite (C{MailSuiteService} from a generated configuration),
C{twisted} Twisted's own mail service (C{anchors/twistedmail.tac}).  Not
counted: memory outside Python's allocator (socket buffers in the kernel,
OpenSSL), which C{loadidle.py}'s RSS slope includes.  Prints one JSON line.
"""
from __future__ import annotations

import argparse
import asyncio
import gc
import os
import sys
import tempfile
import tracemalloc
from typing import Any

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from common import LOOPBACK, emit, freePort, log, raiseFileLimit  # noqa: E402

GREETING = {"smtp": "smtp", "pop3": "pop3", "chat": "line", "imap": "line"}


# -- the client child ------------------------------------------------------------

async def clients(port: int, greet: str) -> None:
    """
    Read C{N} lines from stdin: open N more idle connections, then say
    C{ready <total>}; end at EOF.
    """
    from loadidle import Idle

    loop = asyncio.get_running_loop()
    held: list[Any] = []
    counters = {"closing": False, "closedByServer": 0}
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    while line := await reader.readline():
        for _ in range(int(line)):
            _, client = await loop.create_connection(lambda: Idle(greet, len(held), counters), LOOPBACK, port)
            await asyncio.wait_for(client.ready, 30)
            held.append(client)
        print(f"ready {len(held)} {counters['closedByServer']}", flush=True)
    counters["closing"] = True
    for client in held:
        client.transport.close()


# -- the server side -----------------------------------------------------------------

def startOurs(protocol: str, scratch: str) -> Any:
    from twisted.internet import reactor

    from twisted_mail_suite.config import loadConfig
    from twisted_mail_suite.service import makeService
    from twisted_mail_suite.testing import configfile

    port = freePort()
    sections = {"allow_plaintext_auth": True,
                protocol: {"listen": [f"tcp:{port}:interface={LOOPBACK}"], "max_connections": 0,
                           "max_connections_per_ip": 0}}
    sections["users_file"] = os.path.join(scratch, "users.passwd")
    raw = configfile.suiteConfig(os.path.join(scratch, "data"), hostname="bench.example.com",
                                 domains=["example.com"], roles=(), sections=sections)
    path = configfile.writeConfig(os.path.join(scratch, "tap.yaml"), raw)
    configfile.writeUsers(sections["users_file"], {"joe": "pw"}, "PLAIN")
    service = makeService(loadConfig(path, {}), reactor)
    service.startService()
    return service, port


def startTwisted(protocol: str, scratch: str) -> Any:
    from twisted.application.service import IService

    port = freePort()
    os.makedirs(os.path.join(scratch, "mail", "joe"), exist_ok=True)
    os.environ.update(ANCHOR_ROOT=os.path.join(scratch, "mail"), ANCHOR_USERS="joe=pw",
                      ANCHOR_SMTP=f"tcp:{port}:interface={LOOPBACK}" if protocol == "smtp" else "none",
                      ANCHOR_POP3=f"tcp:{port}:interface={LOOPBACK}" if protocol == "pop3" else "none")
    namespace: dict[str, Any] = {"__file__": os.path.join(HERE, "anchors", "twistedmail.tac")}
    with open(namespace["__file__"]) as f:
        exec(compile(f.read(), namespace["__file__"], "exec"), namespace)
    service = IService(namespace["application"])
    service.startService()
    return service, port


def sites(before: tracemalloc.Snapshot, after: tracemalloc.Snapshot, conns: int, top: int) -> list[dict]:
    """
    The allocation sites (innermost frame outside C{tracemalloc}'s own
    files) that grew most, per connection.
    """
    out = []
    for stat in after.compare_to(before, "lineno")[:top]:
        frame = stat.traceback[0]
        path = frame.filename.split("site-packages/")[-1].split("twisted_mail_suite/")[-1]
        where = f"{os.path.basename(path) if os.path.isabs(path) else path}:{frame.lineno}"
        out.append({"site": where, "bytes_per_conn": round(stat.size_diff / conns, 1),
                    "blocks_per_conn": round(stat.count_diff / conns, 2)})
    return out


def measure(args: argparse.Namespace) -> dict:
    from twisted.internet import defer, reactor, task
    from twisted.internet.protocol import ProcessProtocol

    scratch = tempfile.mkdtemp(prefix="idlememory-")
    tracemalloc.start(1)
    service, port = (startOurs if args.server == "ours" else startTwisted)(args.protocol, scratch)
    result: dict[str, Any] = {"tool": "idlememory", "protocol": args.protocol, "server": args.server,
                              "conns": args.conns, "warmup": args.warmup}

    class Child(ProcessProtocol):
        def __init__(self) -> None:
            self.lines: list[defer.Deferred] = []
            self.buffer = b""

        def outReceived(self, data: bytes) -> None:
            self.buffer += data
            while b"\n" in self.buffer:
                line, self.buffer = self.buffer.split(b"\n", 1)
                if self.lines:
                    self.lines.pop(0).callback(line.decode())

        def errReceived(self, data: bytes) -> None:
            sys.stderr.write(data.decode(errors="replace"))

        def ask(self, count: int) -> defer.Deferred:
            d: defer.Deferred = defer.Deferred()
            self.lines.append(d)
            self.transport.write(b"%d\n" % count)
            return d

    child = Child()

    @defer.inlineCallbacks
    def run():  # type: ignore[no-untyped-def]
        try:
            reactor.spawnProcess(child, sys.executable, [sys.executable, os.path.abspath(__file__), "--client",
                                                         "--port", str(port), "--protocol", args.protocol],
                                 env=dict(os.environ))
            yield child.ask(args.warmup)
            yield task.deferLater(reactor, args.settle, lambda: None)
            gc.collect()
            before = tracemalloc.take_snapshot()
            tracedBefore = tracemalloc.get_traced_memory()[0]
            tracemalloc.reset_peak()
            answer = yield child.ask(args.conns)
            yield task.deferLater(reactor, args.settle, lambda: None)
            gc.collect()
            after = tracemalloc.take_snapshot()
            grown, peak = tracemalloc.get_traced_memory()
            grown -= tracedBefore
            result.update(bytes_per_conn=round(grown / args.conns, 1), kb_per_conn=round(grown / args.conns / 1024, 3),
                          peak_kb_per_conn=round((peak - tracedBefore) / args.conns / 1024, 3),
                          closed_by_server=int(answer.split()[2]),
                          sites=sites(before, after, args.conns, args.top))
        except Exception as e:
            result["error"] = f"{e.__class__.__name__}: {e}"[:300]
        finally:
            child.transport.closeStdin()
            yield task.deferLater(reactor, 0.3, lambda: None)
            yield service.stopService()
            reactor.stop()

    reactor.callWhenRunning(run)
    reactor.run()
    return result


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--protocol", choices=sorted(GREETING), default="smtp")
    parser.add_argument("--server", choices=["ours", "twisted"], default="ours")
    parser.add_argument("-k", "--conns", type=int, default=500, help="idle connections measured")
    parser.add_argument("--warmup", type=int, default=50, help="connections opened before the first snapshot")
    parser.add_argument("--settle", type=float, default=0.5, help="pause before each snapshot (s)")
    parser.add_argument("--top", type=int, default=12, help="allocation sites listed")
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--client", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    raiseFileLimit((args.conns + args.warmup) * 2 + 256)
    if args.client:
        asyncio.run(clients(args.port, GREETING[args.protocol]))
        return
    if args.server == "twisted" and args.protocol not in ("smtp", "pop3"):
        parser.error("Twisted's mail service has SMTP and POP3 only")
    result = measure(args)
    log(f"idlememory {args.server} {args.protocol}: {result.get('kb_per_conn')} KiB per idle connection "
        f"(tracemalloc, {args.conns} connections; peak while connecting {result.get('peak_kb_per_conn')})")
    for site in result.get("sites", []):
        log(f"  {site['bytes_per_conn']:8.1f} B {site['blocks_per_conn']:5.2f} blocks  {site['site']}")
    emit(result)


if __name__ == "__main__":
    main()
