#!/usr/bin/env python
"""
The outside security review's probes (issue 12), run against a real
C{twistd -n mailsuite} so that the same script measures the code before
and after the fixes.  Each probe starts its own server (a fresh data
folder, the package of C{--checkout} first on the child's C{PYTHONPATH}),
talks to it over 127.0.0.1 only, reads the twistd's memory from
C{/proc/<pid>/status} and stops it by its PID.

  bigpassword  one unauthenticated AUTH PLAIN with a 40 KB password for a
               SHA512-CRYPT user on the submission port; then 3 in parallel:
               seconds to the reply, peak RSS growth (VmRSS sampled every
               50 ms) and VmHWM
  ehloflood    20 MiB of pipelined "EHLO x" on one SMTP connection that
               never reads (SO_RCVBUF 4 KiB): RSS before, peak, after close;
               does the server close the connection within 30 s?
  loginburst   300 wrong chat "/login alice wrong" on 300 connections from
               one address, all sent before any answer, then the right one;
               50 wrong submission AUTH PLAIN, then the right one: how many
               wrong ones were checked, how many refused, does the right
               one succeed
  fdexhaust    the twistd limited to 1,024 descriptors (RLIMIT_NOFILE soft
               and hard); 1,100 chat connections from one address; does a
               new SMTP connection get its 220 and a POP3 one its +OK
               within 5 s?
  hashstarve   800 failed SMTP logins in parallel (800 connections, one per
               loopback address, half on smtp and half on submission) while
               one delivery waits for its 250: its latency, and with no load
  chatflood    100 flooders (one address) each at its own line limit (the
               checkout's chat.lines_per_second and chat.burst) for 10 s,
               and one normally reading member: bytes in, bytes out, is the
               member dropped as a slow reader?  Run twice: flooders that
               never read, and flooders that read slowly

    . .venv/bin/activate
    PYTHONPATH=. python scripts/security_probes.py --checkout /path/to/checkout \\
        [--only bigpassword ...] [--json] [--markdown docs/security-probes-before.md]

Every loop is bounded in count and in time, and every probe has a hard
time limit: a probe that passes it is reported as C{"status": "timeout"}
(its server is killed by PID), never waited for.  Figures are of one run
on a shared machine; they are noisy.
"""
from __future__ import annotations

import argparse
import base64
import errno
import json
import os
import platform
import re
import resource
import select
import selectors
import shlex
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from collections import deque
from typing import Any, Callable, Iterable

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, ROOT)

from twisted_mail_suite.testing.configfile import prepareDirectory  # noqa: E402
from twisted_mail_suite.testing.process import SuiteProcess, memory, openFiles  # noqa: E402

LOCAL = "127.0.0.1"
KIB = 1024
MIB = 1024 * 1024
TCP_ESTABLISHED = 1
TCP_STATES = {1: "ESTABLISHED", 2: "SYN_SENT", 3: "SYN_RECV", 4: "FIN_WAIT1", 5: "FIN_WAIT2",
              6: "TIME_WAIT", 7: "CLOSE", 8: "CLOSE_WAIT", 9: "LAST_ACK", 10: "LISTEN", 11: "CLOSING"}


# -- small helpers -------------------------------------------------------------

class ProbeTimeout(Exception):
    """
    A probe's own deadline passed (reported, never waited out).
    """


class Deadline:
    def __init__(self, seconds: float) -> None:
        self.end = time.monotonic() + seconds

    def left(self) -> float:
        return self.end - time.monotonic()

    def passed(self) -> bool:
        return self.left() <= 0

    def sooner(self, seconds: float) -> "Deadline":
        d = Deadline(0)
        d.end = min(self.end, time.monotonic() + seconds)
        return d


def rss(pid: int) -> dict[str, int]:
    """
    VmRSS and VmHWM of C{pid} in KiB, or zeros once it is gone.
    """
    try:
        return memory(pid)
    except (OSError, ValueError):
        return {"VmRSS": 0, "VmHWM": 0}


def procIO(pid: int) -> dict[str, int]:
    try:
        with open(f"/proc/{pid}/io", encoding="ascii") as f:
            return {k: int(v) for k, v in (line.split(":") for line in f)}
    except OSError:
        return {}


def fileLimit(pid: int) -> tuple[str, str] | None:
    """
    The (soft, hard) "Max open files" of C{pid} from C{/proc/<pid>/limits}.
    """
    with open(f"/proc/{pid}/limits", encoding="ascii") as f:
        for line in f:
            if line.startswith("Max open files"):
                soft, hard = line.split()[3:5]
                return soft, hard
    return None


def mib(kib: int | float) -> float:
    return round(kib / 1024, 1)


def tcpInfo(sock: socket.socket) -> dict[str, int]:
    """
    The kernel's view of a client socket: its state, the bytes the server
    acknowledged (what it took in) and the bytes received from it (what it
    put on the wire to us, read or not).
    """
    try:
        raw = sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 256)
    except OSError:
        return {"state": 0, "acked": 0, "received": 0}
    acked, received = struct.unpack_from("QQ", raw, 120)
    return {"state": raw[0], "acked": max(acked - 1, 0), "received": received}


class Sampler:
    """
    VmRSS of a process every C{interval} seconds in a thread: the value at
    start, the peak, and VmHWM at the end.
    """

    def __init__(self, pid: int, interval: float = 0.05) -> None:
        self.pid = pid
        self.interval = interval
        self.before = rss(pid)["VmRSS"]
        self.peak = self.before
        self.samples = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            value = rss(self.pid)["VmRSS"]
            self.samples += 1
            self.peak = max(self.peak, value)

    def stop(self) -> dict[str, Any]:
        self._stop.set()
        self._thread.join(2)
        now = rss(self.pid)
        self.peak = max(self.peak, now["VmRSS"])
        return {"rss_before_mib": mib(self.before), "rss_peak_mib": mib(self.peak),
                "rss_growth_mib": mib(self.peak - self.before), "vmhwm_mib": mib(now["VmHWM"]),
                "rss_samples": self.samples}


SMTP_LINE = re.compile(rb"^(\d{3})([ -])")


def smtpReplies(lines: Iterable[bytes]) -> list[bytes]:
    """
    The complete SMTP replies in C{lines}: the last line of each.
    """
    return [line for line in lines if SMTP_LINE.match(line) and line[3:4] == b" "]


def plainAuth(user: str, password: str | bytes) -> bytes:
    secret = password if isinstance(password, bytes) else password.encode()
    return b"AUTH PLAIN " + base64.b64encode(b"\0" + user.encode() + b"\0" + secret) + b"\r\n"


class LineSocket:
    """
    A blocking client connection with a line reader; every call is bounded
    by a deadline.
    """

    def __init__(self, port: int, deadline: Deadline, source: str = LOCAL,
                 options: Iterable[tuple[int, int, int]] = ()) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        for level, name, value in options:
            self.sock.setsockopt(level, name, value)
        self.sock.bind((source, 0))
        self.sock.settimeout(max(deadline.left(), 0.01))
        self.sock.connect((LOCAL, port))
        self.buffer = b""
        self.closed = False

    def send(self, data: bytes, deadline: Deadline) -> None:
        self.sock.settimeout(max(deadline.left(), 0.01))
        self.sock.sendall(data)

    def line(self, deadline: Deadline) -> bytes | None:
        """
        The next line (without its end), or L{None} if the server closed.

        @raise ProbeTimeout: at the deadline.
        """
        while b"\n" not in self.buffer:
            if self.closed:
                return None
            left = deadline.left()
            if left <= 0:
                raise ProbeTimeout("no line in time")
            self.sock.settimeout(left)
            try:
                data = self.sock.recv(65536)
            except socket.timeout:
                raise ProbeTimeout("no line in time") from None
            except ConnectionResetError:
                data = b""
            if not data:
                self.closed = True
                if not self.buffer:
                    return None
                data, self.buffer = self.buffer + b"\n", b""
            self.buffer += data
        line, _, self.buffer = self.buffer.partition(b"\n")
        return line.rstrip(b"\r")

    def reply(self, deadline: Deadline) -> bytes | None:
        """
        The next complete SMTP reply (its last line).
        """
        while True:
            line = self.line(deadline)
            if line is None or not SMTP_LINE.match(line) or line[3:4] == b" ":
                return line

    def close(self) -> None:
        try:
            self.sock.close()
        except OSError:
            pass


