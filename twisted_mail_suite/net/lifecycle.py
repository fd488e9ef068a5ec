# -*- test-case-name: tests.net.test_lifecycle,tests.net.test_drain -*-
"""
The life of a connection and the one graceful shutdown of them all.

A connection goes through five phases, declared in L{TRANSITIONS}::

    OPEN ──busy──▶ BUSY ──idle──▶ OPEN        serving; BUSY: work in hand
    OPEN ──drain─▶ DRAINING                   shutting down; "close now" (nothing in hand)
    BUSY ──drain─▶ DRAINING ─idle─▶ DRAINING  shutting down; "close now" once the work is done
    any  ──close─▶ CLOSING                    the goodbye is out, the transport is closing
    any  ──lost──▶ GONE                       connectionLost: nothing is left

The inputs answer "say goodbye and close now?" (C{drain} from C{OPEN},
C{idle} in C{DRAINING}); the protocol's goodbye then calls C{close}, which
is true only the first time, so the goodbye is said once whatever path
(shutdown, abandon, idle timeout, QUIT) gets there first.

C{BUSY} means "work the shutdown lets finish" (a message being received
or committed, a login being checked, a message being sent); it is not the
idle timer's business (see L{twisted_mail_suite.net.idle}).

L{Lifecycle} holds the phase of one connection (two slots: cheap for an
idle connection) and answers whether the protocol must say goodbye now.
L{ConnectionManager} holds a factory's L{ConnectionRegistry} and
implements L{IDrainable.drain} once for every protocol.
L{AdmittedProducer} is the first step of C{connectionMade} for a
connection that is its transport's push producer (POP3, IMAP).
"""
from __future__ import annotations

from enum import Enum
from typing import Any, ClassVar, Hashable, Mapping

from twisted.internet.defer import Deferred, succeed
from twisted.internet.interfaces import IDelayedCall, IReactorTime
from twisted.logger import Logger
from zope.interface import Attribute, Interface, implementer

from ..interfaces import NULL_METRICS, IMetrics
from .admission import ConnectionRegistry, Refusal, Ticket
from .transport import peerHost, setNoDelay

__all__ = [
    "ABANDON_GRACE", "ConnectionManager", "IDrainable", "IManagedConnection",
    "IllegalTransition", "Lifecycle", "Phase", "TRANSITIONS",
]

ABANDON_GRACE = 2.0   # seconds an abandoned connection has to take its last reply


class IDrainable(Interface):
    """
    Something holding connections that can be shut down gracefully (a
    protocol factory); the service drains each one once its listeners are
    closed.
    """

    def drain(timeout: float) -> Deferred:  # type: ignore[misc]
        """
        Refuse new connections, let each one finish the work in hand and
        close; abandon those still busy after C{timeout} seconds.

        @return: a Deferred firing (with L{None}, never failing) once every
            connection is gone.
        """


class IManagedConnection(Interface):
    """
    A connection a L{ConnectionManager} can shut down (a protocol).
    """

    transport = Attribute("The connection's transport; aborted if the connection outlives its grace.")

    def shutdown() -> Deferred:  # type: ignore[misc]
        """
        The server is stopping: finish the work in hand (if any), then tell
        the peer and close.  Idempotent.

        @return: a Deferred firing once the connection is gone.
        """

    def abandon() -> None:  # type: ignore[misc]
        """
        The shutdown timeout passed and the connection is still here: drop
        the work in hand (keeping nothing half-written), tell the peer if
        possible and close.  The manager aborts the transport if the
        connection is still there L{ABANDON_GRACE} seconds later.
        """


class Phase(Enum):
    """
    Where a connection is in its life.
    """

    OPEN = "open"           # serving, nothing in hand
    BUSY = "busy"           # serving, work in hand
    DRAINING = "draining"   # shutting down: finishing the work in hand, if any
    CLOSING = "closing"     # the last reply is out; waiting for the transport to go
    GONE = "gone"           # connectionLost

    # Enum hashes members by name in Python; identity is enough and C-fast
    # (every transition looks a (phase, input) pair up in TRANSITIONS).
    __hash__ = object.__hash__


class IllegalTransition(Exception):
    """
    An input that makes no sense in the connection's phase (a bug in the
    protocol, e.g. starting work on a closing connection).
    """


_O, _B, _D, _C, _G = Phase.OPEN, Phase.BUSY, Phase.DRAINING, Phase.CLOSING, Phase.GONE

