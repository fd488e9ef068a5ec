# -*- test-case-name: tests.net.test_admission,tests.net.test_budget -*-
"""
Connection admission: the one place that counts open connections against a
total limit and a per-address limit.

One meaning for every protocol:

  - A connection is I{admitted} (it gets a L{Ticket} and counts) or
    I{refused} (it gets a L{Refusal} and never counts: the protocol says
    its refusal reply and closes, and nothing is to be released).
  - The checks come in this order: the registry is draining
    (L{Refusal.DRAINING}), the total is reached (L{Refusal.BUSY}), the
    address's count is reached (L{Refusal.ADDRESS}), the process-wide
    budget is spent (L{Refusal.BUSY}).
  - A limit of C{0} means no limit.
  - L{Ticket.release} gives the place back, once: calling it again (from
    C{connectionLost} and an error path, say) changes nothing.
  - Every registry of a process may share one L{ConnectionBudget}: the
    connections the process's file descriptors can hold, whatever the
    protocol.  A connection the budget has no room for is refused with
    L{Refusal.BUSY} (after the per-address check), so every protocol
    answers it with its polite "too many connections" reply instead of
    failing to accept it at all.  L{ConnectionBudget.fit} sizes the budget
    at start from C{RLIMIT_NOFILE} (raised to the hard limit first) and
    refuses limits the process cannot hold (L{BudgetError}).

The registry knows nothing of replies: each protocol maps a L{Refusal} to
its own text (C{421 4.7.0 ...}, C{-ERR [SYS/TEMP] ...}, a chat line).
It is also the one place every protocol's connections are counted for the
metrics (L{IMetrics}: opened, closed, refused, under the protocol's name).
"""
from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import Any, Callable, Hashable, KeysView, Sequence

from twisted.internet.defer import Deferred, succeed

from ..errors import ConfigError
from ..interfaces import NULL_METRICS, IMetrics

__all__ = [
    "BudgetError", "ConnectionBudget", "ConnectionRegistry", "RESERVED_FILES", "Refusal", "Share",
    "Ticket", "raiseFileLimit",
]

RESERVED_FILES = 64   # the process's own descriptors: listening sockets, logs, the users file,
                      # the store's folder handles, thread pools, the reactor's own