# -- many connections at once ----------------------------------------------------

class Conn:
    __slots__ = ("index", "sock", "state", "error", "partial", "lines", "stamps", "received", "events", "tag")

    def __init__(self, index: int, tag: str = "") -> None:
        self.index = index
        self.tag = tag
        self.sock: socket.socket | None = None
        self.state = "new"            # connecting, open, closed, failed
        self.error: str | None = None
        self.partial = b""
        self.lines: list[bytes] = []
        self.stamps: list[float] = []     # when each kept line arrived
        self.received = 0
        self.events: dict[str, float] = {}


class Swarm:
    """
    Many non-blocking client connections in one selector loop: connected a
    few dozen at a time (the listen backlog is 50), their lines collected.
    Lines matching C{ignore} (chat join/part announcements) are only
    counted; at most C{keepLines} lines are kept per connection.
    """

    def __init__(self, ignore: re.Pattern[bytes] | None = None, keepLines: int = 200) -> None:
        self.selector = selectors.DefaultSelector()
        self.conns: list[Conn] = []
        self.ignore = ignore
        self.keepLines = keepLines

    def open(self, port: int, count: int, deadline: Deadline, source: Callable[[int], str] = lambda i: LOCAL,
             inflight: int = 40, tag: str = "") -> list[Conn]:
        """
        Connect C{count} clients to C{port}; returns them (some may have
        state C{failed}: their C{error} says why).
        """
        new = [Conn(len(self.conns) + i, tag) for i in range(count)]
        self.conns.extend(new)
        waiting = deque(new)
        while (waiting or any(c.state == "connecting" for c in new)) and not deadline.passed():
            connecting = sum(1 for c in new if c.state == "connecting")
            while waiting and connecting < inflight:
                conn = waiting.popleft()
                self._connect(conn, port, source(conn.index))
                connecting += conn.state == "connecting"
            self.pump(0.02)
        for conn in new:
            if conn.state in ("new", "connecting"):
                self._fail(conn, "connect timeout")
        return new

    def _connect(self, conn: Conn, port: int, source: str) -> None:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setblocking(False)
        conn.sock = sock
        try:
            sock.bind((source, 0))
            err = sock.connect_ex((LOCAL, port))
        except OSError as e:
            self._fail(conn, f"bind/connect: {e}")
            return
        if err not in (0, errno.EINPROGRESS):
            self._fail(conn, errno.errorcode.get(err, str(err)))
            return
        conn.state = "connecting"
        conn.events["connect_started"] = time.monotonic()
        self.selector.register(sock, selectors.EVENT_WRITE, conn)

    def _fail(self, conn: Conn, why: str) -> None:
        conn.state = "failed"
        conn.error = why
        self._forget(conn)

    def _forget(self, conn: Conn) -> None:
        if conn.sock is not None:
            try:
                self.selector.unregister(conn.sock)
            except (KeyError, ValueError):
                pass

    def pump(self, timeout: float) -> None:
        """
        One pass of the loop: finish connects, read what arrived.
        """
        if not self.selector.get_map():
            time.sleep(min(timeout, 0.05))
            return
        for key, _ in self.selector.select(timeout):
            conn: Conn = key.data
            sock = conn.sock
            assert sock is not None
            if conn.state == "connecting":
                err = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                if err:
                    self._fail(conn, errno.errorcode.get(err, str(err)))
                    continue
                conn.state = "open"
                conn.events["connected"] = time.monotonic()
                self.selector.modify(sock, selectors.EVENT_READ, conn)
                continue
            self._read(conn)

    def _read(self, conn: Conn) -> None:
        sock = conn.sock
        assert sock is not None
        try:
            data = sock.recv(262144)
        except (BlockingIOError, InterruptedError):
            return
        except OSError as e:
            conn.error = errno.errorcode.get(e.errno or 0, str(e))
            data = b""
        if not data:
            conn.state = "closed"
            conn.events["closed"] = time.monotonic()
            self._forget(conn)
            if conn.partial:
                self._line(conn, conn.partial)
                conn.partial = b""
            return
        conn.received += len(data)
        data = conn.partial + data
        *complete, conn.partial = data.split(b"\n")
        for line in complete:
            self._line(conn, line.rstrip(b"\r"))

    def _line(self, conn: Conn, line: bytes) -> None:
        if "first_line" not in conn.events:
            conn.events["first_line"] = time.monotonic()
        if self.ignore is not None and self.ignore.match(line):
            return
        if len(conn.lines) < self.keepLines:
            conn.lines.append(line)
            conn.stamps.append(time.monotonic())

    def until(self, done: Callable[[Conn], bool], deadline: Deadline,
              conns: list[Conn] | None = None) -> bool:
        """
        Pump until C{done(conn)} holds for every open connection of
        C{conns} (closed and failed ones count as done) or the deadline.

        @return: whether all were done.
        """
        conns = self.conns if conns is None else conns
        while True:
            if all(c.state in ("closed", "failed") or done(c) for c in conns):
                return True
            if deadline.passed():
                return False
            self.pump(min(0.05, max(deadline.left(), 0)))

    def send(self, conn: Conn, data: bytes) -> bool:
        """
        Send C{data} (small: it must fit the socket buffer) without blocking.
        """
        if conn.state != "open" or conn.sock is None:
            return False
        try:
            sent = conn.sock.send(data)
        except OSError as e:
            conn.error = errno.errorcode.get(e.errno or 0, str(e))
            return False
        conn.events.setdefault("sent", time.monotonic())
        return sent == len(data)

    def close(self) -> None:
        for conn in self.conns:
            if conn.sock is not None:
                self._forget(conn)
                try:
                    conn.sock.close()
                except OSError:
                    pass
        self.selector.close()


# -- the servers -------------------------------------------------------------------

class Harness:
    """
    Starts one suite per probe (each in its own folder) from C{checkout}
    and remembers every child so that a timed-out probe's server can be
    killed by its PID.
    """

    def __init__(self, checkout: str, keep: bool) -> None:
        self.checkout = os.path.abspath(checkout)
        self.keep = keep
        self.root = tempfile.mkdtemp(prefix="security-probes-")
        self.children: list[SuiteProcess] = []
        self.serial = 0
        self._defaults: dict[str, Any] | None = None

    def start(self, name: str, users: dict[str, str], scheme: str,
              sections: dict[str, Any] | None = None, nofile: int | None = None) -> SuiteProcess:
        self.serial += 1
        folder = os.path.join(self.root, f"{self.serial:02d}-{name}")
        os.makedirs(folder)
        config = prepareDirectory(folder, users, scheme, sections=sections or {})
        # -l: the log goes to a file, never through a pipe into this process
        child = SuiteProcess(config, arguments=["-l", "twistd.log"], pythonPath=self.checkout,
                             name=name, nofile=nofile)
        self.children.append(child)
        child.start()
        return child

    def log(self, child: SuiteProcess) -> bytes:
        try:
            with open(os.path.join(child.folder, "twistd.log"), "rb") as f:
                return f.read()
        except OSError:
            return b""

    def stop(self, child: SuiteProcess) -> None:
        if child.process is not None and child.process.poll() is None:
            child.terminate(10)

    def killAll(self) -> None:
        for child in self.children:
            try:
                child.kill()
            except Exception:   # noqa: BLE001 - best effort, by PID
                pass

    def cleanup(self) -> None:
        self.killAll()
        if not self.keep:
            shutil.rmtree(self.root, ignore_errors=True)

    def defaults(self) -> dict[str, Any]:
        """
        The checkout's built-in configuration (its limits differ before
        and after the fixes), asked of the checkout itself.
        """
        if self._defaults is None:
            code = ("import json; from twisted_mail_suite.config import configFromDict, configToDict; "
                    "print(json.dumps(configToDict(configFromDict({}))))")
            env = dict(os.environ, PYTHONPATH=os.pathsep.join(
                p for p in (self.checkout, os.environ.get("PYTHONPATH")) if p))
            try:
                out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                                     timeout=60, check=True, cwd=self.root).stdout
                self._defaults = json.loads(out)
            except (subprocess.SubprocessError, ValueError):
                self._defaults = {}
        return self._defaults


