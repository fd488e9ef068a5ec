# -*- test-case-name: tests.proxy.test_config -*-
"""
The C{proxy:} section.
"""
from __future__ import annotations

from typing import Any

from twisted.trial.unittest import SynchronousTestCase

from twisted_mail_suite.config import configFromDict
from twisted_mail_suite.errors import ConfigError


def proxy(**section: Any) -> Any:
    return configFromDict({"proxy": section}, "tap.yaml", baseDir="/etc/mailsuite").proxy


class ProxyConfigTests(SynchronousTestCase):
    def test_defaults(self) -> None:
        """
        Off by default: no listener, nobody trusted, no backends.
        """
        section = proxy()
        self.assertEqual((section.auth_http.listen, section.trusted, section.backends), ((), (), ()))
        self.assertFalse(section.isTrusted("127.0.0.1"))

    def test_trusted(self) -> None:
        """
        Addresses and networks, IPv4 also as IPv4-mapped IPv6.
        """
        section = proxy(trusted=["10.0.0.0/8", "::1", "192.0.2.1"])
        self.assertEqual(section.trusted, ("10.0.0.0/8", "::1/128", "192.0.2.1/32"))
        for host, trusted in [("10.2.3.4", True), ("::ffff:10.2.3.4", True), ("::1", True), ("192.0.2.2", False),
                              ("11.0.0.1", False), ("not-an-address", False)]:
            self.assertEqual(section.isTrusted(host), trusted, host)

    def test_backends(self) -> None:
        """
        Backends have a unique name, an IP address and ports (defaults:
        the standard ones).
        """
        section = proxy(backends=[{"name": "a", "host": "10.0.0.1", "smtp": 2525}])
        self.assertEqual((section.backends[0].port("smtp"), section.backends[0].port("imap")), (2525, 143))

    def test_secretNeeded(self) -> None:
        """
        A listener needs its secret file (resolved against the config's
        folder).
        """
        with self.assertRaises(ConfigError) as caught:
            proxy(auth_http={"listen": ["tcp:9143"]})
        self.assertIn("proxy.auth_http.secret_file", str(caught.exception))
        section = proxy(auth_http={"listen": ["tcp:9143"], "secret_file": "secret"})
        self.assertEqual(section.auth_http.secret_file, "/etc/mailsuite/secret")

    def test_bad(self) -> None:
        """
        Each bad value names its key.
        """
        for section, key in [
            ({"trusted": ["10.0.0.0/33"]}, "proxy.trusted[0]"),
            ({"trusted": "10.0.0.1"}, "proxy.trusted"),
            ({"backends": [{"name": "a", "host": "mail.example.test"}]}, "proxy.backends[0].host"),
            ({"backends": [{"name": "a", "host": "10.0.0.1"}, {"name": "a", "host": "10.0.0.2"}]},
             "proxy.backends[1].name"),
            ({"backends": [{"name": "a", "host": "10.0.0.1", "pop3": 70000}]}, "proxy.backends[0].pop3"),
            ({"backends": [{"name": "a", "host": "10.0.0.1", "lmtp": 24}]}, "proxy.backends[0]"),
            ({"auth_http": {"listen": ["nonsense:1"], "secret_file": "s"}}, "proxy.auth_http.listen[0]"),
            ({"auth_http": {"wait": -1}}, "proxy.auth_http.wait"),
        ]:
            with self.assertRaises(ConfigError, msg=key) as caught:
                proxy(**section)
            self.assertIn(f"{key}:", str(caught.exception))
