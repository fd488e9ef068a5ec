# -*- test-case-name: tests.reliability.test_crash -*-
"""
A real C{twistd -n mailsuite} in a child process, for the reliability
scripts: a fresh data directory with users, start (waiting for the ready
line and learning the ports it bound), SIGKILL, SIGTERM, restart, and the
memory figures of the child from C{/proc/<pid>/status}.

Blocking code (threads and subprocess), no reactor: the scripts that use
it drive their clients however they like.  Every process started here is
stopped by its own PID.
"""
from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from typing import Any, Mapping

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
READY = b"twisted-mail-suite ready"
LISTENING = re.compile(rb"(\w+) listening on 127\.0\.0\.1:(\d+)")
TWISTD = "import sys; from twisted.scripts.twistd import run; sys.argv[0] = 'twistd'; run()"

USERS = {"alice": "alice-pw", "bob": "bob-pw", "carol": "carol-pw"}


def _yamlValue(value: Any) -> str:
    import json

    return json.dumps(value)     # JSON is YAML


def writeConfig(workDir: str, sections: Mapping[str, Any] | None = None,
                users: Mapping[str, str] = USERS) -> str:
    """
    Write C{workDir/tap.yaml} (every listener on port 0 of 127.0.0.1 unless
    C{sections} says otherwise) and a users file; return the config path.
    """
    from twisted_mail_suite.identity import hashing, passwd

    os.makedirs(os.path.join(workDir, "data"), exist_ok=True)
    listen = ["tcp:0:interface=127.0.0.1"]
    raw: dict[str, Any] = {
        "hostname": "mx.example.test",
        "domains": ["example.test", "localhost"],
        "data_dir": "./data",
        "smtp": {"listen": listen},
        "submission": {"listen": []},
        "pop3": {"listen": listen},
        "chat": {"listen": listen},
    }
    for key, value in (sections or {}).items():
        if isinstance(value, dict) and isinstance(raw.get(key), dict):
            raw[key] = {**raw[key], **value}
        else:
            raw[key] = value
    path = os.path.join(workDir, "tap.yaml")
    with open(path, "w", encoding="utf-8") as f:
        for key, value in raw.items():
            f.write(f"{key}: {_yamlValue(value)}\n")
    usersFile = os.path.join(workDir, "data", "users.passwd")
    for name, password in users.items():
        passwd.setUserPassword(usersFile, name, hashing.hashPassword(password, "SHA512-CRYPT"))
    return path


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

    @ivar ports: role -> port, from the log of the current child.
    @ivar output: everything the current child printed.
    """

    def __init__(self, configPath: str, env: Mapping[str, str] | None = None) -> None:
        self.configPath = configPath
        self.env = {**os.environ, "PYTHONPATH": ROOT, **(env or {})}
        self.process: subprocess.Popen | None = None
        self.output = b""
        self.ports: dict[str, int] = {}
        self.starts = 0
        self._ready = threading.Event()
        self._reader: threading.Thread | None = None

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def start(self, timeout: float = 60.0) -> float:
        """
        Start the child and wait for its ready line.

        @return: seconds it took.
        """
        assert self.process is None or self.process.poll() is not None, "already running"
        began = time.monotonic()
        self.output = b""
        self.ports = {}
        self._ready.clear()
        self.process = subprocess.Popen(
            [sys.executable, "-c", TWISTD, "-n", "--pidfile=", "mailsuite", "--config", self.configPath],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=self.env,
            cwd=os.path.dirname(self.configPath))
        self._reader = threading.Thread(target=self._read, args=(self.process,), daemon=True)
        self._reader.start()
        if not self._ready.wait(timeout) or self.process.poll() is not None:
            self.kill()
            raise RuntimeError("mailsuite did not start:\n" + self.output.decode("utf-8", "replace")[-3000:])
        self.starts += 1
        return time.monotonic() - began

    def _read(self, process: subprocess.Popen) -> None:
        assert process.stdout is not None
        for line in iter(process.stdout.readline, b""):
            if process is not self.process:
                break
            self.output += line
            match = LISTENING.search(line)
            if match:
                self.ports[match.group(1).decode()] = int(match.group(2))
            if READY in line:
                self._ready.set()
        process.stdout.close()

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
        os.kill(self.process.pid, signal.SIGTERM)
        try:
            status: int | None = self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            status = None
            self.kill()
        self._reap()
        return time.monotonic() - began, status

    def _reap(self) -> None:
        if self.process is not None:
            self.process.wait()
        if self._reader is not None:
            self._reader.join(5)
            self._reader = None

    def memory(self) -> dict[str, int]:
        return memory(self.pid)

    def __enter__(self) -> "SuiteProcess":
        return self

    def __exit__(self, *exc: object) -> None:
        self.kill()