# (phase, input) -> next phase; a pair missing here is an IllegalTransition.
TRANSITIONS: dict[tuple[Phase, str], Phase] = {
    (_O, "busy"): _B, (_O, "idle"): _O, (_O, "drain"): _D, (_O, "close"): _C, (_O, "lost"): _G,
    (_B, "busy"): _B, (_B, "idle"): _O, (_B, "drain"): _D, (_B, "close"): _C, (_B, "lost"): _G,
    (_D, "busy"): _D, (_D, "idle"): _D, (_D, "drain"): _D, (_D, "close"): _C, (_D, "lost"): _G,
    (_C, "idle"): _C, (_C, "drain"): _C, (_C, "close"): _C, (_C, "lost"): _G,
    (_G, "idle"): _G, (_G, "drain"): _G, (_G, "close"): _G, (_G, "lost"): _G,
}


class Lifecycle:
    """
    The phase of one connection.  Each input method moves it along
    L{TRANSITIONS}; L{drain} and L{idle} answer "say goodbye and close
    now?", L{close} answers "is this the first close?".
    """

    __slots__ = ("phase", "_whenGone")

    def __init__(self) -> None:
        self.phase = Phase.OPEN
        self._whenGone: list[Deferred] | None = None

    def _move(self, input: str) -> Phase:
        before = self.phase
        try:
            self.phase = TRANSITIONS[before, input]
        except KeyError:
            raise IllegalTransition(f"{input!r} in phase {before.name}") from None
        return before

    @property
    def serving(self) -> bool:
        """
        Does the connection take new commands (C{OPEN} or C{BUSY})?
        """
        return self.phase is Phase.OPEN or self.phase is Phase.BUSY

    @property
    def closing(self) -> bool:
        """
        Is the connection closing or gone (input is to be ignored)?  A
        C{DRAINING} connection still reads: the work in hand may need it
        (the rest of a message being received).
        """
        return self.phase is Phase.CLOSING or self.phase is Phase.GONE

    def busy(self) -> None:
        """
        Work the shutdown should let finish has started.

        @raise IllegalTransition: the connection is closing or gone.
        """
        self._move("busy")

    def idle(self) -> bool:
        """
        The work in hand is done.

        @return: true if a shutdown is waiting (C{DRAINING}): say goodbye
            and close now.
        """
        return self._move("idle") is Phase.DRAINING

    def drain(self) -> bool:
        """
        The server is shutting down (see L{IManagedConnection.shutdown}).

        @return: true if nothing is in hand (C{OPEN}): say goodbye and
            close now; false if the work in hand goes on (L{idle} will
            say when it is done) or the connection is draining, closing or
            gone already.
        """
        return self._move("drain") is Phase.OPEN

    def close(self) -> bool:
        """
        The protocol is closing the connection (its last reply is out).

        @return: true for the first call; false if it was closing or gone
            already (so close only once).
        """
        before = self._move("close")
        return before is not Phase.CLOSING and before is not Phase.GONE

    def lost(self) -> None:
        """
        The connection is gone (C{connectionLost}): fire L{whenGone}.
        """
        self._move("lost")
        waiting, self._whenGone = self._whenGone, None
        for d in waiting or ():
            d.callback(None)

    def whenGone(self) -> Deferred[None]:
        """
        @return: a Deferred firing once the connection is gone (at once if
            it is).
        """
        if self.phase is Phase.GONE:
            return succeed(None)
        if self._whenGone is None:
            self._whenGone = []
        d: Deferred[None] = Deferred()
        self._whenGone.append(d)
        return d


