# -*- test-case-name: tests.store.test_postgres -*-
"""
A private PostgreSQL server for the tests and the benchmarks: C{initdb}
in a temporary folder, C{postgres} on a free loopback port with its socket
in that folder, stopped by its PID.  As root, both run as an unprivileged
user (C{nobody} unless told) who owns the folder, as PostgreSQL requires.

Blocking code, no reactor, like L{twisted_mail_suite.testing.process}.
"""
from __future__ import annotations

import glob
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time

__all__ = ["PostgresServer", "findBinaries"]


def findBinaries() -> str | None:
    """
    The folder holding C{initdb} and C{postgres}: on the C{PATH}, or in
    Debian's versioned folder; L{None} if they are not installed.
    """
    initdb = shutil.which("initdb")
    if initdb and shutil.which("postgres"):
        return os.path.dirname(initdb)
    for folder in sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True):
        if os.path.exists(os.path.join(folder, "initdb")) and os.path.exists(os.path.join(folder, "postgres")):
            return folder
    return None


def _freePort() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PostgresServer:
    """
    @param user: who runs the server when we are root.
    @param settings: extra C{-c name=value} settings.
    """

    def __init__(self, user: str = "nobody", settings: dict[str, str] | None = None) -> None:
        binaries = findBinaries()
        if binaries is None:
            raise FileNotFoundError("PostgreSQL (initdb, postgres) is not installed")
        self.binaries = binaries
        self.settings = {"max_connections": "100", "shared_buffers": "32MB", **(settings or {})}
        self.folder = tempfile.mkdtemp(prefix="mailsuite-pg-")
        self.data = os.path.join(self.folder, "data")
        self.port = _freePort()
        self.process: subprocess.Popen | None = None
        self._ids: tuple[int, int] | None = None
        if os.geteuid() == 0:
            entry = pwd.getpwnam(user)
            self._ids = (entry.pw_uid, entry.pw_gid)
            os.chown(self.folder, *self._ids)

    def _run(self, arguments: list[str], **kwargs: object) -> subprocess.Popen:
        if self._ids is not None:
            kwargs.update(user=self._ids[0], group=self._ids[1], extra_groups=[])
        return subprocess.Popen([os.path.join(self.binaries, arguments[0]), *arguments[1:]],  # type: ignore
                                cwd=self.folder, **kwargs)

    def start(self, timeout: float = 60.0) -> None:
        """
        Make the cluster and start the server; return once it answers.
        """
        with open(os.path.join(self.folder, "initdb.log"), "wb") as log:
            initdb = self._run(["initdb", "-D", self.data, "-A", "trust", "-U", "mailsuite", "--no-sync",
                                "-E", "UTF8", "--locale=C"], stdout=log, stderr=subprocess.STDOUT)
            if initdb.wait(timeout) != 0:
                raise RuntimeError(f"initdb failed: {self._tail('initdb.log')}")
        settings = [a for name, value in self.settings.items() for a in ("-c", f"{name}={value}")]
        log = open(os.path.join(self.folder, "postgres.log"), "wb")  # noqa: SIM115 - the child's
        self.process = self._run(["postgres", "-D", self.data, "-k", self.folder, "-p", str(self.port),
                                  "-h", "127.0.0.1", *settings], stdout=log, stderr=subprocess.STDOUT)
        log.close()
        self._waitReady(timeout)

    def _waitReady(self, timeout: float) -> None:
        import psycopg

        deadline = time.monotonic() + timeout
        while True:
            assert self.process is not None
            if self.process.poll() is not None:
                raise RuntimeError(f"postgres exited: {self._tail('postgres.log')}")
            try:
                psycopg.connect(self.url("postgres"), connect_timeout=2).close()
                return
            except psycopg.OperationalError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    def _tail(self, name: str) -> str:
        try:
            with open(os.path.join(self.folder, name), "rb") as f:
                return f.read()[-2000:].decode("utf-8", "replace")
        except OSError:
            return ""

    def url(self, database: str = "mailsuite") -> str:
        return f"postgresql://mailsuite@127.0.0.1:{self.port}/{database}"

    def createDatabase(self, name: str) -> str:
        """
        Make an empty database C{name}; return its URL.
        """
        import psycopg

        with psycopg.connect(self.url("postgres"), autocommit=True) as connection:
            connection.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def stop(self, timeout: float = 30.0) -> None:
        """
        Stop the server by its PID (fast shutdown, then SIGKILL), remove
        its folder.
        """
        process, self.process = self.process, None
        if process is not None and process.poll() is None:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        shutil.rmtree(self.folder, ignore_errors=True)
