# -*- test-case-name: tests.integration.test_twistd -*-
"""
The real thing: C{twistd -n mailsuite} in a child process listens where the
config says, logs where, stops cleanly on SIGTERM, and exits 2 on a bad config
before binding anything.
"""
from __future__ import annotations

import os
import signal

from twisted.internet import defer, protocol, reactor
from twisted.internet.threads import deferToThread
from twisted.trial.unittest import TestCase

from twisted_mail_suite.testing.configfile import suiteConfig, writeConfig
from twisted_mail_suite.testing.process import SuiteProcess
from twisted_mail_suite.registry import PROTOCOLS

from ..fakes import ROOT, writeConfigFile


class TwistdTests(TestCase):
    timeout = 60

    def child(self, configPath: str) -> SuiteProcess:
        child = SuiteProcess(configPath, pythonPath=ROOT)
        self.addCleanup(child.kill)
        return child

    @defer.inlineCallbacks
    def test_startListenStop(self):  # type: ignore[no-untyped-def]
        """
        The plugin starts every configured listener of the registry, logs
        its address, and shuts down cleanly on SIGTERM.
        """
        folder = os.path.dirname(writeConfigFile(self, "shared-with-nginx\n", "secret"))
        raw = suiteConfig("./data", roles=[entry.role for entry in PROTOCOLS])
        raw["proxy"]["auth_http"]["secret_file"] = "secret"          # auth_http listens only with its secret
        path = writeConfig(folder, raw)
        child = self.child(path)
        yield deferToThread(child.start)
        self.assertEqual(set(child.ports), {entry.role for entry in PROTOCOLS})
        for role, port in child.ports.items():
            endpoint = protocol.ClientCreator(reactor, protocol.Protocol)
            client = yield endpoint.connectTCP("127.0.0.1", port)
            client.transport.loseConnection()
        elapsed, status = yield deferToThread(child.terminate)
        # twistd re-raises the signal that stopped it, so its status says SIGTERM.
        self.assertIn(status, [0, -signal.SIGTERM])
        self.assertIn(b"Server Shut Down.", child.output)

    @defer.inlineCallbacks
    def test_badConfigExitsTwo(self):  # type: ignore[no-untyped-def]
        """
        A bad config stops twistd with status 2 and names the key.
        """
        child = self.child(writeConfigFile(self, "smtp: {max_message_size: big}\n"))
        yield self.assertFailure(deferToThread(child.start), RuntimeError)
        self.assertEqual(child.process.returncode, 2)
        self.assertIn(b'tap.yaml: smtp.max_message_size: expected a size like 25MB, got "big"', child.output)
