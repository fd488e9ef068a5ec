# -*- test-case-name: tests.integration.test_chat_client -*-
"""
C{mailsuite-chat --tls --cafile}: the terminal client's TLS endpoint trusts
the suite's self-signed certificate, over a real implicit-TLS listener.
"""
from __future__ import annotations

from typing import Any

from twisted.internet import defer, reactor
from twisted.internet.endpoints import connectProtocol
from twisted.trial.unittest import TestCase

from twisted_mail_suite.chat.client import ServerConnection, trustingEndpoint
from twisted_mail_suite.testing import startHarness


class TrustingEndpointTests(TestCase):
    timeout = 30

    @defer.inlineCallbacks
    def test_greetedOverTLS(self) -> Any:
        """
        With the suite's certificate as the trust root, the client connects
        to the C{ssl:} chat listener and is greeted.
        """
        harness = yield startHarness(self, tls=True)
        shown: list[bytes] = []
        greeted: defer.Deferred = defer.Deferred()

        def show(data: bytes) -> None:
            shown.append(data)
            if b"you are guest-" in b"".join(shown) and not greeted.called:
                greeted.callback(None)

        server = ServerConnection(show)
        endpoint = trustingEndpoint(reactor, "127.0.0.1", harness.chatsPort, harness.tlsCertificatePath)
        yield connectProtocol(endpoint, server)
        yield greeted
        server.transport.loseConnection()
        yield server.done
        self.assertIn(b"*** welcome to the chat", b"".join(shown))
