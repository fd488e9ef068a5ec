# -*- test-case-name: tests.test_configfile -*-
"""
Tests for L{twisted_mail_suite.testing.configfile}, the one config writer of
tests, scripts and benchmarks.
"""
from __future__ import annotations

import os

from twisted.trial.unittest import SynchronousTestCase

from twisted_mail_suite.config import loadConfig
from twisted_mail_suite.testing.configfile import EPHEMERAL, prepareDirectory, suiteConfig, writeConfig
from twisted_mail_suite.registry import PROTOCOLS


class SuiteConfigTests(SynchronousTestCase):
    def test_everyRoleByDefault(self) -> None:
        """
        Every protocol of the registry listens on an ephemeral loopback
        port, but for the nested listeners (auth_http, which needs its
        secret): they listen when named.
        """
        raw = suiteConfig("data")
        plain = [entry for entry in PROTOCOLS if entry.section is None]
        self.assertEqual({entry.role: raw[entry.role]["listen"] for entry in plain},
                         {entry.role: [EPHEMERAL] for entry in plain})
        self.assertNotIn("proxy", raw)
        named = suiteConfig("data", roles=["auth_http"])
        self.assertEqual(named["proxy"], {"auth_http": {"listen": [EPHEMERAL]}})
        self.assertEqual(named["smtp"], {"listen": []})

    def test_rolesAndSections(self) -> None:
        """
        Roles left out get no listener; a section mapping is merged into
        the section, another value replaces the key.
        """
        raw = suiteConfig("data", roles=("pop3",), sections={"pop3": {"idle_timeout": 700}, "hostname": "h.test"})
        self.assertEqual(raw["smtp"], {"listen": []})
        self.assertEqual(raw["pop3"], {"listen": [EPHEMERAL], "idle_timeout": 700})
        self.assertEqual(raw["hostname"], "h.test")

    def test_writtenFileLoads(self) -> None:
        """
        The written file is a valid tap.yaml with the same values, and
        L{prepareDirectory} adds a users file whose passwords verify.
        """
        folder = os.path.abspath(self.mktemp())
        os.makedirs(folder)
        path = prepareDirectory(folder, {"alice": "pw"}, "SHA512-CRYPT", roles=("smtp",),
                                sections={"smtp": {"max_recipients": 7}})
        config = loadConfig(path)
        self.assertEqual(config.smtp.listen, (EPHEMERAL,))
        self.assertEqual(config.smtp.max_recipients, 7)
        self.assertEqual(config.pop3.listen, ())
        self.assertEqual(config.data_dir, os.path.join(folder, "data"))
        with open(config.usersFile) as f:
            self.assertTrue(f.read().startswith("alice:{SHA512-CRYPT}$6$"))

    def test_writeIntoFolder(self) -> None:
        """
        Given a folder, L{writeConfig} writes its C{tap.yaml}.
        """
        folder = os.path.abspath(self.mktemp())
        os.makedirs(folder)
        self.assertEqual(writeConfig(folder, {"hostname": "x.test"}), os.path.join(folder, "tap.yaml"))
        self.assertEqual(loadConfig(os.path.join(folder, "tap.yaml")).hostname, "x.test")
