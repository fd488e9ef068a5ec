# -*- test-case-name: tests.test_service -*-
"""
Tests for the service assembly, the plugin and the twistd options.
"""
from __future__ import annotations

import os
import sys
from io import StringIO
from typing import Any

from twisted.application.service import IServiceMaker
from twisted.internet.testing import MemoryReactorClock
from twisted.plugin import getPlugins
from twisted.trial.unittest import SynchronousTestCase

from twisted_mail_suite import tap
from twisted_mail_suite.config import configFromDict
from twisted_mail_suite.errors import ConfigError
from twisted_mail_suite.net.admission import RESERVED_FILES, BudgetError
from twisted_mail_suite.registry import PROTOCOLS, sectionOf
from twisted_mail_suite.service import makeService

from .fakes import makeConfig, makeSuite, peerTransport


class AssemblyTests(SynchronousTestCase):
    def test_oneChildPerEndpoint(self) -> None:
        """
        Every listen string of every available protocol becomes a named
        child listening on the reactor, and all share one portal.
        """
        config = makeConfig(os.path.abspath(self.mktemp()), **{
            "smtp.listen": ["tcp:2525:interface=127.0.0.1", "tcp:2526"],
            "submission.listen": ["tcp:2587"], "pop3.listen": ["tcp:1110"],
            "chat.listen": ["tcp:7000"]})
        reactor = MemoryReactorClock()
        suite = makeService(config, reactor)
        suite.privilegedStartService()
        suite.startService()
        self.addCleanup(suite.stopService)
        expected = [(entry.role, d) for entry in PROTOCOLS for d in sectionOf(config, entry).listen]
        self.assertEqual([(listener.role, listener.description) for listener in suite.listeners], expected)
        ports = sorted(port for port, *_ in reactor.tcpServers)
        self.assertEqual(ports, sorted(int(d.split(":")[1]) for _, d in expected))
        for listener in suite.listeners:
            self.assertIs(suite.getServiceNamed(f"{listener.role} {listener.description}"), listener)

    def test_emptyListenTurnsOff(self) -> None:
        """
        An empty listen list starts nothing for that protocol.
        """
        config = makeConfig(os.path.abspath(self.mktemp()),
                            **{f"{entry.sectionPath}.listen": [] for entry in PROTOCOLS})
        reactor = MemoryReactorClock()
        suite = makeService(config, reactor)
        suite.privilegedStartService()
        suite.startService()
        self.addCleanup(suite.stopService)
        self.assertEqual(reactor.tcpServers, [])

    def test_selfSignedCertificateReused(self) -> None:
        """
        Without a configured pair a certificate is generated once into
        data_dir at start (building the service does no I/O) and reused by
        the next start.
        """
        dataDir = os.path.abspath(self.mktemp())
        config = configFromDict({"data_dir": dataDir}, overrides={f"{entry.sectionPath}.listen": []
                                                                  for entry in PROTOCOLS})
        first = makeService(config, MemoryReactorClock())
        self.assertFalse(os.path.exists(dataDir))
        first.privilegedStartService()
        first.startService()
        self.addCleanup(first.stopService)
        with open(first.certPath, "rb") as f:
            pem = f.read()
        second = makeService(config, MemoryReactorClock())
        second.privilegedStartService()
        with open(second.certPath, "rb") as f:
            self.assertEqual(f.read(), pem)
        self.assertEqual(os.stat(second.tls.keyPath).st_mode & 0o777, 0o600)

    def test_sslEndpointGetsCertificate(self) -> None:
        """
        An C{ssl:} listen string without key options is given ours.
        """
        config = makeConfig(os.path.abspath(self.mktemp()), **{
            "smtp.listen": ["ssl:4650:interface=127.0.0.1"], "submission.listen": [],
            "pop3.listen": [], "chat.listen": []})
        reactor = MemoryReactorClock()
        suite = makeService(config, reactor)
        if "smtp" not in suite.factories:
            raise self.skipTest("SMTP not built yet")
        suite.privilegedStartService()
        suite.startService()
        self.addCleanup(suite.stopService)
        self.assertEqual([port for port, *_ in reactor.sslServers], [4650])


class PluginTests(SynchronousTestCase):
    def test_found(self) -> None:
        """
        twistd finds the C{mailsuite} plugin.
        """
        import twisted.plugins

        makers = {maker.tapname: maker for maker in getPlugins(IServiceMaker, twisted.plugins)}
        self.assertIn("mailsuite", makers)
        self.assertIs(makers["mailsuite"].options, tap.Options)

    def test_badConfigExitsTwo(self) -> None:
        """
        A bad config exits with status 2 and names the key on stderr.
        """
        folder = os.path.abspath(self.mktemp())
        os.makedirs(folder)
        path = os.path.join(folder, "bad.yaml")
        with open(path, "w") as f:
            f.write("smtp: {max_message_size: big}\n")
        options = tap.Options()
        options.parseOptions(["--config", path])
        stderr = StringIO()
        self.patch(sys, "stderr", stderr)
        error = self.assertRaises(SystemExit, tap.makeService, options)
        self.assertEqual(error.code, 2)
        self.assertEqual(stderr.getvalue(),
                         'bad.yaml: smtp.max_message_size: expected a size like 25MB, got "big"\n')

    def test_optionsOverride(self) -> None:
        """
        Command-line options win over the file.
        """
        options = tap.Options()
        options.parseOptions(["--config", "none", "--hostname", "cli.test", "--smtp", "tcp:2600",
                              "--smtp", "tcp:2601", "--pop3", "none", "--allow-plaintext-auth"])
        self.assertEqual(options.overrides(), {
            "hostname": "cli.test", "allow_plaintext_auth": True,
            "smtp.listen": ["tcp:2600", "tcp:2601"], "pop3.listen": []})


