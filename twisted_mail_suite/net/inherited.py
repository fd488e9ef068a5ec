# -*- test-case-name: tests.cluster.test_workers -*-
"""
Listening sockets bound by one process and served by others (C{workers:
N}, docs/scaling.md): the supervisor binds each C{tcp:}/C{ssl:} endpoint
once per worker slot, N sockets on one address with C{SO_REUSEPORT}
(L{bindListening}), and worker k adopts slot k's sockets
(L{adoptListening}, C{IReactorSocket.adoptStreamPort}): the kernel
spreads new connections over the N accept queues by a hash of the
addresses, and a slot's queue outlives its worker (the supervisor keeps
the socket open for the restarted one).  While a worker is down or not
yet ready, L{steer} keeps new connections off its slot (a classic BPF
program choosing among the live slots, C{SO_ATTACH_REUSEPORT_CBPF}).

Endpoint strings are read by Twisted's own parser, run against a
C{MemoryReactor} that records what a real listen would have done (the
port, the interface, the backlog and, for C{ssl:}, the TLS options our
L{ServerTLS} gives it), so the syntax is the one every listener uses.
"""
from __future__ import annotations

import ctypes
import errno
import os
import socket
from typing import Any, Sequence

from twisted.internet.defer import Deferred, succeed
from twisted.internet.protocol import Factory
from twisted.internet.testing import MemoryReactor
from twisted.protocols.tls import TLSMemoryBIOFactory

from .tls import ServerTLS

__all__ = ["adoptListening", "bindListening", "steer"]

SO_ATTACH_REUSEPORT_CBPF = 51       # Linux, asm-generic/socket.h
SO_DETACH_REUSEPORT_BPF = 68
_LOAD, _RANDOM = 0x20, (-0x1000 + 56) & 0xFFFFFFFF    # ld [SKF_AD_OFF + SKF_AD_RANDOM]
_MOD, _JEQ, _RETURN = 0x94, 0x15, 0x06                 # alu mod #k, jeq #k, ret #k


class _Filter(ctypes.Structure):
    _fields_ = [("code", ctypes.c_uint16), ("jt", ctypes.c_uint8), ("jf", ctypes.c_uint8), ("k", ctypes.c_uint32)]


class _Program(ctypes.Structure):
    _fields_ = [("len", ctypes.c_uint16), ("filter", ctypes.POINTER(_Filter))]


def steer(listening: socket.socket, live: Sequence[int], slots: int) -> None:
    """
    Give the new connections to C{listening}'s C{SO_REUSEPORT} group (the
    C{slots} sockets of L{bindListening}, numbered in the order they were
    made) only to the slots in C{live}, at random; all C{slots} live, or
    none: the kernel's own hash over every slot.
    """
    if not live or len(set(live)) >= slots:
        try:
            listening.setsockopt(socket.SOL_SOCKET, SO_DETACH_REUSEPORT_BPF, 0)
        except OSError as e:
            if e.errno != errno.ENOENT:         # ENOENT: none attached
                raise
        return
    instructions = [(_LOAD, 0, 0, _RANDOM), (_MOD, 0, 0, len(live))]      # (code, jt, jf, k)
    for choice, slot in enumerate(live):                                   # choice n -> the n-th live slot
        instructions += [(_JEQ, 0, 1, choice), (_RETURN, 0, 0, slot)]
    instructions.append((_RETURN, 0, 0, live[0]))
    array = (_Filter * len(instructions))(*(_Filter(c, jt, jf, k) for c, jt, jf, k in instructions))
    program = _Program(len(instructions), ctypes.cast(array, ctypes.POINTER(_Filter)))
    listening.setsockopt(socket.SOL_SOCKET, SO_ATTACH_REUSEPORT_CBPF, bytes(program))


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


def _socket(family: int, address: tuple[str, int], reusePort: bool) -> socket.socket:
    made = socket.socket(family, socket.SOCK_STREAM)
    try:
        made.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if reusePort:
            made.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        made.bind(address)
    except BaseException:
        made.close()
        raise
    return made


def bindListening(tls: ServerTLS, description: str, slots: int = 1) -> list[socket.socket] | None:
    """
    Bind and listen on C{description}'s address C{slots} times, as
    inheritable, non-blocking sockets sharing the address with
    C{SO_REUSEPORT} (each its own accept queue).

    The address is first bound without C{SO_REUSEPORT} (which fails if
    anything listens there already: another process of the same user
    with C{SO_REUSEPORT} would otherwise silently share the port), which
    also picks the port for C{tcp:0}; the slots then bind that port.

    @return: the sockets, or L{None} for an endpoint that is not TCP (each
        worker listens on it itself).
    @raise OSError: it cannot be bound.
    """
    recorded = _recorded(tls, description, Factory())
    if recorded is None:
        return None
    port, backlog, interface, _ = recorded
    family = socket.AF_INET6 if ":" in interface else socket.AF_INET
    host = interface or ("::" if family == socket.AF_INET6 else "")
    with _socket(family, (host, port), reusePort=False) as probe:
        port = probe.getsockname()[1]
    made: list[socket.socket] = []
    try:
        for _ in range(slots):
            listening = _socket(family, (host, port), reusePort=True)
            made.append(listening)
            listening.listen(backlog)
            listening.setblocking(False)
            listening.set_inheritable(True)
    except BaseException:
        for listening in made:
            listening.close()
        raise
    return made


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
