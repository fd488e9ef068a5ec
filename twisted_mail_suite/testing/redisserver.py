# -*- test-case-name: tests.cluster.test_client -*-
"""
A private C{redis-server} for the tests, scripts and benchmarks: on a free
loopback port, in its own folder, nothing saved; stopped (and restarted on
the same port) by its own PID.  Blocking code, like L{process.SuiteProcess
<twisted_mail_suite.testing.process.SuiteProcess>}.
"""
from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time

__all__ = ["RedisServer", "redisServerPath"]


def redisServerPath() -> str | None:
    """
    The C{redis-server} binary (Debian's C{redis-server}), or L{None}.
    """
    return shutil.which("redis-server")


def _freePort() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class RedisServer:
    """
    One private C{redis-server}.

    @ivar port: its TCP port on 127.0.0.1 (kept across L{restart}).
    @ivar url: C{redis://127.0.0.1:PORT/0}, for C{cluster.redis}.
    """

    def __init__(self, directory: str | None = None) -> None:
        binary = redisServerPath()
        if binary is None:
            raise FileNotFoundError("redis-server is not installed (Debian package redis-server)")
        self._binary = binary
        self._own = directory is None
        self.directory = directory or tempfile.mkdtemp(prefix="mailsuite-redis-")
        self.port = _freePort()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen | None = None

    def start(self, timeout: float = 10.0) -> RedisServer:
        """
        Start it and wait until it answers PING.
        """
        log = open(os.path.join(self.directory, "redis.log"), "ab")
        self.process = subprocess.Popen(
            [self._binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", self.directory],
            stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, cwd=self.directory)
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"redis-server exited with {self.process.returncode}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1) as s:
                    s.sendall(b"PING\r\n")
                    if s.recv(16).startswith(b"+PONG"):
                        return self
            except OSError:
                pass
            time.sleep(0.02)
        self.stop()
        raise RuntimeError(f"redis-server did not answer on port {self.port} within {timeout} s")

    def stop(self, sig: int = signal.SIGTERM) -> None:
        """
        Stop it by its PID (C{sig}: SIGTERM, or SIGKILL for a crash).
        """
        process, self.process = self.process, None
        if process is None:
            return
        if process.poll() is None:
            os.kill(process.pid, sig)
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                os.kill(process.pid, signal.SIGKILL)
                process.wait()

    def restart(self) -> None:
        """
        Kill it and start it again on the same port (its data is gone).
        """
        self.stop(signal.SIGKILL)
        self.start()

    def close(self) -> None:
        """
        Stop it and remove its folder.
        """
        self.stop()
        if self._own:
            shutil.rmtree(self.directory, ignore_errors=True)