class ConnectionBudgetTests(SynchronousTestCase):
    """
    One connection budget for the whole process, sized at start from
    C{RLIMIT_NOFILE} (issue 12, item 4).
    """

    def suite(self, fileLimit: tuple[int, int], **overrides: object) -> Any:
        config = makeConfig(os.path.abspath(self.mktemp()), **overrides)
        return makeService(config, MemoryReactorClock(), fileLimit=lambda: fileLimit)

    def test_startSizesBudget(self) -> None:
        """
        At start the budget gets what the file limit holds beside the
        process's own descriptors and the message files.
        """
        suite = self.suite((1024, 1024))
        suite.privilegedStartService()
        suite.startService()
        self.addCleanup(suite.stopService)
        self.assertEqual(suite.budget.limit, 1024 - RESERVED_FILES - 400)   # SMTP, submission, POP3, IMAP: 100 files each
        self.assertIs(suite.parts.budget, suite.budget)

    def test_startRefusesLimitsBeyondFileLimit(self) -> None:
        """
        Limits the file limit cannot hold stop the start before any port is
        bound, with a config error naming the key.
        """
        suite = self.suite((1024, 1024), **{"chat.max_connections": 5000})
        error = self.assertRaises(BudgetError, suite.privilegedStartService)
        self.assertIsInstance(error, ConfigError)
        self.assertEqual(error.key, "chat.max_connections")
        self.assertEqual(suite.reactor.tcpServers, [])

    def test_tapExitsTwo(self) -> None:
        """
        twistd exits with status 2 and says why when the configured budget
        cannot be held by the process's file descriptors.
        """
        folder = os.path.abspath(self.mktemp())
        os.makedirs(folder)
        path = os.path.join(folder, "tap.yaml")
        with open(path, "w") as f:
            f.write(f"data_dir: {folder}\nmax_connections: 1000000000000\n")
        options = tap.Options()
        options.parseOptions(["--config", path])
        stderr = StringIO()
        self.patch(sys, "stderr", stderr)
        error = self.assertRaises(SystemExit, tap.makeService, options)
        self.assertEqual(error.code, 2)
        self.assertTrue(stderr.getvalue().startswith("RLIMIT_NOFILE: max_connections: 1000000000000 connections"),
                        stderr.getvalue())

    def test_perAddressDefaults(self) -> None:
        """
        By default one address may hold 20 SMTP, 10 submission, 10 POP3
        and 10 chat connections; the next is refused politely.
        """
        suite = makeSuite(self)
        refusals = {}
        for role, limit in (("smtp", 20), ("submission", 10), ("pop3", 10), ("chat", 10)):
            for _ in range(limit):
                connect(suite, role, "192.0.2.1")
            refusals[role] = connect(suite, role, "192.0.2.1")
        self.assertEqual(refusals, {
            "smtp": b"421 4.7.0 mx.example.test Too many connections, try again later\r\n",
            "submission": b"421 4.7.0 mx.example.test Too many connections, try again later\r\n",
            "pop3": b"-ERR [SYS/TEMP] Too many connections, try again later.\r\n",
            "chat": b"!!! too many connections from your address\n",
        })

    def test_spentBudgetRefusedPolitely(self) -> None:
        """
        Once the process's budget is spent, a new connection of any
        protocol gets that protocol's "too many connections" reply, never
        a silent close.
        """
        suite = makeSuite(self)
        suite.budget.limit = 3
        for role in ("chat", "smtp", "pop3"):
            connect(suite, role, "192.0.2.1")
        replies = {role: connect(suite, role, "192.0.2.2") for role in ("chat", "smtp", "pop3", "submission")}
        self.assertEqual(replies, {
            "chat": b"!!! too many connections, try again later\n",
            "smtp": b"421 4.7.0 mx.example.test Too many connections, try again later\r\n",
            "submission": b"421 4.7.0 mx.example.test Too many connections, try again later\r\n",
            "pop3": b"-ERR [SYS/TEMP] Too many connections, try again later.\r\n",
        })


def connect(suite: Any, role: str, host: str) -> bytes:
    """
    Connect to C{suite}'s C{role} factory from C{host}; return the first
    bytes it wrote.
    """
    transport = peerTransport(host)
    protocol = suite.factories[role].buildProtocol(transport.getPeer())
    protocol.makeConnection(transport)
    return transport.value()  # type: ignore[no-any-return]
