# -*- test-case-name: tests.net.test_transport -*-
"""
Facts about a connection's transport, asked the same way by every protocol:
who is on the other end, is the channel encrypted, and "send small replies
at once" (TCP_NODELAY); and the one rule for closing it: after the last
reply, a peer that does not read is cut off after a grace
(L{loseConnectionWithin}).
"""
from __future__ import annotations

import socket
from typing import Any

from twisted.internet.interfaces import IDelayedCall, INegotiated, IReactorTime, ISSLTransport

__all__ = ["CLOSE_GRACE", "LOCAL_PEER", "idnaHost", "loseConnectionWithin", "peerHost", "isSecure", "quickAck",
           "setNoDelay"]

# Seconds a closing connection has to take what was written to it.
CLOSE_GRACE = 10.0   # seconds a closing client has to take its last output before it is aborted

# The peer host of a connection without an IP peer (a UNIX socket, a pipe).
LOCAL_PEER = "local"


def peerHost(transport: Any) -> str:
    """
    The client's address as the limits, the login policy and the logs see
    it: the peer's IP address (C{"192.0.2.7"}, C{"::1"}), or L{LOCAL_PEER}
    for a peer without one (a UNIX socket).
    """
    host = getattr(transport.getPeer(), "host", None)
    if isinstance(host, bytes):
        host = host.decode("ascii", "replace")
    return host if isinstance(host, str) and host else LOCAL_PEER


def isSecure(transport: Any) -> bool:
    """
    Is the channel encrypted?  True for an implicit-TLS listener (the
    transport is a TLS wrapper: L{INegotiated}) and after STARTTLS/STLS on
    a TCP transport (which then provides L{ISSLTransport}).
    """
    return ISSLTransport.providedBy(transport) or INegotiated.providedBy(transport)


def setNoDelay(transport: Any) -> None:
    """
    Turn on TCP_NODELAY (replies are small and go out at once) if the
    transport has it; quietly do nothing for one that has not (a UNIX
    socket, a test transport) or that refuses (a closed socket).
    """
    setTcpNoDelay = getattr(transport, "setTcpNoDelay", None)
    if setTcpNoDelay is None:
        return
    try:
        setTcpNoDelay(True)
    except (NotImplementedError, OSError):
        pass


QUICKACK = getattr(socket, "TCP_QUICKACK", None)     # Linux


def quickAck(transport: Any) -> None:
    """
    Acknowledge what was just read at once instead of up to 40 ms later
    (Linux's TCP_QUICKACK, which the kernel turns off again by itself: call
    it after every read).  For peers that do not set TCP_NODELAY and
    stream to us (nginx's mail proxy): their last small segment waits for
    our ACK (Nagle), which otherwise waits for the delayed-ACK timer.  A
    transport without a socket, or a system without the option: nothing.
    """
    handle = getattr(transport, "getHandle", None)
    sock = handle() if handle is not None and QUICKACK is not None else None
    if isinstance(sock, socket.socket):
        try:
            sock.setsockopt(socket.IPPROTO_TCP, QUICKACK, 1)
        except OSError:
            pass


def loseConnectionWithin(transport: Any, clock: IReactorTime, grace: float = CLOSE_GRACE,
                         producer: bool = False) -> IDelayedCall:
    """
    Close C{transport} once what was written to it is sent, and abort it
    if it is still open C{grace} seconds later.  C{loseConnection} alone
    waits for the peer to take the output, for ever if it never reads:
    its connection slot (and the output) would be held as long.

    @param producer: the caller registered itself as the transport's
        producer: it is unregistered first (a registered producer keeps a
        closing transport open, waiting to be resumed).
    @return: the abort's delayed call: cancel it in C{connectionLost}.
    """
    if producer:
        transport.unregisterProducer()
    transport.loseConnection()
    return clock.callLater(grace, transport.abortConnection)


def idnaHost(hostname: str) -> bytes:
    """
    C{hostname} as it goes on the wire (IDNA; a name IDNA refuses with
    its non-ASCII characters replaced).
    """
    try:
        return hostname.encode("idna")
    except UnicodeError:
        return hostname.encode("ascii", "replace")