# -- probes ------------------------------------------------------------------------

USERS = {"alice": "alice-pw", "bob": "bob-pw"}
CHAT_NOISE = re.compile(rb"^\*\*\* \S+ (joined|left) #")


def bigAuthOnce(port: int, size: int, deadline: Deadline) -> dict[str, Any]:
    client = LineSocket(port, deadline, options=[(socket.SOL_SOCKET, socket.SO_SNDBUF, 4 * MIB)])
    try:
        greeting = client.reply(deadline)
        client.send(b"EHLO probe.test\r\n", deadline)
        client.reply(deadline)
        line = plainAuth("alice", b"A" * size)
        client.send(line, deadline)          # one send() call: usually one segment on loopback
        began = time.monotonic()
        try:
            reply = client.reply(deadline)
        except ProbeTimeout:
            reply = b"(no reply before the probe's deadline)"
        seconds = time.monotonic() - began
        return {"greeting": (greeting or b"")[:3].decode(), "line_bytes": len(line),
                "reply": (reply or b"(connection closed)").decode("ascii", "replace")[:80],
                "seconds": round(seconds, 3)}
    finally:
        client.close()


def bigAuth(port: int, size: int, deadline: Deadline, attempts: int = 5) -> dict[str, Any]:
    """
    One AUTH PLAIN for alice with a C{size}-byte password.  Today's server
    refuses a partial command line over 12 KiB at once ("500 5.5.2 Line
    too long") but checks a complete one of any length, so when the line
    happens to arrive in two reads the attempt is made again on a new
    connection (at most C{attempts} times; each is reported).
    """
    earlier: list[str] = []
    for _ in range(attempts):
        outcome = bigAuthOnce(port, size, deadline)
        if not (outcome["reply"].startswith("500 ") and outcome["seconds"] < 0.5) or deadline.passed():
            break
        earlier.append(outcome["reply"])
    outcome["attempts"] = len(earlier) + 1
    if earlier:
        outcome["earlier_replies"] = earlier
    return outcome


def probeBigpassword(h: Harness, deadline: Deadline) -> dict[str, Any]:
    # no failure delay: the seconds to the reply are the check's own
    sections = {"auth": {"failure_delay": 0}}
    result: dict[str, Any] = {"password_bytes": 40 * KIB, "user_scheme": "SHA512-CRYPT", "port": "submission",
                              "config": sections}
    for label, parallel in (("one", 1), ("three_parallel", 3)):
        server = h.start(f"bigpassword-{label}", USERS, "SHA512-CRYPT", sections)
        try:
            port = server.ports["submission"]
            control = bigAuth(port, 8, deadline.sooner(30))     # the failure delay alone
            time.sleep(0.3)
            sampler = Sampler(server.pid)
            outcomes: list[dict[str, Any]] = [{}] * parallel
            began = time.monotonic()

            def one(i: int) -> None:
                try:
                    outcomes[i] = bigAuth(port, 40 * KIB, deadline)
                except Exception as e:  # noqa: BLE001 - reported
                    outcomes[i] = {"error": repr(e)}

            threads = [threading.Thread(target=one, args=(i,), daemon=True) for i in range(parallel)]
            for t in threads:
                t.start()
            for t in threads:
                t.join(max(deadline.left(), 0.1))
            wall = time.monotonic() - began
            time.sleep(0.2)
            memoryFigures = sampler.stop()
            result[label] = {"replies": [o.get("reply", o.get("error")) for o in outcomes],
                             "attempts": [o.get("attempts") for o in outcomes],
                             "seconds_each": [o.get("seconds") for o in outcomes],
                             "seconds_all": round(wall, 2),
                             "auth_line_bytes": outcomes[0].get("line_bytes"),
                             "control_8_byte_password": {"reply": control["reply"], "seconds": control["seconds"]},
                             **memoryFigures}
        finally:
            h.stop(server)
    return result


def probeEhloflood(h: Harness, deadline: Deadline) -> dict[str, Any]:
    total = 20 * MIB
    watch = 30.0
    server = h.start("ehloflood", USERS, "PLAIN")
    result: dict[str, Any] = {"flood_bytes": total, "client_rcvbuf": 4096}
    try:
        time.sleep(0.5)
        filesBefore = openFiles(server.pid)
        sampler = Sampler(server.pid)
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.bind((LOCAL, 0))
        sock.settimeout(10)
        sock.connect((LOCAL, server.ports["smtp"]))
        sock.setblocking(False)
        chunk = b"EHLO x\r\n" * 8192                       # 64 KiB
        sent = 0
        sendError = None
        sendDeadline = deadline.sooner(120)
        began = time.monotonic()
        while sent < total and not sendDeadline.passed():
            _, writable, _ = select.select([], [sock], [], 0.2)
            if not writable:
                continue
            start = sent % 8            # the stream is "EHLO x\r\n" over and over
            try:
                sent += sock.send(chunk[start:start + min(len(chunk) - start, total - sent)])
            except BlockingIOError:
                continue
            except OSError as e:
                sendError = errno.errorcode.get(e.errno or 0, str(e))
                break
        sendSeconds = time.monotonic() - began
        result.update({"bytes_sent": sent, "send_seconds": round(sendSeconds, 1),
                       "send_stopped_by": sendError or ("done" if sent >= total else
                                                           "time limit (the server took no more in time)")})
        # watch for a close: the client never reads, so only an abort (RST)
        # reaches it; the server's descriptor count shows a close too
        closedAfter = None
        fdReleasedAfter = None
        watchStart = time.monotonic()
        watchDeadline = deadline.sooner(watch)
        state = TCP_ESTABLISHED
        while not watchDeadline.passed():
            info = tcpInfo(sock)
            state = info["state"]
            if closedAfter is None and state != TCP_ESTABLISHED:
                closedAfter = time.monotonic() - watchStart
            if fdReleasedAfter is None and openFiles(server.pid) <= filesBefore:
                fdReleasedAfter = time.monotonic() - watchStart
            if closedAfter is not None and fdReleasedAfter is not None:
                break
            time.sleep(0.1)
        watched = time.monotonic() - watchStart
        rssAtEnd = rss(server.pid)["VmRSS"]
        info = tcpInfo(sock)
        sock.close()             # unread data: the kernel sends RST
        time.sleep(3.0)
        after = rss(server.pid)["VmRSS"]
        figures = sampler.stop()
        result.update({
            "server_bytes_taken_in": info["acked"],
            "client_state_at_end": TCP_STATES.get(state, str(state)),
            "watched_s": round(watched, 1),
            "closed_by_server_within_30s": closedAfter is not None or fdReleasedAfter is not None,
            "client_saw_close_after_s": None if closedAfter is None else round(closedAfter, 1),
            "server_fd_released_after_s": None if fdReleasedAfter is None else round(fdReleasedAfter, 1),
            "rss_before_mib": figures["rss_before_mib"], "rss_peak_mib": figures["rss_peak_mib"],
            "rss_at_end_of_watch_mib": mib(rssAtEnd), "rss_3s_after_close_mib": mib(after),
            "vmhwm_mib": figures["vmhwm_mib"], "fds_after_close": openFiles(server.pid),
            "fds_before": filesBefore,
        })
    finally:
        h.stop(server)
    return result