class Refusal(Enum):
    """
    Why a connection was not admitted.
    """

    DRAINING = "draining"   # the server is shutting down
    BUSY = "busy"           # the total limit is reached, or the process-wide budget is spent
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
    @ivar protocol: the name its connections are counted under.
    """

    def __init__(self, maxConnections: int = 0, maxPerAddress: int = 0,
                 budget: ConnectionBudget | None = None, metrics: IMetrics = NULL_METRICS,
                 protocol: str = "") -> None:
        """
        @param budget: the process-wide budget this registry shares with
            the others of the process (L{None}: only this registry's limits).
        @param metrics: told of every connection admitted, released or
            refused, as C{protocol}'s.
        """
        self.maxConnections = maxConnections
        self.maxPerAddress = maxPerAddress
        self.budget = budget
        self.metrics = metrics
        self.protocol = protocol
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
            return self._refuse(Refusal.DRAINING)
        if self.maxConnections and len(self._live) >= self.maxConnections:
            return self._refuse(Refusal.BUSY)
        count = self._perAddress.get(address, 0)
        if self.maxPerAddress and count >= self.maxPerAddress:
            return self._refuse(Refusal.ADDRESS)
        if self.budget is not None and not self.budget.take():
            return self._refuse(Refusal.BUSY)
        self._perAddress[address] = count + 1
        ticket = self._live[connection] = Ticket(self, address, connection)
        self.metrics.connectionOpened(self.protocol)
        return ticket

    def _refuse(self, refusal: Refusal) -> Refusal:
        self.metrics.connectionRefused(self.protocol)
        return refusal

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
        self.metrics.connectionClosed(self.protocol)
        if self.budget is not None:
            self.budget.give()
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


class BudgetError(ConfigError):
    """
    The configured connection limits cannot be held by the process's file
    descriptors (a start-up error: twistd exits with status 2).
    """

    def __init__(self, key: str, message: str) -> None:
        super().__init__("RLIMIT_NOFILE", key, message)


@dataclass(frozen=True)
class Share:
    """
    One protocol's part of the budget, for L{ConnectionBudget.fit}.

    @ivar key: its limit's config key (C{"smtp.max_connections"}).
    @ivar limit: its connection limit (C{0}: none of its own).
    @ivar files: the descriptors one of its connections may hold besides
        its socket (C{1} for SMTP and POP3: a message file being written
        or sent; C{0} for chat).
    """

    key: str
    limit: int
    files: int = 1


def raiseFileLimit(getrlimit: Callable[[int], tuple[int, int]] | None = None,
                   setrlimit: Callable[[int, tuple[int, int]], None] | None = None) -> tuple[int, int]:
    """
    Raise the soft C{RLIMIT_NOFILE} to the hard limit, or as close to it as
    the system lets us (macOS refuses an unlimited hard limit: there the
    soft limit goes to 10,240, its usual per-process cap).

    @return: C{(soft, hard)} now; C{(-1, -1)} where the system has no such
        limit to read (no C{resource} module).
    """
    try:
        import resource
    except ImportError:      # not a POSIX system
        return -1, -1
    getrlimit = getrlimit or resource.getrlimit
    setrlimit = setrlimit or resource.setrlimit
    soft, hard = getrlimit(resource.RLIMIT_NOFILE)
    unlimited = hard == resource.RLIM_INFINITY
    for target in ([hard] if not unlimited else []) + [65536, 10240]:
        if soft == resource.RLIM_INFINITY or target <= soft or (not unlimited and target > hard):
            continue
        try:
            setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        except (ValueError, OSError):
            continue
        return getrlimit(resource.RLIMIT_NOFILE)
    return soft, hard


class ConnectionBudget:
    """
    The connections of the whole process, shared by the
    L{ConnectionRegistry} of every protocol: once C{limit} connections are
    open, every protocol refuses newcomers politely (L{Refusal.BUSY}).

    @ivar limit: the most connections at once (C{0}: no limit; L{fit} sets
        it at start).
    @ivar used: the connections open now.
    """

    def __init__(self, limit: int = 0) -> None:
        self.limit = limit
        self.used = 0

    def take(self) -> bool:
        """
        Count one more connection unless the budget is spent.
        """
        if self.limit and self.used >= self.limit:
            return False
        self.used += 1
        return True

    def give(self) -> None:
        """
        A connection counted by L{take} is gone.
        """
        self.used -= 1

    def fit(self, shares: Sequence[Share], requested: int = 0, fileLimit: int | None = None) -> int:
        """
        Size the budget for the file descriptors this process may open.

        Each connection needs its socket and, for a protocol that keeps a
        file per connection, one more; the process keeps
        L{RESERVED_FILES} for itself.  The budget is C{requested} (the
        top-level C{max_connections}) or, for C{0}, all the descriptors
        allow.  It must hold the protocols' limits added up (so that no
        protocol can starve another), and fit in the descriptors.

        @param fileLimit: the soft C{RLIMIT_NOFILE} (default: raise it to
            the hard limit with L{raiseFileLimit} and use that); negative
            where the system has none to read: then only C{requested}
            bounds the budget (C{0}: nothing does).
        @return: the budget's new limit.
        @raise BudgetError: naming what to change.
        """
        if fileLimit is None:
            fileLimit = raiseFileLimit()[0]
        if fileLimit < 0 or fileLimit >= 1 << 62:      # no limit known, or none at all
            self.limit = requested
            return requested
        usable = fileLimit - RESERVED_FILES
        reserved = sum(share.limit * share.files for share in shares)
        unbounded = any(share.files and not share.limit for share in shares)
        perConnection = 2 if unbounded else 1     # one of those may hold a file too
        capacity = max(usable - reserved, 0) // perConnection
        wanted = sum(share.limit for share in shares)
        limits = " + ".join(f"{share.key} {share.limit}" for share in shares if share.limit)
        advice = ("raise the process's file limit (ulimit -n, LimitNOFILE= in a systemd unit) "
                  "or lower the connection limits")
        if requested and requested > capacity:
            raise BudgetError("max_connections", (
                f"{requested} connections need more file descriptors than the limit of {fileLimit} "
                f"allows (at most {capacity} connections fit, {RESERVED_FILES} descriptors are kept "
                f"for the process{' and ' + str(reserved) + ' for message files' if reserved else ''}); "
                f"{advice}"))
        budget = requested or capacity
        if wanted > budget:
            key = "max_connections" if requested else max(shares, key=lambda share: share.limit).key
            raise BudgetError(key, (
                f"the protocols' connection limits add up to {wanted} ({limits}), more than the "
                f"{budget} connections the process can hold "
                f"({'max_connections' if requested else f'file limit {fileLimit}'}); {advice}"))
        if budget < 1:
            raise BudgetError("max_connections", f"the file limit of {fileLimit} leaves no room for "
                                                 f"connections; {advice}")
        self.limit = budget
        return budget
