# -*- test-case-name: tests.test_config -*-
"""
Tests for L{twisted_mail_suite.config}: every error path names the file and
the key; precedence is defaults < file < overrides.
"""
from __future__ import annotations

import os

from twisted.trial.unittest import SynchronousTestCase

from twisted_mail_suite.config import configFromDict, configToDict, loadConfig, parseSize
from twisted_mail_suite.errors import ConfigError

from .fakes import writeConfigFile


class ParseSizeTests(SynchronousTestCase):
    def test_units(self) -> None:
        """
        Sizes take k/M/G suffixes with optional B or iB, in binary multiples.
        """
        self.assertEqual(parseSize("25MB"), 25 * 1024 * 1024)
        self.assertEqual(parseSize("4KiB"), 4096)
        self.assertEqual(parseSize("512k"), 512 * 1024)
        self.assertEqual(parseSize(1000), 1000)

    def test_rejects(self) -> None:
        """
        Words, negative numbers and booleans are not sizes.
        """
        for value in ("big", "-1", -5, True, "25 MBs", None):
            self.assertRaises(ValueError, parseSize, value)


class FileTests(SynchronousTestCase):
    def write(self, text: str) -> str:
        return writeConfigFile(self, text)

    def assertConfigError(self, text: str, expected: str) -> ConfigError:
        error = self.assertRaises(ConfigError, loadConfig, self.write(text))
        self.assertEqual(str(error), expected)
        return error

    def test_badSize(self) -> None:
        """
        An unparsable size names the file and the dotted key.
        """
        self.assertConfigError("smtp: {max_message_size: big}\n",
                               'tap.yaml: smtp.max_message_size: expected a size like 25MB, got "big"')

    def test_unknownKey(self) -> None:
        """
        An unknown key is an error, listing the known ones.
        """
        error = self.assertRaises(ConfigError, loadConfig, self.write("pop3: {listn: []}\n"))
        self.assertTrue(str(error).startswith("tap.yaml: pop3.listn: unknown key"))

    def test_duplicateKey(self) -> None:
        """
        A key given twice is an error, not a silent overwrite.
        """
        error = self.assertRaises(ConfigError, loadConfig, self.write("hostname: a\nhostname: b\n"))
        self.assertIn("duplicate key 'hostname'", str(error))

    def test_wrongType(self) -> None:
        """
        A string where a boolean belongs is an error.
        """
        self.assertConfigError("chat: {require_login: 'yes'}\n",
                               'tap.yaml: chat.require_login: expected true or false, got "yes"')

    def test_wrongInt(self) -> None:
        """
        A negative count is an error.
        """
        self.assertConfigError("smtp: {max_recipients: -1}\n",
                               "tap.yaml: smtp.max_recipients: expected a whole number >= 0, got -1")

    def test_badEndpoint(self) -> None:
        """
        An endpoint string that does not parse names its index.
        """
        error = self.assertRaises(ConfigError, loadConfig, self.write('pop3: {listen: ["tcp:nope"]}\n'))
        self.assertTrue(str(error).startswith('tap.yaml: pop3.listen[0]: expected an endpoint string'))

    def test_unknownEndpointType(self) -> None:
        """
        An unknown endpoint type is an error.
        """
        error = self.assertRaises(ConfigError, loadConfig, self.write('chat: {listen: ["carrier:7"]}\n'))
        self.assertIn("chat.listen[0]", str(error))

    def test_listenNotAList(self) -> None:
        """
        C{listen} must be a list, even for one endpoint.
        """
        error = self.assertRaises(ConfigError, loadConfig, self.write('smtp: {listen: "tcp:25"}\n'))
        self.assertIn("smtp.listen: expected a list", str(error))

    def test_sectionNotAMapping(self) -> None:
        """
        A section given as a scalar is an error.
        """
        self.assertConfigError("smtp: 5\n", "tap.yaml: smtp: expected a mapping, got 5")

    def test_badYAML(self) -> None:
        """
        Unparsable YAML is an error naming the file.
        """
        error = self.assertRaises(ConfigError, loadConfig, self.write("smtp: [\n"))
        self.assertTrue(str(error).startswith("tap.yaml: invalid YAML"))

    def test_missingFile(self) -> None:
        """
        A file that cannot be read is an error, not a traceback.
        """
        error = self.assertRaises(ConfigError, loadConfig, os.path.join(self.mktemp(), "tap.yaml"))
        self.assertIn("cannot read", str(error))

    def test_badAlias(self) -> None:
        """
        An alias must point at a user or a list of users.
        """
        self.assertConfigError("aliases: {postmaster: 3}\n",
                               "tap.yaml: aliases.postmaster: expected a user name or a list of user names, got 3")

    def test_badChoice(self) -> None:
        """
        C{bare_newline} is normalize or reject.
        """
        self.assertConfigError("smtp: {bare_newline: fix}\n",
                               'tap.yaml: smtp.bare_newline: expected normalize or reject, got "fix"')

    def test_shippedFileLoads(self) -> None:
        """
        The shipped tap.yaml is valid.
        """
        here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
        config = loadConfig(os.path.join(here, "tap.yaml"))
        self.assertEqual(config.smtp.listen, ("tcp:2525:interface=127.0.0.1",))
        self.assertEqual(config.smtp.max_message_size, 25 * 1024 * 1024)

    def test_precedence(self) -> None:
        """
        Built-in defaults < the file < overrides.
        """
        path = self.write("hostname: from.file\nsmtp: {max_recipients: 7}\n")
        config = loadConfig(path, {"smtp.max_recipients": 9})
        self.assertEqual(config.hostname, "from.file")
        self.assertEqual(config.smtp.max_recipients, 9)
        self.assertEqual(config.pop3.idle_timeout, 600.0)

    def test_overrideValidated(self) -> None:
        """
        Overrides go through the same validation.
        """
        error = self.assertRaises(ConfigError, loadConfig, self.write(""), {"smtp.listen": ["bogus:1"]})
        self.assertIn("smtp.listen[0]", str(error))

    def test_relativePaths(self) -> None:
        """
        Relative paths in the file are relative to the file's folder;
        the users file defaults to one inside data_dir.
        """
        path = self.write("data_dir: ./data\n")
        config = loadConfig(path)
        self.assertEqual(config.data_dir, os.path.join(os.path.dirname(path), "data"))
        self.assertEqual(config.usersFile, os.path.join(config.data_dir, "users.passwd"))


class InCodeTests(SynchronousTestCase):
    def test_fromDict(self) -> None:
        """
        A config can be built in code, without a file.
        """
        config = configFromDict({"domains": ["Example.ORG."], "chat": {"listen": []}})
        self.assertEqual(config.domains, ("example.org",))
        self.assertTrue(config.isLocalDomain("EXAMPLE.org"))
        self.assertEqual(config.chat.listen, ())

    def test_toDict(self) -> None:
        """
        The effective config round-trips through plain data.
        """
        config = configFromDict({"aliases": {"postmaster": "alice"}})
        plain = configToDict(config)
        self.assertEqual(plain["aliases"], {"postmaster": ["alice"]})
        self.assertEqual(configToDict(configFromDict(plain)), plain)