def chatVerdict(conn: Conn) -> str | None:
    """
    What the chat answered to a /login on C{conn}, if it did.
    """
    for line in conn.lines:
        if line.startswith(b"*** logged in as "):
            return "success"
        if line.startswith(b"!!! login failed"):
            return "failed"                 # checked: the password was verified
        if line.startswith(b"!!! too many failed logins"):
            return "refused"                # not checked
        if line.startswith(b"!!! too many connections"):
            return "connection refused"
        if line.startswith(b"!!! ") and b"login" in line:
            return "other: " + line[4:60].decode("utf-8", "replace")
    return None


def chatAnswerAt(conn: Conn) -> float | None:
    """
    When the answer to the /login arrived.
    """
    for line, stamp in zip(conn.lines, conn.stamps):
        if line.startswith((b"*** logged in as ", b"!!! ")):
            return stamp
    return None


def smtpAnswerAt(conn: Conn, skip: int = 2) -> float | None:
    """
    When the reply to AUTH (after the greeting and EHLO) arrived.
    """
    finals = [stamp for line, stamp in zip(conn.lines, conn.stamps)
              if SMTP_LINE.match(line) and line[3:4] == b" "]
    return finals[skip] if len(finals) > skip else None


def spread(stamps: Iterable[float | None], began: float) -> dict[str, float | None]:
    """
    The first and last of C{stamps}, in seconds after C{began}.
    """
    known = [s - began for s in stamps if s is not None]
    return {"first_answer_after_s": round(min(known), 2) if known else None,
            "last_answer_after_s": round(max(known), 2) if known else None}


def chatReady(conn: Conn) -> bool:
    return any(line.startswith((b"*** you joined", b"*** log in with", b"!!! ")) for line in conn.lines)


def smtpVerdict(conn: Conn, skip: int = 2) -> str | None:
    """
    The reply to AUTH on C{conn} (after the greeting and EHLO).
    """
    replies = smtpReplies(conn.lines)
    if replies and replies[0].startswith(b"421"):
        return "connection refused" if b"connections" in replies[0] else "421 at connect"
    if len(replies) <= skip:
        return None
    reply = replies[skip]
    if reply.startswith(b"235"):
        return "success"
    if reply.startswith(b"535"):
        return "failed"
    if reply.startswith(b"421") and b"failed logins" in reply:
        return "refused"
    return "other: " + reply[:60].decode("ascii", "replace")


