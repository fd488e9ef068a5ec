# -*- test-case-name: tests.test_service -*-
"""
The twistd plugin's options and service (the process's reactor comes from
L{twisted_mail_suite.reactor}, the one module that names it).  A bad configuration exits with status 2 before any port is
bound.
"""
from __future__ import annotations

import os
import signal
import sys
from typing import Any

from twisted.logger import Logger
from twisted.python import usage

from .config import loadConfig
from .errors import ConfigError
from .logobserver import TWISTD_LOGGER, twistdLogger
from .reactor import globalReactor
from .registry import PROTOCOLS, ProtocolRecord, record
from .workers import WorkerSupervisor, watchParent, workerSettings

log = Logger()


class Options(usage.Options):
    synopsis = "[--config tap.yaml] [options]"
    longdesc = "Run the servers of twisted-mail-suite: " + ", ".join(r.role for r in PROTOCOLS) + "."
    optParameters = [
        ["config", "c", "tap.yaml", "The configuration file (YAML); 'none' for built-in defaults."],
        ["data-dir", "d", None, "Override data_dir."],
        ["hostname", None, None, "Override hostname."],
    ]
    optFlags = [["allow-plaintext-auth", None, "Accept plaintext passwords from any address."]]

    def __init__(self) -> None:
        super().__init__()
        self["listen"] = {}

    def _listen(self, role: str, value: str) -> None:
        self["listen"].setdefault(role, []).append(value)

    def postOptions(self) -> None:
        """
        Under twistd (C{self.parent}: its options), log through the suite's
        cheaper observer (L{twistdLogger}: the same lines, where twistd
        would write them), unless C{--logger} or C{--syslog} says
        otherwise.
        """
        parent = getattr(self, "parent", None)
        if parent is not None and twistdLogger.use(parent):
            parent["logger"] = TWISTD_LOGGER

    def overrides(self) -> dict[str, Any]:
        result: dict[str, Any] = {}
        if self["data-dir"]:
            result["data_dir"] = self["data-dir"]
        if self["hostname"]:
            result["hostname"] = self["hostname"]
        if self["allow-plaintext-auth"]:
            result["allow_plaintext_auth"] = True
        for role, endpoints in self["listen"].items():
            result[f"{record(role).sectionPath}.listen"] = [e for e in endpoints if e != "none"]
        return result


def _listenOption(entry: ProtocolRecord) -> Any:
    def option(self: Options, value: str) -> None:
        self._listen(entry.role, value)

    option.__doc__ = (f"Listen for {entry.summary} on this endpoint (repeatable; replaces "
                      f"{entry.sectionPath}.listen; 'none': off).")
    return option


for _record in PROTOCOLS:
    setattr(Options, f"opt_{_record.role}", _listenOption(_record))
del _record


def makeService(options: Options) -> Any:
    from .service import makeService as buildService

    path = None if options["config"] == "none" else options["config"]
    try:
        config = loadConfig(path, options.overrides())
    except ConfigError as e:
        sys.stderr.write(f"{e}\n")
        raise SystemExit(2) from None
    reactor = globalReactor()
    worker = workerSettings(os.environ)
    if config.workers > 1 and worker is None:      # the supervisor of the workers: docs/scaling.md
        supervisor = WorkerSupervisor(config, path, options.overrides(), reactor)
        reactor.callWhenRunning(signal.signal, signal.SIGHUP,  # type: ignore[attr-defined]
                                lambda signum, frame: reactor.callFromThread(supervisor.signalWorkers, signum))
        return supervisor
    if worker is not None:
        config = loadConfig(path, {**options.overrides(), **worker["overrides"]})
        watchParent(reactor, worker["parent"])
    try:
        service = buildService(config, reactor, inherited=worker["inherited"] if worker else None,
                               worker=worker["index"] if worker else 0)
        service.fitConnections()            # the connection limits fit in RLIMIT_NOFILE
    except ConfigError as e:
        sys.stderr.write(f"{e}\n")
        raise SystemExit(2) from None
    users = service.users
    if hasattr(users, "reload") and hasattr(signal, "SIGHUP"):
        def onHangup(signum: int, frame: object) -> None:
            reactor.callFromThread(users.reload)   # type: ignore[attr-defined]
            log.info("SIGHUP: users file reloaded")
        reactor.callWhenRunning(signal.signal, signal.SIGHUP, onHangup)  # type: ignore[attr-defined]
    return service