@implementer(IDrainable)
class ConnectionManager:
    """
    A factory's connections: admission through its L{ConnectionRegistry}
    and the one graceful drain.

    Drain, step by step: the registry starts refusing
    (L{Refusal.DRAINING}); every admitted connection is asked to
    L{shutdown <IManagedConnection.shutdown>}; after C{timeout} seconds
    those still here are L{abandoned <IManagedConnection.abandon>}; after
    C{abandonGrace} more seconds the transports of those still here are
    aborted.  The drain's Deferred fires once every ticket is released,
    and at the latest right after that abort, so a shutdown never takes
    longer than C{timeout + abandonGrace}.
    """

    log = Logger()

    @classmethod
    def forSection(cls, clock: IReactorTime, section: Any, budget: Any = None,
                   abandonGrace: float = ABANDON_GRACE, metrics: IMetrics = NULL_METRICS,
                   protocol: str = "") -> ConnectionManager:
        """
        The manager for a protocol's config section (its C{max_connections}
        and C{max_connections_per_ip}), within the process's C{budget},
        counting its connections in C{metrics} as C{protocol}'s.
        """
        registry = ConnectionRegistry(section.max_connections, section.max_connections_per_ip, budget,
                                      metrics, protocol)
        return cls(clock, registry, abandonGrace=abandonGrace)

    def __init__(self, clock: IReactorTime, registry: ConnectionRegistry,
                 abandonGrace: float = ABANDON_GRACE) -> None:
        self.clock = clock
        self.registry = registry
        self.abandonGrace = abandonGrace
        self._drained: list[Deferred] | None = None   # None: not draining
        self._timer: IDelayedCall | None = None
        self._done = False

    @property
    def draining(self) -> bool:
        return self.registry.draining

    def admit(self, address: str, connection: Hashable) -> Ticket | Refusal:
        """
        See L{ConnectionRegistry.admit}.
        """
        return self.registry.admit(address, connection)

    def drain(self, timeout: float) -> Deferred[None]:
        """
        See L{IDrainable.drain} and the class docstring.  A second call
        waits for the first drain.
        """
        if self._done:
            return succeed(None)
        d: Deferred[None] = Deferred()
        if self._drained is not None:
            self._drained.append(d)
            return d
        self._drained = [d]
        self.registry.draining = True
        for connection in list(self.registry.live):
            try:
                connection.shutdown().addErrback(self._shutdownFailed, connection)
            except Exception:
                self.log.failure("Shutting down {connection!r} failed", connection=connection)
        if not self.registry.connections:
            self._finish()
        else:
            self._timer = self.clock.callLater(timeout, self._abandon, timeout)
            self.registry.whenEmpty().addCallback(lambda _: self._finish())
        return d

    def _shutdownFailed(self, failure: Any, connection: object) -> None:
        self.log.failure("Shutting down {connection!r} failed", failure, connection=connection)

    def _abandon(self, timeout: float) -> None:
        live = list(self.registry.live)
        self.log.warn("{count} connections still open {timeout}s into the shutdown: abandoned",
                      count=len(live), timeout=timeout)
        for connection in live:
            try:
                connection.abandon()
            except Exception:
                self.log.failure("Abandoning {connection!r} failed", connection=connection)
        if self.registry.connections:
            self._timer = self.clock.callLater(self.abandonGrace, self._abort)
        else:
            self._timer = None

    def _abort(self) -> None:
        self._timer = None
        for connection in list(self.registry.live):
            try:
                connection.transport.abortConnection()
            except Exception:
                self.log.failure("Aborting {connection!r} failed", connection=connection)
        self._finish()

    def _finish(self) -> None:
        if self._done:
            return
        self._done = True
        timer, self._timer = self._timer, None
        if timer is not None and timer.active():
            timer.cancel()
        drained, self._drained = self._drained or [], []
        for d in drained:
            d.callback(None)


class AdmittedProducer:
    """
    Mixin of a protocol that admits itself in C{connectionMade} through its
    factory's L{ConnectionManager} and is its transport's push producer.

    Needs C{transport}, C{factory.manager}, C{factory.idle} (an
    L{IdleTracker <twisted_mail_suite.net.idle.IdleTracker>}), C{_lifecycle}
    (a L{Lifecycle}) and C{log}; sets C{peer} and C{_ticket}.

    @cvar REFUSALS: why a connection was not admitted -> (the one reply it
        gets, the reason for the log).
    @cvar PROTOCOL: the protocol's name, for the log.
    """

    __slots__ = ()

    REFUSALS: ClassVar[Mapping[Refusal, tuple[bytes, str]]]
    PROTOCOL: ClassVar[str]

    def _admit(self) -> bool:
        """
        Call first in C{connectionMade}: count the connection (no delay,
        registered as producer, its idle timeout started), or tell the
        client why not and close.

        @return: whether the connection was admitted (else: do nothing
            more).
        """
        transport = self.transport  # type: ignore[attr-defined]
        factory = self.factory  # type: ignore[attr-defined]
        self.peer = peerHost(transport)
        admitted = factory.manager.admit(self.peer, self)
        if isinstance(admitted, Refusal):       # not counted: nothing to release
            reply, reason = self.REFUSALS[admitted]
            self.log.warn("{protocol} connection from {address} refused: {reason}",  # type: ignore[attr-defined]
                          protocol=self.PROTOCOL, address=self.peer, reason=reason)
            self._lifecycle.close()  # type: ignore[attr-defined]
            transport.write(reply)
            transport.loseConnection()
            return False
        self._ticket = admitted
        setNoDelay(transport)
        transport.registerProducer(self, True)
        factory.idle.touch(self)
        return True

