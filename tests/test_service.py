# -*- test-case-name: tests.test_service -*-
"""
Tests for the service assembly, the plugin and the twistd options.
"""
from __future__ import annotations

import os
import sys
from io import StringIO

from twisted.application.service import IServiceMaker
from twisted.internet.testing import MemoryReactorClock
from twisted.plugin import getPlugins
from twisted.trial.unittest import SynchronousTestCase

from twisted_mail_suite import tap
from twisted_mail_suite.config import configFromDict
from twisted_mail_suite.registry import PROTOCOLS
from twisted_mail_suite.service import makeService

from .fakes import makeConfig


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
        expected = [(entry.role, d) for entry in PROTOCOLS for d in getattr(config, entry.role).listen]
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
                            **{f"{entry.role}.listen": [] for entry in PROTOCOLS})
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
        config = configFromDict({"data_dir": dataDir, **{entry.role: {"listen": []} for entry in PROTOCOLS}})
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
