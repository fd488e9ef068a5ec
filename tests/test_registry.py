# -*- test-case-name: tests.test_registry -*-
"""
Tests for L{twisted_mail_suite.registry}: one record per protocol, from
which the plugin's options and the service are generated.
"""
from __future__ import annotations

import dataclasses

from twisted.trial.unittest import SynchronousTestCase

from twisted_mail_suite import tap
from twisted_mail_suite.config import Config
from twisted_mail_suite.errors import ConfigError
from twisted_mail_suite.registry import PROTOCOLS, ProtocolRecord, loadMaker, record


class RegistryTests(SynchronousTestCase):
    def test_everyRoleHasASection(self) -> None:
        """
        Each record's role names a section of the configuration with a
        C{listen} list.
        """
        sections = {f.name for f in dataclasses.fields(Config)}
        for entry in PROTOCOLS:
            self.assertIn(entry.role, sections)
            self.assertIsInstance(getattr(Config(), entry.role).listen, tuple)

    def test_everyMakerLoads(self) -> None:
        """
        Every record's factory maker can be imported.
        """
        for entry in PROTOCOLS:
            self.assertTrue(callable(loadMaker(entry)), entry.role)

    def test_missingMakerIsAConfigError(self) -> None:
        """
        A record whose module is missing is a configuration error naming
        the listener, not a silent "not listening".
        """
        entry = ProtocolRecord("imap", "twisted_mail_suite.nosuchprotocol:makeFactory", "IMAP")
        error = self.assertRaises(ConfigError, loadMaker, entry)
        self.assertEqual(error.key, "imap.listen")

    def test_lookup(self) -> None:
        """
        L{record} finds a role's record and raises L{KeyError} for others.
        """
        self.assertEqual(record("pop3").role, "pop3")
        self.assertRaises(KeyError, record, "gopher")

    def test_optionsGenerated(self) -> None:
        """
        The plugin has a repeatable C{--<role>} option for every record.
        """
        for entry in PROTOCOLS:
            options = tap.Options()
            options.parseOptions(["--config", "none", f"--{entry.role}", "tcp:1", f"--{entry.role}", "tcp:2"])
            self.assertEqual(options.overrides(), {f"{entry.role}.listen": ["tcp:1", "tcp:2"]})
