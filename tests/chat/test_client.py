# -*- test-case-name: tests.chat.test_client -*-
"""
Tests for L{twisted_mail_suite.chat.client}, the terminal client.
"""
from __future__ import annotations

from twisted.internet.error import ConnectionDone
from twisted.internet.testing import StringTransport
from twisted.python.failure import Failure
from twisted.trial.unittest import SynchronousTestCase

from twisted_mail_suite.chat.client import Keyboard, ServerConnection, endpointFor


class ClientTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.shown: list[bytes] = []
        self.server = ServerConnection(self.shown.append)
        self.serverTransport = StringTransport()
        self.server.makeConnection(self.serverTransport)
        self.keyboard = Keyboard(self.server)
        self.keyboard.makeConnection(StringTransport())

    def test_typedLinesSent(self) -> None:
        """
        Each typed line goes to the server as one LF-terminated line.
        """
        self.keyboard.dataReceived("hello 你好\r\nto|bob|hi\n".encode())
        self.assertEqual(self.serverTransport.value(), "hello 你好\nto|bob|hi\n".encode())

    def test_incomingShownAtOnce(self) -> None:
        """
        What the server sends is shown as it arrives, partial lines too.
        """
        self.server.dataReceived(b"[#lobby] ann: hi\n*** ben jo")
        self.assertEqual(self.shown, [b"[#lobby] ann: hi\n*** ben jo"])

    def test_controlsNeutralised(self) -> None:
        """
        Control characters from the server never reach the terminal.
        """
        self.server.dataReceived(b"\x1b[2Jboo\r\n")
        self.assertEqual(self.shown, [b"?[2Jboo\n"])

    def test_endOfInputCloses(self) -> None:
        """
        End of standard input closes the connection; its end fires C{done}.
        """
        self.keyboard.connectionLost(Failure(ConnectionDone()))
        self.assertTrue(self.serverTransport.disconnecting)
        self.server.connectionLost(Failure(ConnectionDone()))
        self.assertIsNone(self.successResultOf(self.server.done))

    def test_endpoint(self) -> None:
        """
        Host and port become a client endpoint string, TLS on request.
        """
        self.assertEqual(endpointFor("127.0.0.1", 7000, False), "tcp:127.0.0.1:7000")
        self.assertEqual(endpointFor("::1", 7000, True), r"tls:\:\:1:7000")
