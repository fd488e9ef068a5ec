# -*- test-case-name: tests.net.test_presence -*-
"""
Who is connected: one L{Presence} per admitted connection of a
protocol's L{ConnectionManager}, for the admin API's "who is online".
It asks each connection what it knows, through attributes every
protocol of the suite may have, never through the protocol's own types:
C{peerHost} or C{peer} (the client's address), its transport (TLS or
not) and C{presenceUser} (the logged-in user's name, or L{None}).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .transport import isSecure

__all__ = ["Presence", "presenceOf"]


@dataclass(frozen=True)
class Presence:
    """
    One connection.

    @ivar address: the client's address.
    @ivar user: the logged-in user, or L{None} (not logged in, or the
        protocol does not say).
    @ivar secure: whether the connection is encrypted.
    """

    address: str
    user: str | None
    secure: bool


def presenceOf(manager: Any) -> list[Presence]:
    """
    The connections admitted by C{manager} (a L{ConnectionManager}),
    oldest first.
    """
    found = []
    for connection in list(manager.registry.live):
        user = getattr(connection, "presenceUser", None)
        address = getattr(connection, "peerHost", None) or getattr(connection, "peer", None) or ""
        transport = getattr(connection, "transport", None)
        found.append(Presence(str(address), user if user else None,
                              transport is not None and isSecure(transport)))
    return found
