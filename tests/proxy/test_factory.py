# -*- test-case-name: tests.proxy.test_factory -*-
"""
The auth_http listener over real loopback HTTP (Twisted's Agent as the
client, as nginx would ask).
"""
from __future__ import annotations

import os
from typing import Any

from twisted.internet import reactor
from twisted.internet.defer import inlineCallbacks
from twisted.trial.unittest import TestCase
from twisted.web.client import Agent, readBody
from twisted.web.http_headers import Headers

from twisted_mail_suite.errors import ConfigError
from twisted_mail_suite.proxy.factory import makeFactory, readSecret

from ..fakes import makeSuite


class AuthHTTPListenerTests(TestCase):
    timeout = 20

    def setUp(self) -> None:
        folder = os.path.abspath(self.mktemp())
        os.makedirs(folder)
        self.secretFile = os.path.join(folder, "secret")
        with open(self.secretFile, "w") as f:
            f.write("  s3cret \n")
        suite = makeSuite(self, **{"proxy.auth_http.listen": ["tcp:0:interface=127.0.0.1"],
                                   "proxy.auth_http.secret_file": self.secretFile,
                                   "proxy.backends": [{"name": "a", "host": "10.0.0.1"}]})
        port = reactor.listenTCP(0, makeFactory(suite.parts, "auth_http"), interface="127.0.0.1")
        self.addCleanup(port.stopListening)
        self.url = f"http://127.0.0.1:{port.getHost().port}/auth".encode()

    @inlineCallbacks
    def ask(self, headers: dict[str, str]) -> Any:
        agent = Agent(reactor)
        response = yield agent.request(b"GET", self.url, Headers({k: [v] for k, v in headers.items()}))
        yield readBody(response)
        return response

    @inlineCallbacks
    def test_login(self) -> Any:
        """
        With the secret, a right login gets Auth-Status OK in the headers.
        """
        response = yield self.ask({"X-Auth-Key": "s3cret", "Auth-Method": "plain", "Auth-User": "alice",
                                   "Auth-Pass": "secret", "Auth-Protocol": "imap", "Client-IP": "192.0.2.7"})
        self.assertEqual(response.code, 200)
        self.assertEqual([response.headers.getRawHeaders(name) for name in ("Auth-Status", "Auth-Server", "Auth-Port")],
                         [["OK"], ["10.0.0.1"], ["143"]])

    @inlineCallbacks
    def test_noSecret(self) -> Any:
        """
        Without the secret (or with another): 403, nothing checked.
        """
        for headers in ({}, {"X-Auth-Key": "guess"}):
            response = yield self.ask({**headers, "Auth-Method": "plain", "Auth-User": "alice",
                                       "Auth-Pass": "secret", "Auth-Protocol": "imap"})
            self.assertEqual(response.code, 403)
            self.assertIsNone(response.headers.getRawHeaders("Auth-Status"))

    def test_readSecret(self) -> None:
        """
        The first line, stripped; a missing or empty file is a config error.
        """
        self.assertEqual(readSecret(self.secretFile), "s3cret")
        with open(self.secretFile, "w") as f:
            f.write("\n")
        self.assertRaises(ConfigError, readSecret, self.secretFile)
        self.assertRaises(ConfigError, readSecret, self.secretFile + ".missing")
