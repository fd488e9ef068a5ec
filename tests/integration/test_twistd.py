# -*- test-case-name: tests.integration.test_twistd -*-
"""
The real thing: C{twistd -n mailsuite} in a child process listens where the
config says, logs where, stops cleanly on SIGTERM, and exits 2 on a bad config
before binding anything.
"""
from __future__ import annotations

import os
import re
import signal

from twisted.internet import defer, protocol, reactor
from twisted.trial.unittest import TestCase

from ..fakes import TwistdChild, writeConfigFile

LISTENING = re.compile(rb"(\w+) listening on 127\.0\.0\.1:(\d+)")


def runTwistd(configPath: str) -> TwistdChild:
    return TwistdChild().run(["-n", "--pidfile=", "mailsuite", "--config", configPath])


class TwistdTests(TestCase):
    timeout = 60

    def writeConfig(self, text: str) -> str:
        return writeConfigFile(self, text)

    @defer.inlineCallbacks
    def test_startListenStop(self):  # type: ignore[no-untyped-def]
        """
        The plugin starts every configured listener, logs its address, and
        shuts down cleanly on SIGTERM.
        """
        from twisted_mail_suite.service import PROTOCOLS, _loadMaker

        available = [role for role, (_, path) in PROTOCOLS.items() if _loadMaker(path) is not None]
        listen = "{listen: ['tcp:0:interface=127.0.0.1']}"
        path = self.writeConfig(
            "data_dir: ./data\n" + "".join(f"{role}: {listen}\n" for role in PROTOCOLS))
        child = runTwistd(path)
        output = yield child.ready
        listening = {(role.decode(), int(port)) for role, port in LISTENING.findall(output)}
        self.assertEqual({role for role, _ in listening}, set(available))
        for role, port in listening:
            endpoint = protocol.ClientCreator(reactor, protocol.Protocol)
            client = yield endpoint.connectTCP("127.0.0.1", port)
            client.transport.loseConnection()
        os.kill(child.pid, signal.SIGTERM)
        status = yield child.ended
        # twistd re-raises the signal that stopped it, so its status says SIGTERM.
        self.assertIn(status, [(0, None), (None, signal.SIGTERM)])
        self.assertIn(b"Server Shut Down.", child.output)

    @defer.inlineCallbacks
    def test_badConfigExitsTwo(self):  # type: ignore[no-untyped-def]
        """
        A bad config stops twistd with status 2 and names the key.
        """
        path = self.writeConfig("smtp: {max_message_size: big}\n")
        child = runTwistd(path)
        child.ready.addErrback(lambda f: None)
        status = yield child.ended
        self.assertEqual(status, (2, None))
        self.assertIn(b'tap.yaml: smtp.max_message_size: expected a size like 25MB, got "big"', child.output)
