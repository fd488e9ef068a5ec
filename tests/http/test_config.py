# -*- test-case-name: tests.http.test_config -*-
"""
The C{http:} section: off by default, its keys validated with errors that
name the key, its endpoints checked like every listener's.
"""
from __future__ import annotations

from twisted.trial.unittest import SynchronousTestCase

from twisted_mail_suite.config import configFromDict
from twisted_mail_suite.errors import ConfigError


class HTTPConfigTests(SynchronousTestCase):
    def test_offByDefault(self) -> None:
        """
        Without an http section nothing listens; the limits have defaults.
        """
        config = configFromDict({})
        self.assertEqual((config.http.listen, config.http.admins), ((), ()))
        self.assertEqual((config.http.max_header_size, config.http.max_body_size), (16384, 1048576))

    def test_values(self) -> None:
        """
        listen, admins (lower-cased) and the limits are read.
        """
        config = configFromDict({"http": {"listen": ["tcp:8080:interface=127.0.0.1"], "admins": ["Alice"],
                                          "request_timeout": 5, "max_wait": 60}})
        self.assertEqual(config.http.listen, ("tcp:8080:interface=127.0.0.1",))
        self.assertEqual(config.http.admins, ("alice",))
        self.assertEqual((config.http.request_timeout, config.http.max_wait), (5.0, 60.0))

    def test_errorsNameTheKey(self) -> None:
        """
        Bad values are config errors naming the key.
        """
        for raw, key in (({"listen": ["bogus:1"]}, "http.listen[0]"), ({"listen": "tcp:80"}, "http.listen"),
                         ({"admins": "alice"}, "http.admins"), ({"request_timeout": 0}, "http.request_timeout"),
                         ({"max_body_size": 10}, "http.max_body_size"), ({"colour": "red"}, "http.colour")):
            error = self.assertRaises(ConfigError, configFromDict, {"http": raw}, "tap.yaml")
            self.assertEqual(error.key, key, raw)