def tally(verdicts: Iterable[str | None], conns: Iterable[Conn]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for verdict, conn in zip(verdicts, conns):
        if verdict is None:
            if conn.state == "failed":
                verdict = "connect failed"
            elif conn.state == "closed":
                verdict = "closed without answer"
            else:
                verdict = "no answer"
        counts[verdict] = counts.get(verdict, 0) + 1
    return counts


def probeLoginburst(h: Harness, deadline: Deadline) -> dict[str, Any]:
    result: dict[str, Any] = {"user_scheme": "BLF-CRYPT", "auth_defaults": h.defaults().get("auth")}
    # chat: 300 wrong on 300 connections, then the right one on one more
    # (the per-address connection limit is raised so that it is the login
    # policy that answers, not the connection limit)
    server = h.start("loginburst-chat", USERS, "BLF-CRYPT",
                     {"chat": {"max_connections_per_ip": 400, "max_connections": 400}})
    swarm = Swarm(ignore=CHAT_NOISE)
    try:
        port = server.ports["chat"]
        conns = swarm.open(port, 301, deadline.sooner(60))
        swarm.until(chatReady, deadline.sooner(30))
        wrong, right = conns[:300], conns[300]
        ready = sum(1 for c in conns if c.state == "open" and chatReady(c))
        began = time.monotonic()
        for conn in wrong:
            swarm.send(conn, b"/login alice wrong\n")
        swarm.send(right, b"/login alice " + USERS["alice"].encode() + b"\n")
        sentIn = time.monotonic() - began
        allAnswered = swarm.until(lambda c: chatVerdict(c) is not None, deadline.sooner(120))
        verdicts = [chatVerdict(c) for c in wrong]
        counts = tally(verdicts, wrong)
        after = Swarm(ignore=CHAT_NOISE)
        try:
            late = after.open(port, 1, deadline.sooner(10))[0]
            after.until(chatReady, deadline.sooner(10))
            after.send(late, b"/login alice " + USERS["alice"].encode() + b"\n")
            after.until(lambda c: chatVerdict(c) is not None, deadline.sooner(30))
            lateVerdict = chatVerdict(late) or late.state
        finally:
            after.close()
        result["chat"] = {
            "wrong_sent": len(wrong), "connections_ready": ready,
            "send_seconds": round(sentIn, 3), **spread(map(chatAnswerAt, conns), began),
            "all_answered": allAnswered,
            "wrong_checked_failed": counts.get("failed", 0), "wrong_refused": counts.get("refused", 0),
            "wrong_outcomes": counts, "right_in_burst": chatVerdict(right) or right.state,
            "right_after_burst": lateVerdict,
        }
    finally:
        swarm.close()
        h.stop(server)
    # submission: 50 wrong, then the right one (51 connections from one
    # address: the per-address connection limit is raised so that it is
    # the login policy that answers, not the connection limit)
    sections = {"submission": {"max_connections_per_ip": 100, "max_connections": 200}}
    server = h.start("loginburst-submission", USERS, "BLF-CRYPT", sections)
    swarm = Swarm()
    try:
        port = server.ports["submission"]
        conns = swarm.open(port, 51, deadline.sooner(30))
        swarm.until(lambda c: len(smtpReplies(c.lines)) >= 1, deadline.sooner(20))
        wrong, right = conns[:50], conns[50]
        began = time.monotonic()
        for conn in wrong:
            swarm.send(conn, b"EHLO probe.test\r\n" + plainAuth("alice", "wrong"))
        swarm.send(right, b"EHLO probe.test\r\n" + plainAuth("alice", USERS["alice"]))
        sentIn = time.monotonic() - began
        allAnswered = swarm.until(lambda c: smtpVerdict(c) is not None, deadline.sooner(120))
        verdicts = [smtpVerdict(c) for c in wrong]
        counts = tally(verdicts, wrong)
        result["submission"] = {
            "config": sections["submission"], "wrong_sent": len(wrong), "send_seconds": round(sentIn, 3),
            "all_answered": allAnswered,
            "wrong_checked_failed": counts.get("failed", 0), "wrong_refused": counts.get("refused", 0),
            "wrong_outcomes": counts, "right_in_burst": smtpVerdict(right) or right.state,
            **spread(map(smtpAnswerAt, conns), began),
        }
    finally:
        swarm.close()
        h.stop(server)
    return result


def greets(port: int, expect: bytes, within: float) -> dict[str, Any]:
    """
    Does a new connection to C{port} get a first line starting with
    C{expect} within C{within} seconds?
    """
    deadline = Deadline(within)
    began = time.monotonic()
    try:
        client = LineSocket(port, deadline)
    except OSError as e:
        return {"ok": False, "outcome": f"connect failed: {e}"}
    try:
        line = client.line(deadline)
    except ProbeTimeout:
        return {"ok": False, "outcome": f"no greeting within {within:g} s"}
    except OSError as e:
        return {"ok": False, "outcome": f"error: {e}"}
    finally:
        client.close()
    seconds = round(time.monotonic() - began, 3)
    if line is None:
        return {"ok": False, "outcome": "closed without a greeting", "seconds": seconds}
    return {"ok": line.startswith(expect), "outcome": line[:60].decode("utf-8", "replace"), "seconds": seconds}


def probeFdexhaust(h: Harness, deadline: Deadline) -> dict[str, Any]:
    limit, count = 1024, 1100
    server = h.start("fdexhaust", USERS, "PLAIN", nofile=limit)
    swarm = Swarm(ignore=CHAT_NOISE, keepLines=20)
    result: dict[str, Any] = {"rlimit_nofile": limit, "chat_connections": count,
                              "chat_defaults": {k: h.defaults().get("chat", {}).get(k)
                                                for k in ("max_connections", "max_connections_per_ip")}}
    try:
        result["child_limit_soft_hard"] = fileLimit(server.pid)
        result["limit_applied"] = result["child_limit_soft_hard"] == (str(limit), str(limit))
        result["fds_at_start"] = openFiles(server.pid)
        result["before"] = {"smtp": greets(server.ports["smtp"], b"220", 5), "pop3": greets(server.ports["pop3"], b"+OK", 5)}
        began = time.monotonic()
        conns = swarm.open(server.ports["chat"], count, deadline.sooner(90), inflight=40)
        swarm.until(lambda c: bool(c.lines), deadline.sooner(5))
        outcomes: dict[str, int] = {}
        for conn in conns:
            if conn.state == "failed":
                key = f"connect failed ({conn.error})"
            elif any(line.startswith(b"*** welcome") for line in conn.lines):
                key = "welcomed" if conn.state == "open" else "welcomed, then closed"
            elif conn.lines:
                key = "refused: " + conn.lines[0][:50].decode("utf-8", "replace")
            elif conn.state == "closed":
                key = "closed without a line"
            else:
                key = "no line"
            outcomes[key] = outcomes.get(key, 0) + 1
        result["chat_outcomes"] = outcomes
        result["chat_open_seconds"] = round(time.monotonic() - began, 1)
        result["server_fds_during"] = openFiles(server.pid)
        result["during"] = {"smtp": greets(server.ports["smtp"], b"220", 5), "pop3": greets(server.ports["pop3"], b"+OK", 5)}
        swarm.close()
        time.sleep(2.0)
        result["after_chat_closed"] = {"smtp": greets(server.ports["smtp"], b"220", 5),
                                       "pop3": greets(server.ports["pop3"], b"+OK", 5)}
        log = h.log(server)
        result["log_emfile_lines"] = log.count(b"EMFILE")
        result["log_could_not_accept_lines"] = log.count(b"Could not accept")
    finally:
        swarm.close()
        h.stop(server)
    return result


def deliver(port: int, deadline: Deadline, token: str) -> dict[str, Any]:
    """
    One SMTP delivery to bob, step by step, each step timed.
    """
    steps: dict[str, float] = {}
    began = time.monotonic()
    client = LineSocket(port, deadline)
    try:
        def step(name: str, data: bytes | None, expect: bytes) -> None:
            t = time.monotonic()
            if data is not None:
                client.send(data, deadline)
            reply = client.reply(deadline)
            steps[name] = round(time.monotonic() - t, 3)
            if reply is None or not reply.startswith(expect):
                raise RuntimeError(f"{name}: {reply!r}")

        step("greeting", None, b"220")
        step("ehlo", b"EHLO probe.test\r\n", b"250")
        step("mail", b"MAIL FROM:<probe@remote.test>\r\n", b"250")
        step("rcpt", b"RCPT TO:<bob@example.test>\r\n", b"250")
        step("data", b"DATA\r\n", b"354")
        step("end_of_data_to_250", b"Subject: probe\r\nX-Token: " + token.encode() + b"\r\n\r\nhello\r\n.\r\n", b"250")
        client.send(b"QUIT\r\n", deadline)
        return {"ok": True, "seconds_to_250": steps["end_of_data_to_250"],
                "session_seconds": round(time.monotonic() - began, 3), "steps": steps}
    except (ProbeTimeout, RuntimeError, OSError) as e:
        return {"ok": False, "error": str(e), "steps": steps,
                "session_seconds": round(time.monotonic() - began, 3)}
    finally:
        client.close()


def probeHashstarve(h: Harness, deadline: Deadline) -> dict[str, Any]:
    count = 800
    # 800 attackers from 800 addresses, 400 per port: the total connection
    # limits are raised so that they are all served (the probe is about the
    # password checks, not the connection limits)
    server = h.start("hashstarve", USERS, "BLF-CRYPT",
                     {role: {"max_connections": 1000} for role in ("smtp", "submission")})
    swarm = Swarm()
    result: dict[str, Any] = {"failed_logins": count, "user_scheme": "BLF-CRYPT",
                              "attackers": "800 connections, one per loopback address (127.1.x.y), "
                                           "400 on smtp and 400 on submission"}
    try:
        time.sleep(0.5)
        controls = [deliver(server.ports["smtp"], deadline.sooner(30), f"control-{i}") for i in range(3)]
        result["control"] = {"seconds_to_250": [c.get("seconds_to_250") for c in controls],
                             "ok": all(c["ok"] for c in controls)}

        def source(i: int) -> str:
            return f"127.1.{i // 200}.{i % 200 + 1}"

        began = time.monotonic()
        conns = swarm.open(server.ports["smtp"], count // 2, deadline.sooner(60), source=source)
        conns += swarm.open(server.ports["submission"], count - count // 2, deadline.sooner(60),
                            source=lambda i: source(i + count))
        swarm.until(lambda c: len(smtpReplies(c.lines)) >= 1, deadline.sooner(30), conns)
        result["attack_connect_seconds"] = round(time.monotonic() - began, 1)
        result["attack_connections_greeted"] = sum(1 for c in conns if smtpReplies(c.lines)[:1] and
                                                   smtpReplies(c.lines)[0].startswith(b"220"))
        began = time.monotonic()
        for conn in conns:
            swarm.send(conn, b"EHLO probe.test\r\n" + plainAuth("alice", "wrong"))
        sendSeconds = time.monotonic() - began
        loaded: dict[str, Any] = {}
        worker = threading.Thread(target=lambda: loaded.update(
            deliver(server.ports["smtp"], deadline.sooner(150), "under-load")), daemon=True)
        worker.start()
        allAnswered = swarm.until(lambda c: smtpVerdict(c) is not None, deadline.sooner(180), conns)
        attackSeconds = time.monotonic() - began
        worker.join(max(deadline.left(), 0.1))
        result["under_load"] = loaded
        counts = tally([smtpVerdict(c) for c in conns], conns)
        result["attack"] = {"send_seconds": round(sendSeconds, 2), "all_answered": allAnswered,
                            "probe_waited_s": round(attackSeconds, 1), "outcomes": counts,
                            **spread(map(smtpAnswerAt, conns), began)}
        result["after_load"] = deliver(server.ports["smtp"], deadline.sooner(30), "after").get("seconds_to_250")
    finally:
        swarm.close()
        h.stop(server)
    return result


READ_MODES = {"none": "never", "slow": "4 KiB every 100 ms each (40 KiB/s)",
              "drain": "everything, as fast as the probe can"}
MEMBER_MODES = {"fast": "everything that arrives, first in every turn of the probe's loop",
                "paced": "at most 1 MiB/s (a client on an 8 Mbit/s link)"}
MEMBER_PACE = MIB


def readAvailable(sock: socket.socket, limit: int) -> tuple[int, bool]:
    """
    Read what is there (up to C{limit} bytes) without blocking.

    @return: (bytes read, whether the connection is gone).
    """
    total = 0
    while total < limit:
        try:
            data = sock.recv(min(262144, limit - total))
        except (BlockingIOError, InterruptedError):
            return total, False
        except OSError:
            return total, True
        if not data:
            return total, True
        total += len(data)
    return total, False


def chatFlood(h: Harness, deadline: Deadline, mode: str, memberMode: str) -> dict[str, Any]:
    """
    One chat flood; C{mode} is how the flooders read (L{READ_MODES}),
    C{memberMode} how the member does (L{MEMBER_MODES}).
    """
    chat = h.defaults().get("chat", {})
    rate = float(chat.get("lines_per_second", 10.0))
    burst = int(chat.get("burst", 30))
    maxLine = int(chat.get("max_line_length", 4096))
    flooders, seconds = 100, 10.0
    lineSize = maxLine - 96 if maxLine > 200 else maxLine // 2
    server = h.start(f"chatflood-{mode}-{memberMode}", USERS, "PLAIN")
    swarm = Swarm(ignore=CHAT_NOISE, keepLines=50)
    result: dict[str, Any] = {"flooders": flooders, "flooder_address": "127.0.0.2", "member_address": LOCAL,
                              "flooders_read": READ_MODES[mode], "member_reads": MEMBER_MODES[memberMode],
                              "lines_per_second": rate, "burst": burst, "line_bytes": lineSize + 1,
                              "schedule": f"{burst} lines at once, then {rate * 0.95:g} lines/s (95% of the limit)"}
    try:
        port = server.ports["chat"]
        me = swarm.open(port, 1, deadline.sooner(10))[0]
        swarm.until(chatReady, deadline.sooner(10))
        myName = next((line[len(b"*** you are "):] for line in me.lines if line.startswith(b"*** you are ")), b"")
        conns = swarm.open(port, flooders, deadline.sooner(30), source=lambda i: "127.0.0.2")
        swarm.until(chatReady, deadline.sooner(20))
        swarm.until(lambda c: False, deadline.sooner(0.5))        # the last join lines
        for conn in swarm.conns:                                  # raw sockets from here on
            swarm._forget(conn)
        socks = [c.sock if c.state == "open" else None for c in conns]
        memberSock = me.sock if me.state == "open" else None
        ioBefore = procIO(server.pid)
        sampler = Sampler(server.pid)
        memberBytes = 0
        allowance, lastTurn = 256 * KIB, time.monotonic()       # the paced member's budget
        pending = [b""] * flooders
        queued = [0] * flooders
        maxAcked = [0] * flooders
        maxReceived = [0] * flooders
        memberReceived = 0
        memberDroppedAt = None
        flooderGoneAt: list[float | None] = [None] * flooders
        text = b"x" * lineSize
        began = time.monotonic()
        nextRead = nextInfo = began
        end = min(began + seconds, deadline.end)
        drainUntil = min(end + 2.0, deadline.end)               # the member drains after the flood

        def gone(i: int) -> None:
            if flooderGoneAt[i] is None:
                flooderGoneAt[i] = time.monotonic() - began

        while True:
            now = time.monotonic()
            if now >= drainUntil:
                break
            if memberSock is not None:
                if memberMode == "paced":
                    allowance = min(allowance + (now - lastTurn) * MEMBER_PACE, 256 * KIB)
                    lastTurn = now
                limit = 8 * MIB if memberMode == "fast" else int(allowance)
                n, lost = readAvailable(memberSock, limit) if limit > 0 else (0, False)
                allowance -= n
                memberBytes += n
                if lost and memberDroppedAt is None:
                    memberDroppedAt = now - began
            if now >= nextInfo:                 # counters die with a reset: keep their last values
                nextInfo = now + 0.1
                for i, sock in enumerate(socks):
                    if sock is not None:
                        info = tcpInfo(sock)
                        maxAcked[i] = max(maxAcked[i], info["acked"])
                        maxReceived[i] = max(maxReceived[i], info["received"])
                        if info["state"] != TCP_ESTABLISHED:
                            gone(i)
                if memberSock is not None:
                    memberReceived = max(memberReceived, tcpInfo(memberSock)["received"])
            if now < end:
                due = burst + int((now - began) * rate * 0.95)
                for i, sock in enumerate(socks):
                    if sock is None or flooderGoneAt[i] is not None:
                        continue
                    while queued[i] < due and len(pending[i]) < 64 * KIB:
                        pending[i] += b"%03d %06d " % (i, queued[i]) + text[: lineSize - 11] + b"\n"
                        queued[i] += 1
                    if pending[i]:
                        try:
                            pending[i] = pending[i][sock.send(pending[i]):]
                        except BlockingIOError:
                            pass
                        except OSError:
                            gone(i)
            if mode == "drain" or (mode == "slow" and now >= nextRead):
                nextRead = now + 0.1
                for i, sock in enumerate(socks):
                    if sock is not None and flooderGoneAt[i] is None:
                        _, lost = readAvailable(sock, 4096 if mode == "slow" else MIB)
                        if lost:
                            gone(i)
            time.sleep(0.001)
        ioAfter = procIO(server.pid)
        figures = sampler.stop()
        for i, sock in enumerate(socks):
            if sock is not None and tcpInfo(sock)["state"] != TCP_ESTABLISHED:
                gone(i)
        log = h.log(server)
        drops = re.findall(rb"Chat client \S+ \((\S+)\) stopped reading", log)
        goneTimes = sorted(t for t in flooderGoneAt if t is not None)
        result.update({
            "flood_seconds": round(seconds, 1),
            "lines_queued_by_flooders": sum(queued),
            "bytes_in_mib": round(sum(maxAcked) / MIB, 1),
            "bytes_out_read_by_member_mib": round(memberBytes / MIB, 1),
            "bytes_out_to_all_clients_mib": round((sum(maxReceived) + memberReceived) / MIB, 1),
            "server_wchar_mib": round((ioAfter.get("wchar", 0) - ioBefore.get("wchar", 0)) / MIB, 1),
            "member_dropped": memberDroppedAt is not None,
            "member_dropped_after_s": None if memberDroppedAt is None else round(memberDroppedAt, 2),
            "member_dropped_as_slow_reader_in_log": bool(myName) and myName in drops,
            "flooders_closed_by_server": len(goneTimes),
            "flooders_closed_median_after_s": round(goneTimes[len(goneTimes) // 2], 2) if goneTimes else None,
            "slow_reader_drops_in_log": len(drops),
            "flooding_disconnects_in_log": log.count(b"disconnected for flooding"),
            **figures,
        })
    finally:
        swarm.close()
        h.stop(server)
    return result


def probeChatflood(h: Harness, deadline: Deadline) -> dict[str, Any]:
    result: dict[str, Any] = {
        "note": "bytes in: what the server acknowledged on the flooders' sockets; bytes out to all clients: "
                "what reached the probe's sockets (tcp_info bytes_received, read or not, sampled every "
                "100 ms because a reset clears it); server wchar counts write() calls only (the chat's "
                "direct os.write path, including bytes to clients dropped later), not send() through "
                "Twisted's transport"}
    for index, (mode, memberMode) in enumerate(CHATFLOOD_RUNS):
        share = deadline.left() / (len(CHATFLOOD_RUNS) - index)
        result[f"flooders_{mode}_member_{memberMode}"] = chatFlood(h, deadline.sooner(share), mode, memberMode)
    return result


CHATFLOOD_RUNS = [(mode, member) for member in MEMBER_MODES for mode in READ_MODES]


PROBES: dict[str, tuple[Callable[[Harness, Deadline], dict[str, Any]], float]] = {
    "bigpassword": (probeBigpassword, 240.0),
    "ehloflood": (probeEhloflood, 240.0),
    "loginburst": (probeLoginburst, 360.0),
    "fdexhaust": (probeFdexhaust, 180.0),
    "hashstarve": (probeHashstarve, 300.0),
    "chatflood": (probeChatflood, 420.0),
}


def runProbe(h: Harness, name: str) -> dict[str, Any]:
    """
    Run one probe in a thread with a hard time limit; past it, its servers
    are killed by PID and the probe is reported as timed out.
    """
    function, cap = PROBES[name]
    outcome: dict[str, Any] = {}
    began = time.monotonic()
    first = len(h.children)

    def work() -> None:
        try:
            outcome["result"] = function(h, Deadline(cap - 15))
        except Exception as e:  # noqa: BLE001 - a broken probe is a result too
            outcome["error"] = "".join(traceback.format_exception_only(type(e), e)).strip()
            outcome["traceback"] = traceback.format_exc()[-2000:]

    worker = threading.Thread(target=work, name=name, daemon=True)
    worker.start()
    worker.join(cap)
    if worker.is_alive():
        for child in h.children[first:]:
            child.kill()
        worker.join(10)
        result = {"status": "timeout", "limit_seconds": cap}
    elif "error" in outcome:
        result = {"status": "error", "error": outcome["error"], "traceback": outcome["traceback"]}
    else:
        result = {"status": "ok", **outcome["result"]}
    result["probe_seconds"] = round(time.monotonic() - began, 1)
    return result


# -- report ------------------------------------------------------------------------

def machine() -> dict[str, Any]:
    info: dict[str, Any] = {"nproc": os.cpu_count(), "kernel": platform.release(),
                            "python": platform.python_version()}
    try:
        info["nproc"] = int(subprocess.run(["nproc"], capture_output=True, text=True, timeout=5).stdout)
    except (OSError, ValueError, subprocess.SubprocessError):
        pass
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            info["cpu"] = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), "")
        with open("/proc/meminfo", encoding="ascii") as f:
            info["memory_mib"] = int(f.readline().split()[1]) // 1024
    except OSError:
        pass
    try:
        import twisted
        info["twisted"] = twisted.__version__
    except ImportError:
        pass
    info["loadavg"] = os.getloadavg()[0]
    return info


def commitOf(folder: str) -> str:
    try:
        return subprocess.run(["git", "-C", folder, "rev-parse", "--short", "HEAD"], capture_output=True,
                              text=True, timeout=10).stdout.strip() or "?"
    except (OSError, subprocess.SubprocessError):
        return "?"


def cell(value: Any) -> str:
    if isinstance(value, dict):
        return ", ".join(f"{k}: {cell(v)}" for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return ", ".join(cell(v) for v in value)
    if value is None:
        return "-"
    return str(value).replace("|", "\\|")


def rows(name: str, r: dict[str, Any]) -> list[tuple[str, str]]:
    """
    The figures of one probe as (measure, value) rows.
    """
    if r.get("status") != "ok":
        return [("status", f"{r.get('status')}: {r.get('error', '')} (after {r.get('probe_seconds')} s)")]
    if name == "bigpassword":
        out = []
        for label, title in (("one", "1 connection"), ("three_parallel", "3 in parallel")):
            x = r.get(label, {})
            out += [(f"{title}: reply", cell(sorted(set(map(str, x.get("replies", [])))))
                     + f" (attempts: {cell(x.get('attempts'))}; a line split by TCP is sent again)"),
                    (f"{title}: seconds to reply", cell(x.get("seconds_each"))),
                    (f"{title}: RSS before / peak / growth (MiB)",
                     f"{x.get('rss_before_mib')} / {x.get('rss_peak_mib')} / +{x.get('rss_growth_mib')}"),
                    (f"{title}: VmHWM (MiB)", cell(x.get("vmhwm_mib"))),
                    (f"{title}: control, 8-byte wrong password (s)",
                     cell(x.get("control_8_byte_password", {}).get("seconds")))]
        return out
    if name == "ehloflood":
        return [("bytes sent / taken in by the server", f"{r['bytes_sent']} / {r['server_bytes_taken_in']}"),
                ("sending stopped by", f"{r['send_stopped_by']} ({r['send_seconds']} s)"),
                ("RSS before / peak / end of 30 s watch / 3 s after close (MiB)",
                 f"{r['rss_before_mib']} / {r['rss_peak_mib']} / {r['rss_at_end_of_watch_mib']} / {r['rss_3s_after_close_mib']}"),
                ("server closed the connection within 30 s", cell(r["closed_by_server_within_30s"])),
                ("VmHWM (MiB)", cell(r["vmhwm_mib"]))]
    if name == "loginburst":
        c, s = r.get("chat", {}), r.get("submission", {})
        return [("chat: wrong /login sent, all before any answer", f"{c.get('wrong_sent')} in {c.get('send_seconds')} s "
                 f"(first answer after {c.get('first_answer_after_s')} s, last after {c.get('last_answer_after_s')} s)"),
                ("chat: wrong ones checked (`!!! login failed`) / refused", f"{c.get('wrong_checked_failed')} / {c.get('wrong_refused')}"),
                ("chat: all outcomes of the wrong ones", cell(c.get("wrong_outcomes"))),
                ("chat: right password, sent in the burst", cell(c.get("right_in_burst"))),
                ("chat: right password, new connection after the burst", cell(c.get("right_after_burst"))),
                ("submission: wrong AUTH checked (535) / refused (421)", f"{s.get('wrong_checked_failed')} / {s.get('wrong_refused')} of {s.get('wrong_sent')}"),
                ("submission: all outcomes of the wrong ones", cell(s.get("wrong_outcomes"))),
                ("submission: right password, sent in the burst", cell(s.get("right_in_burst")))]
    if name == "fdexhaust":
        return [("child RLIMIT_NOFILE (soft, hard) from /proc", cell(r.get("child_limit_soft_hard"))),
                ("chat connections: outcomes", cell(r.get("chat_outcomes"))),
                ("server descriptors during", cell(r.get("server_fds_during"))),
                ("new SMTP connection during: 220 within 5 s?", cell(r["during"]["smtp"])),
                ("new POP3 connection during: +OK within 5 s?", cell(r["during"]["pop3"])),
                ("after the chat sockets closed: SMTP / POP3", f"{cell(r['after_chat_closed']['smtp'])} / {cell(r['after_chat_closed']['pop3'])}")]
    if name == "hashstarve":
        u = r.get("under_load", {})
        return [("control: end of DATA to 250 (s), 3 deliveries, no load", cell(r["control"]["seconds_to_250"])),
                ("under load: end of DATA to 250 (s)", cell(u.get("seconds_to_250", u.get("error")))),
                ("under load: whole delivery session (s)", cell(u.get("session_seconds"))),
                ("under load: steps (s)", cell(u.get("steps"))),
                ("the 800 logins: outcomes", cell(r["attack"]["outcomes"])),
                ("the 800 logins: first / last answer after (s)",
                 f"{r['attack'].get('first_answer_after_s')} / {r['attack'].get('last_answer_after_s')}"),
                ("after the load: end of DATA to 250 (s)", cell(r.get("after_load")))]
    if name == "chatflood":
        out = []
        for mode, member in CHATFLOOD_RUNS:
            x = r.get(f"flooders_{mode}_member_{member}", {})
            title = f"flooders read: {mode}; member reads: {member}"
            out += [(f"{title}: MiB in / out read by the member / out to all clients / server wchar",
                     f"{x.get('bytes_in_mib')} / {x.get('bytes_out_read_by_member_mib')} / "
                     f"{x.get('bytes_out_to_all_clients_mib')} / {x.get('server_wchar_mib')}"),
                    (f"{title}: member dropped? flooders closed by the server; RSS peak",
                     f"member: {'dropped after ' + str(x.get('member_dropped_after_s')) + ' s' if x.get('member_dropped') else 'not dropped'}"
                     f"{' (slow reader)' if x.get('member_dropped_as_slow_reader_in_log') else ''}; "
                     f"flooders closed: {x.get('flooders_closed_by_server')} of {x.get('flooders')} "
                     f"(median after {x.get('flooders_closed_median_after_s')} s); RSS {x.get('rss_peak_mib')} MiB")]
        return out
    return [(k, cell(v)) for k, v in r.items()]


SETUP = [
    "Every probe starts a fresh `twistd -n mailsuite` with the config written by "
    "`twisted_mail_suite.testing.configfile` (all listeners on ephemeral 127.0.0.1 ports, users alice and bob) "
    "and the checkout's defaults unless listed here.",
    "**bigpassword**: alice stored as SHA512-CRYPT; `auth.failure_delay: 0`, so the seconds to the reply "
    "are the check's own (with the default, every failed reply waits 1 s or more on top). The 54 KiB "
    "`AUTH PLAIN` line is written with one `send()`: today's server refuses a *partial* command line "
    "over 12 KiB (`500 5.5.2 Line too long`) but checks a complete one of any length, so an attempt "
    "whose line arrived in two reads is made again on a new connection (attempts are reported). Memory: VmRSS sampled every 50 ms, VmHWM at the end; "
    "a fresh server for the single and for the 3-parallel run.",
    "**ehloflood**: the client sets SO_RCVBUF 4096 and never reads; a close is seen either as a reset "
    "on the client socket or as the server's descriptor count going back to its value before.",
    "**loginburst**: users stored BLF-CRYPT (the admin tool's default). Chat: 301 connections from "
    "127.0.0.1, every one greeted first; then 300 `/login alice wrong` lines and the right `/login` "
    "(the 301st), all written before any answer (the first answer comes after the 1 s failure delay). "
    "Submission: 50 wrong `AUTH PLAIN` and the right one, each on its own connection after EHLO; "
    "`submission.max_connections_per_ip: 100` so that the 51st connection is answered by the login "
    "policy, not the connection limit (default 50).",
    "**fdexhaust**: RLIMIT_NOFILE 1024 soft *and* hard for the twistd (set in the launcher's preexec_fn, "
    "checked in `/proc/<pid>/limits`), so it cannot raise its own limit; 1,100 chat connections from "
    "127.0.0.1, then one SMTP and one POP3 connection, each given 5 s for its first line.",
    "**hashstarve**: users stored BLF-CRYPT; 800 connections, each from its own loopback address "
    "(127.1.x.y: the per-address connection and failure limits are not what is measured), 400 to smtp and 400 to submission (the default "
    "500 connections per listener), each greeted, then `EHLO` + `AUTH PLAIN` alice/wrong on all at "
    "once; at the same moment one delivery from 127.0.0.1 (EHLO, MAIL, RCPT bob, DATA, a 3-line "
    "message), step by step; the latency is from the end of DATA to its 250.",
    "**chatflood**: 100 flooders from 127.0.0.2 and one member from 127.0.0.1 in #lobby; each flooder "
    "sends lines of max_line_length - 95 bytes: `burst` at once, then 95% of `lines_per_second` "
    "(both read from the checkout's defaults) for 10 s; the member then has 2 s more to read. "
    "Run for every pair of: flooders never read / read 40 KiB/s / read everything; member reads "
    "everything at once / at most 1 MiB/s. Bytes in are what the server acknowledged on the flooders' "
    "sockets; bytes out to all clients what reached the probe's sockets (tcp_info, read or not); "
    "server wchar counts only the chat's direct `os.write` path (also to clients dropped later), "
    "not `send()` through Twisted's transport.",
]


REVIEW = {
    "bigpassword": "one 40 KB password: RSS to 1.5 GB for 6 s; three in parallel: 3.1 GB",
    "ehloflood": "RSS from 54 to 533 MiB, and it stayed after close; the connection is never closed",
    "loginburst": "chat: 299 wrong all checked (limit 10), the 300th, right one succeeded; submission: 50 of 50",
    "fdexhaust": "SMTP closed new connections without a greeting, POP3 stopped answering",
    "hashstarve": "every SMTP 250 delayed by 30 s",
    "chatflood": "35 MiB in, 3.5 GiB out in 10 s; the normally reading member dropped as a slow reader",
}


def markdown(report: dict[str, Any], label: str) -> str:
    m = report["machine"]
    lines = [f"# Security probes: {label}", "",
             "Generated by `scripts/security_probes.py` (issue 12): the outside review's probes, run",
             "from outside against a real `twistd -n mailsuite` on 127.0.0.1. Each probe starts its",
             "own server; memory is the twistd's VmRSS/VmHWM from `/proc/<pid>/status`.", "",
             f"- checkout measured: `{report['checkout']}` (commit `{report['commit']}`)",
             f"- machine: nproc {m.get('nproc')}, {m.get('cpu', '?')}, {m.get('memory_mib', '?')} MiB, "
             f"Linux {m.get('kernel')}, Python {m.get('python')}, Twisted {m.get('twisted', '?')}; "
             f"load average {m.get('loadavg'):.2f} at start, {report.get('loadavg_end', 0):.2f} at end",
             f"- date: {report['date']}; the run took {report['seconds']} s",
             "- reproduce: `" + report["command"] + "`", "",
             "The machine's cores are shared with other work: timings are of one run and noisy",
             "(the 1 s+ failure delay of the login policy is part of every failed-login reply).", ""]
    lines += ["What the review reported (issue 12), for comparison:", "",
              "| probe | the review |", "| --- | --- |"]
    lines += [f"| {name} | {text} |" for name, text in REVIEW.items() if name in report["probes"]]
    lines += ["", f"This run ({label}):", "", "| probe | measure | value |", "| --- | --- | --- |"]
    for name, result in report["probes"].items():
        for measure, value in rows(name, result):
            lines.append(f"| {name} | {measure} | {value} |")
    lines += ["", "## How each probe is set up", ""] + [f"- {text}" for text in SETUP]
    lines += ["", "## Raw results", "", "```json", json.dumps(report, indent=2, default=str), "```", ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    parser.add_argument("--checkout", default=ROOT,
                        help="the package checkout the twistd child runs (first on its PYTHONPATH)")
    parser.add_argument("--only", nargs="+", choices=sorted(PROBES), metavar="NAME",
                        help=f"run only these probes ({', '.join(PROBES)})")
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    parser.add_argument("--markdown", metavar="PATH", help="write the Markdown report here")
    parser.add_argument("--label", default="before", help="the report's title (before/after)")
    parser.add_argument("--keep", action="store_true", help="keep the servers' folders (and logs)")
    args = parser.parse_args(argv)
    if not os.path.isdir(os.path.join(args.checkout, "twisted_mail_suite")):
        parser.error(f"{args.checkout} holds no twisted_mail_suite package")
    # this process holds up to ~1,200 sockets at once (fdexhaust)
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < 4096:
        wanted = 4096 if hard == resource.RLIM_INFINITY else min(4096, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
    names = args.only or list(PROBES)
    harness = Harness(args.checkout, args.keep)
    began = time.monotonic()
    report: dict[str, Any] = {
        "label": args.label, "checkout": os.path.abspath(args.checkout), "commit": commitOf(args.checkout),
        "date": time.strftime("%Y-%m-%d %H:%M:%S %z"), "machine": machine(),
        "command": "PYTHONPATH=. python scripts/security_probes.py "
                   + " ".join(shlex.quote(a) for a in (sys.argv[1:] if argv is None else argv)),
        "probes": {},
    }
    try:
        report["defaults"] = {k: harness.defaults().get(k) for k in ("auth", "smtp", "submission", "pop3", "chat")}
        for name in names:
            if not args.json:
                print(f"{name} ...", file=sys.stderr, flush=True)
            report["probes"][name] = runProbe(harness, name)
            if not args.json:
                for measure, value in rows(name, report["probes"][name]):
                    print(f"  {measure}: {value}", file=sys.stderr, flush=True)
    finally:
        harness.cleanup()
    report["seconds"] = round(time.monotonic() - began, 1)
    report["loadavg_end"] = os.getloadavg()[0]
    if args.markdown:
        with open(args.markdown, "w", encoding="utf-8") as f:
            f.write(markdown(report, args.label))
    if args.json:
        print(json.dumps(report, indent=2, default=str))
    failed = [n for n, r in report["probes"].items() if r.get("status") != "ok"]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
