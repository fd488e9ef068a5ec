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
from twisted_mail_suite.registry import PROTOCOLS, ProtocolRecord, loadMaker, record, sectionOf


class RegistryTests(SynchronousTestCase):
    def test_everyRoleHasASection(self) -> None:
        """
        Each record's role (or its dotted section, C{proxy.auth_http})
        names a section of the configuration with a C{listen} list.
        """
        sections = {f.name for f in dataclasses.fields(Config)}
        for entry in PROTOCOLS:
            self.assertIn(entry.sectionPath.split(".")[0], sections)
            self.assertIsInstance(sectionOf(Config(), entry).listen, tuple)
        self.assertEqual(record("auth_http").sectionPath, "proxy.auth_http")

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
        The plugin has a repeatable C{--<role>} option for every record
        (C{--auth-http}: Twisted spells underscores as dashes), which
        replaces the listen list of the record's section.
        """
        for entry in PROTOCOLS:
            options = tap.Options()
            flag = f"--{entry.role.replace('_', '-')}"
            options.parseOptions(["--config", "none", flag, "tcp:1", flag, "tcp:2"])
            self.assertEqual(options.overrides(), {f"{entry.sectionPath}.listen": ["tcp:1", "tcp:2"]})
