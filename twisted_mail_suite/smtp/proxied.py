# -*- test-case-name: tests.smtp.test_xclient -*-
"""
An SMTP connection from a trusted proxy (C{proxy.trusted}: nginx's mail
proxy), which the factory builds instead of the plain one: the same
server, but every read is acknowledged at once (TCP_QUICKACK).  nginx's
mail proxy does not set TCP_NODELAY on its connection to us, so the last
small segment of a message it forwards waits (Nagle) for our ACK, which
Linux delays up to 40 ms while we have nothing to say: 100 KiB messages
through nginx had a p99 of 46-55 ms against 20-29 ms straight to us,
18-24 ms with this (docs/scaling.md, "nginx in front").  Direct clients
pay nothing for it.
"""
from __future__ import annotations

from ..net.transport import quickAck
from .protocol import SMTPServer

__all__ = ["ProxiedSMTPServer"]


class ProxiedSMTPServer(SMTPServer):
    """
    L{SMTPServer} for a connection from a trusted proxy; see the module
    docstring.
    """

    __slots__ = ()

    def dataReceived(self, data: bytes) -> None:
        quickAck(self.transport)
        super().dataReceived(data)
