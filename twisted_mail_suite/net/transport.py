# -*- test-case-name: tests.net.test_transport -*-
"""
Facts about a connection's transport, asked the same way by every protocol:
who is on the other end, is the channel encrypted, and "send small replies
at once" (TCP_NODELAY, and L{directSocket}/L{sendAtOnce}: a reply written
to the socket in the call that makes it, not one reactor turn later); and
L{CLOSE_GRACE}, how long a peer that does not read its last reply is given
(the rule itself: L{twisted_mail_suite.net.idle.IdleTracker.closeWithin}).
"""
from __future__ import annotations

import socket
from typing import Any

from twisted.internet import tcp
from twisted.internet.interfaces import INegotiated, ISSLTransport

__all__ = ["CLOSE_GRACE", "LOCAL_PEER", "directSocket", "idnaHost", "peerHost", "isSecure",
           "quickAck", "sendAtOnce", "setNoDelay"]

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


def directSocket(transport: Any) -> socket.socket | None:
    """
    The socket of a plain TCP server transport, which L{sendAtOnce} may
    write to directly; L{None} for anything else (TLS, a UNIX socket, a
    wrapper that sees the bytes, a test transport), which is written to
    through its C{write} only.

    A transport's C{write} only buffers: the bytes go out in a later
    reactor turn, after the reactor was asked to watch the socket for
    writing and before it is told to stop (two C{epoll_ctl}s and one more
    turn per reply).  A lockstep client waits for every reply, so each
    one costs that turn.  Stop writing directly before starting TLS.
    """
    if type(transport) is not tcp.Server or isSecure(transport):
        return None
    return transport.getHandle()  # type: ignore[no-any-return]


def sendAtOnce(sock: socket.socket, transport: Any, data: bytes) -> bool:
    """
    Write C{data} to C{sock} now; what it does not take (a full socket
    buffer, an error) goes through C{transport.write}, behind which every
    later write must then queue too.

    @param sock: L{directSocket}C{(transport)}, and nothing may be waiting
        in C{transport}'s buffer: every earlier write went out at once.
    @return: whether the next write may go at once too.
    """
    try:
        sent = sock.send(data)
    except OSError:
        sent = 0        # would block, or the connection broke: the transport finds out and reports it
    if sent == len(data):
        return True
    transport.write(data[sent:])
    return False


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


def idnaHost(hostname: str) -> bytes:
    """
    C{hostname} as it goes on the wire (IDNA; a name IDNA refuses with
    its non-ASCII characters replaced).
    """
    try:
        return hostname.encode("idna")
    except UnicodeError:
        return hostname.encode("ascii", "replace")
