# -*- test-case-name: tests.integration.test_twistd -*-
"""
The one child-process launcher for a real C{twistd -n mailsuite}, shared
by the tests, the reliability scripts and the benchmarks: start (waiting
for the ready line and learning the ports it bound from its log), SIGKILL,
SIGTERM, restart, and the memory figures of the child from C{/proc}.

Blocking code (a reader thread and C{subprocess}), no reactor, so that
scripts and benchmarks drive their clients however they like; a trial
test runs the blocking calls with C{deferToThread}.  Every process started
here is stopped by its own PID.
"""
from __future__ import annotations

import os
import re
import resource
import signal
import subprocess
import sys
import threading
import time
from typing import Mapping, Sequence

__all__ = ["SuiteProcess", "READY", "memory", "openFiles"]

READY = b"twisted-mail-suite ready"
LISTENING = re.compile(rb"([\w-]+) listening on \[?([0-9a-fA-F.:]+)\]?:(\d+)")
TWISTD = "import sys; from twisted.scripts.twistd import run; sys.argv[0] = 'twistd'; run()"


def memory(pid: int) -> dict[str, int]:
    """
    C{VmRSS} and C{VmHWM} (peak) of C{pid} in KiB, from C{/proc}.
    """
    result = {}
    with open(f"/proc/{pid}/status", encoding="ascii") as f:
        for line in f:
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                result[key] = int(value.split()[0])
    return result


def openFiles(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


class SuiteProcess:
    """
    One C{twistd -n mailsuite --config PATH} child at a time.

    @param configPath: the tap.yaml; the child runs in its folder (or in
        C{cwd}).
    @param arguments: extra twistd arguments before C{mailsuite} (for
        example C{["-l", "twistd.log"]}); the ready line and ports are then
        read from that log file instead of the child's output.
    @param env: added to this process's environment.
    @param pythonPath: put first on the child's C{PYTHONPATH} (a checkout).
    @param application: what twistd runs, instead of C{mailsuite --config
        configPath} (e.g. C{["-y", "app.tac"]}, with C{configPath=None}).
    @param ready: the log line that says the child is ready.
    @param nofile: if given, the child's C{RLIMIT_NOFILE}, soft and hard
        (set before it runs, so it cannot raise it again).
    @ivar ports: role -> port, from the log of the current child.
    @ivar output: everything the current child printed.
    """

    def __init__(self, configPath: str | None, env: Mapping[str, str] | None = None,
                 arguments: Sequence[str] = (), pythonPath: str | None = None,
                 name: str = "ours", application: Sequence[str] | None = None,
                 cwd: str | None = None, ready: bytes = READY, nofile: int | None = None) -> None:
        self.configPath = os.path.abspath(configPath) if configPath else None
        self.application = list(application) if application is not None else \
            ["mailsuite", "--config", self.configPath or "none"]
        self.cwd = cwd or (os.path.dirname(self.configPath) if self.configPath else os.getcwd())
        self.readyMarker = ready
        self.name = name
        self.arguments = list(arguments)
        environment = dict(os.environ)
        if pythonPath:
            environment["PYTHONPATH"] = os.pathsep.join(
                p for p in (pythonPath, environment.get("PYTHONPATH")) if p)
        self.env = {**environment, **(env or {})}
        self.nofile = nofile
        self.process: subprocess.Popen | None = None
        self.output = b""
        self.ports: dict[str, int] = {}
        self.starts = 0
        self._ready = threading.Event()
        self._reader: threading.Thread | None = None

    @property
    def folder(self) -> str:
        """
        Where the child runs (by default the config file's folder).
        """
        return self.cwd

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def command(self) -> list[str]:
        return [sys.executable, "-c", TWISTD, "-n", "--pidfile=", *self.arguments, *self.application]

    def start(self, timeout: float = 60.0) -> float:
        """
        Start the child and wait for its ready line.

        @return: seconds it took.
        @raise RuntimeError: with the child's output, if it exits or is
            not ready within C{timeout} seconds (it is killed then).
        """
        assert self.process is None or self.process.poll() is not None, "already running"
        began = time.monotonic()
        self.output = b""
        self.ports = {}
        self._ready.clear()
        self.process = subprocess.Popen(
            self.command(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL, env=self.env, cwd=self.folder,
            preexec_fn=self._limitFiles if self.nofile is not None else None)
        self._reader = threading.Thread(target=self._read, args=(self.process,), daemon=True)
        self._reader.start()
        logFile = self._logFile()
        deadline = began + timeout
        while not self._ready.wait(0.05):
            if logFile is not None:
                self._scanLog(logFile)
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.kill()
                raise RuntimeError("mailsuite did not start:\n" + self.output.decode("utf-8", "replace")[-3000:])
        self.starts += 1
        return time.monotonic() - began

    def _limitFiles(self) -> None:
        # Runs in the forked child, just before it execs twistd.
        resource.setrlimit(resource.RLIMIT_NOFILE, (self.nofile, self.nofile))

    def _logFile(self) -> str | None:
        if "-l" in self.arguments:
            path = self.arguments[self.arguments.index("-l") + 1]
            return os.path.join(self.folder, path)
        return None

    def _scanLog(self, path: str) -> None:
        try:
            with open(path, "rb") as f:
                self._scan(f.read())
        except FileNotFoundError:
            pass

    def _scan(self, text: bytes) -> None:
        for match in LISTENING.finditer(text):
            self.ports.setdefault(match.group(1).decode(), int(match.group(3)))
        if self.readyMarker in text:
            self._ready.set()

    def _read(self, process: subprocess.Popen) -> None:
        assert process.stdout is not None
        for line in iter(process.stdout.readline, b""):
            if process is not self.process:
                break
            self.output += line
            self._scan(line)
        process.stdout.close()

    def wait(self, timeout: float | None = None) -> int | None:
        """
        Wait for the child to exit.

        @return: its exit status (negative: killed by that signal).
        """
        assert self.process is not None
        status = self.process.wait(timeout)
        self._reap()
        return status

    def kill(self) -> None:
        """
        SIGKILL the child (by its PID) and reap it.
        """
        if self.process is not None and self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGKILL)
        self._reap()

    def terminate(self, timeout: float = 30.0) -> tuple[float, int | None]:
        """
        SIGTERM the child and wait for it to exit.

        @return: (seconds until it exited, exit status); on timeout it is
            killed and the status is L{None}.
        """
        assert self.process is not None
        began = time.monotonic()
        if self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGTERM)
        try:
            status: int | None = self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            status = None
            self.kill()
        self._reap()
        return time.monotonic() - began, status

    stop = terminate

    def _reap(self) -> None:
        if self.process is not None:
            self.process.wait()
        if self._reader is not None and self._reader is not threading.current_thread():
            self._reader.join(5)
            self._reader = None

    def memory(self) -> dict[str, int]:
        return memory(self.pid)

    def __enter__(self) -> "SuiteProcess":
        return self

    def __exit__(self, *exc: object) -> None:
        self.kill()
