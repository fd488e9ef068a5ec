# -*- test-case-name: tests.net.test_drain -*-
"""
Shared fakes for the chassis tests: a managed connection on a
C{StringTransport} that records what the manager asked of it.
"""
from __future__ import annotations

from typing import Any

from twisted.internet.defer import Deferred
from twisted.internet.testing import StringTransport
from zope.interface import implementer

from twisted_mail_suite.net.admission import Refusal, Ticket
from twisted_mail_suite.net.lifecycle import ConnectionManager, IManagedConnection, Lifecycle


@implementer(IManagedConnection)
class FakeConnection:
    """
    A connection following the chassis recipe (see L{twisted_mail_suite.net}):
    admitted by C{manager}, closing at once on shutdown unless C{busy}.

    @ivar calls: the manager's requests, in order (C{"shutdown"}, C{"abandon"}).
    @ivar goodbyes: how many times it said goodbye (must be at most once).
    """

    def __init__(self, manager: ConnectionManager, address: str = "192.0.2.1",
                 busy: bool = False) -> None:
        self.transport = StringTransport()
        self.lifecycle = Lifecycle()
        self.calls: list[str] = []
        self.goodbyes = 0
        admitted = manager.admit(address, self)
        assert isinstance(admitted, Ticket), admitted
        self.ticket: Ticket = admitted
        if busy:
            self.lifecycle.busy()

    def shutdown(self) -> Deferred:
        self.calls.append("shutdown")
        gone = self.lifecycle.whenGone()
        if self.lifecycle.drain():
            self.goodbye()
        return gone

    def abandon(self) -> None:
        self.calls.append("abandon")
        self.goodbye()

    def finishWork(self) -> None:
        """
        The work in hand is done.
        """
        if self.lifecycle.idle():
            self.goodbye()

    def goodbye(self) -> None:
        if self.lifecycle.close():
            self.goodbyes += 1
            self.transport.write(b"bye\r\n")
            self.transport.loseConnection()

    def lose(self) -> None:
        """
        What C{connectionLost} does.
        """
        self.ticket.release()
        self.lifecycle.lost()


def refusedBy(manager: ConnectionManager, address: str = "192.0.2.1") -> Any:
    """
    Try to admit one more connection; return its ticket or refusal.
    """
    result = manager.admit(address, object())
    assert isinstance(result, (Ticket, Refusal))
    return result
