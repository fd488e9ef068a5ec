# -*- test-case-name: tests.cluster.test_workers -*-
"""
Listening sockets bound by one process and served by others (C{workers:
N}, docs/scaling.md): the supervisor binds each C{tcp:}/C{ssl:} endpoint
once (L{bindListening}) and its workers adopt the sockets
(L{adoptListening}, C{IReactorSocket.adoptStreamPort}), all accepting
from one queue.

Endpoint strings are read by Twisted's own parser, run against a
C{MemoryReactor} that records what a real listen would have done (the
port, the interface, the backlog and, for C{ssl:}, the TLS options our
L{ServerTLS} gives it), so the syntax is the one every listener uses.
"""
from __future__ import annotations

import os
import socket
from typing import Any

from twisted.internet.defer import Deferred, succeed
from twisted.internet.protocol import Factory
from twisted.internet.testing import MemoryReactor
from twisted.protocols.tls import TLSMemoryBIOFactory

from .tls import ServerTLS

__all__ = ["adoptListening", "bindListening"]


def _recorded(tls: ServerTLS, description: str, factory: Any) -> tuple[int, int, str, Any] | None:
    """
    C{(port, backlog, interface, tlsOptions or None)} a listen on
    C{description} would use; L{None} for an endpoint that is not TCP.
    """
    memory = MemoryReactor()
    tls.serverEndpoint(memory, description).listen(factory)
    if memory.tcpServers:
        port, _, backlog, interface = memory.tcpServers[0]
        return port, backlog, interface, None
    if memory.sslServers:
        port, _, options, backlog, interface = memory.sslServers[0]
        return port, backlog, interface, options
    return None


def bindListening(tls: ServerTLS, description: str) -> socket.socket | None:
    """
    Bind and listen on C{description}'s address, as an inheritable,
    non-blocking socket.

    @return: the socket, or L{None} for an endpoint that is not TCP (each
        worker listens on it itself).
    @raise OSError: it cannot be bound.
    """
    recorded = _recorded(tls, description, Factory())
    if recorded is None:
        return None
    port, backlog, interface, _ = recorded
    family = socket.AF_INET6 if ":" in interface else socket.AF_INET
    listening = socket.socket(family, socket.SOCK_STREAM)
    try:
        listening.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listening.bind((interface or ("::" if family == socket.AF_INET6 else ""), port))
        listening.listen(backlog)
        listening.setblocking(False)
        listening.set_inheritable(True)
    except BaseException:
        listening.close()
        raise
    return listening


def adoptListening(reactor: Any, adopted: tuple[int, int], description: str, factory: Any,
                   tls: ServerTLS) -> Deferred:
    """
    Serve C{factory} on the inherited socket C{adopted} (C{(fd,
    family)}), through TLS for an C{ssl:} C{description}; the inherited
    descriptor is closed (the reactor keeps its own copy).

    @return: a Deferred firing with the C{IListeningPort}.
    """
    fd, family = adopted
    recorded = _recorded(tls, description, factory)
    if recorded is not None and recorded[3] is not None:
        factory = TLSMemoryBIOFactory(recorded[3], False, factory)
    try:
        port = reactor.adoptStreamPort(fd, family, factory)
    finally:
        os.close(fd)
    return succeed(port)
