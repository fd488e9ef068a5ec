# -*- test-case-name: tests.net.test_presence -*-
"""
Who is connected: one Presence per admitted connection, from the
attributes every protocol may have (C{peerHost} or C{peer},
C{presenceUser}, the transport's TLS).
"""
from __future__ import annotations

from twisted.internet.task import Clock
from twisted.internet.testing import StringTransport
from twisted.trial.unittest import SynchronousTestCase

from twisted_mail_suite.net.admission import ConnectionRegistry
from twisted_mail_suite.net.lifecycle import ConnectionManager
from twisted_mail_suite.net.presence import Presence, presenceOf


class Connection:
    def __init__(self, **attributes: object) -> None:
        self.transport = StringTransport()
        self.__dict__.update(attributes)


class PresenceTests(SynchronousTestCase):
    def test_presence(self) -> None:
        """
        Each admitted connection is listed, oldest first, with its address
        and user; released ones are not.
        """
        manager = ConnectionManager(Clock(), ConnectionRegistry())
        first = Connection(peerHost="127.0.0.1", presenceUser="alice")
        second = Connection(peer="::1")
        gone = Connection(peerHost="192.0.2.1")
        for connection, address in ((first, "127.0.0.1"), (second, "::1")):
            manager.admit(address, connection)
        manager.admit("192.0.2.1", gone).release()
        self.assertEqual(presenceOf(manager), [Presence("127.0.0.1", "alice", False), Presence("::1", None, False)])
