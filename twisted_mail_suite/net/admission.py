# -*- test-case-name: tests.net.test_admission -*-
"""
Connection admission: the one place that counts open connections against a
total limit and a per-address limit.

One meaning for every protocol:

  - A connection is I{admitted} (it gets a L{Ticket} and counts) or
    I{refused} (it gets a L{Refusal} and never counts: the protocol says
    its refusal reply and closes, and nothing is to be released).
  - The checks come in this order: the registry is draining
    (L{Refusal.DRAINING}), the total is reached (L{Refusal.BUSY}), the
    address's count is reached (L{Refusal.ADDRESS}).
  - A limit of C{0} means no limit.
  - L{Ticket.release} gives the place back, once: calling it again (from
    C{connectionLost} and an error path, say) changes nothing.

The registry knows nothing of replies: each protocol maps a L{Refusal} to
its own text (C{421 4.7.0 ...}, C{-ERR [SYS/TEMP] ...}, a chat line).
"""
from __future__ import annotations

from enum import Enum
from typing import Any, Hashable, KeysView

from twisted.internet.defer import Deferred, succeed

__all__ = ["Refusal", "Ticket", "ConnectionRegistry"]


class Refusal(Enum):
    """
    Why a connection was not admitted.
    """

    DRAINING = "draining"   # the server is shutting down
    BUSY = "busy"           # the total limit is reached
    ADDRESS = "address"     # the limit for the client's address is reached


class Ticket:
    """
    An admitted connection's place in a L{ConnectionRegistry}.

    @ivar address: the address it was admitted for.
    @ivar connection: the connection it was admitted for.
    """

    __slots__ = ("_registry", "address", "connection")

    def __init__(self, registry: ConnectionRegistry, address: str, connection: Hashable) -> None:
        self._registry: ConnectionRegistry | None = registry
        self.address = address
        self.connection = connection

    @property
    def released(self) -> bool:
        """
        Has L{release} been called?
        """
        return self._registry is None

    def release(self) -> None:
        """
        Give the place back.  Only the first call has an effect.
        """
        registry, self._registry = self._registry, None
        if registry is not None:
            registry._forget(self)

    def __repr__(self) -> str:
        state = "released" if self._registry is None else "held"
        return f"<Ticket {self.address!r} {state}>"


class ConnectionRegistry:
    """
    Open connections, in total and per client address, against limits.

    @ivar maxConnections: the total limit (C{0}: none).
    @ivar maxPerAddress: the limit per client address (C{0}: none).
    @ivar draining: when true, every new connection is refused with
        L{Refusal.DRAINING}; set by the L{ConnectionManager
        <twisted_mail_suite.net.lifecycle.ConnectionManager>} at shutdown.
    """

    def __init__(self, maxConnections: int = 0, maxPerAddress: int = 0) -> None:
        self.maxConnections = maxConnections
        self.maxPerAddress = maxPerAddress
        self.draining = False
        self._live: dict[Any, Ticket] = {}
        self._perAddress: dict[str, int] = {}
        self._whenEmpty: list[Deferred] = []

    @property
    def connections(self) -> int:
        """
        The number of admitted connections not yet released.
        """
        return len(self._live)

    @property
    def live(self) -> KeysView[Any]:
        """
        The admitted connections not yet released, oldest first (a live,
        read-only view: copy it before closing connections while iterating).
        """
        return self._live.keys()

    def countFor(self, address: str) -> int:
        """
        The number of admitted connections from C{address}.
        """
        return self._perAddress.get(address, 0)

    def admit(self, address: str, connection: Hashable) -> Ticket | Refusal:
        """
        Count C{connection} from C{address} unless a limit is reached.

        @return: a L{Ticket} (release it when the connection is lost) or,
            for a refused connection (which is not counted), a L{Refusal}.
        @raise ValueError: C{connection} holds a ticket already.
        """
        if connection in self._live:
            raise ValueError(f"{connection!r} is admitted already")
        if self.draining:
            return Refusal.DRAINING
        if self.maxConnections and len(self._live) >= self.maxConnections:
            return Refusal.BUSY
        count = self._perAddress.get(address, 0)
        if self.maxPerAddress and count >= self.maxPerAddress:
            return Refusal.ADDRESS
        self._perAddress[address] = count + 1
        ticket = self._live[connection] = Ticket(self, address, connection)
        return ticket

    def whenEmpty(self) -> Deferred[None]:
        """
        @return: a Deferred firing once no admitted connection is left (at
            once if none is).
        """
        if not self._live:
            return succeed(None)
        d: Deferred[None] = Deferred()
        self._whenEmpty.append(d)
        return d

    def _forget(self, ticket: Ticket) -> None:
        """
        Called by L{Ticket.release}, once per ticket.
        """
        del self._live[ticket.connection]
        address = ticket.address
        count = self._perAddress[address] - 1
        if count:
            self._perAddress[address] = count
        else:
            del self._perAddress[address]
        if not self._live and self._whenEmpty:
            waiting, self._whenEmpty = self._whenEmpty, []
            for d in waiting:
                d.callback(None)
