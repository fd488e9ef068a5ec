# -*- test-case-name: tests.net.test_idle -*-
"""
Idle timeouts for many connections with one timer.

Keys sharing a timeout are kept in a dict in the order they were last
touched: a touch takes a key out and puts it back at the end, so the first
key always has the earliest deadline, and one delayed call waits for it.
An idle connection costs one entry of a plain dict (about 30 octets, where
an C{OrderedDict} entry costs 75 and a delayed call of its own 200), and
its time stamp.

A tracker may serve a few timeouts at once ("lanes"): SMTP waits
C{command_timeout} for a command but C{data_timeout} for message text, so
it touches with the timeout that applies now.  A key is in one lane at a
time; the one delayed call waits for the earliest deadline of all lanes.

A connection waiting on its own work (a password check, a store commit) is
not idle: the protocol calls L{IdleTracker.pause} when it starts waiting
and L{IdleTracker.touch} when the result is answered, which starts a fresh
timeout.

Forgetting the last key cancels the timer, unless the tracker was made
with C{keepTimer}: for connections that come and go one after the other
(SMTP, a connection per message), the next one then needs no delayed call
of its own (each costs a C{callLater} and a C{cancel}); the timer finds
nothing when it runs, and is not renewed.  L{stop} cancels it.
"""
from __future__ import annotations

from typing import Any, Callable, Hashable

from twisted.internet.interfaces import IDelayedCall, IReactorTime
from twisted.logger import Logger

__all__ = ["IdleTracker"]


class IdleTracker:
    """
    Calls C{expire(key)} for each key not touched for its timeout.

    A tracker serves a few timeouts (one lane each), not one per key.
    """

    log = Logger()

    def __init__(self, clock: IReactorTime, timeout: float, expire: Callable[[Any], object],
                 keepTimer: bool = False) -> None:
        """
        @param keepTimer: forgetting the last key leaves the timer (see
            the module docstring).
        """
        self._clock = clock
        self._keepTimer = keepTimer
        self._timeout = timeout
        self._expire = expire
        # timeout -> {key: time of the last touch}, oldest first
        self._default: dict[Hashable, float] = {}
        self._lanes: dict[float, dict[Hashable, float]] = {timeout: self._default}
        self._several = False   # more than the default lane: a key may have to move
        self._call: IDelayedCall | None = None
        self._due = 0.0         # when self._call runs

    @property
    def timeout(self) -> float:
        """
        The default timeout in seconds (C{0}: keys touched with the default
        are never expired).
        """
        return self._timeout

    def __len__(self) -> int:
        return sum(len(lane) for lane in self._lanes.values())

    def __contains__(self, key: Hashable) -> bool:
        return any(key in lane for lane in self._lanes.values())

    def touch(self, key: Hashable, timeout: float | None = None) -> None:
        """
        C{key} was active just now: it expires C{timeout} seconds from now
        (the default L{timeout} if L{None}; never, if C{0}) unless touched,
        paused or forgotten again before.
        """
        if timeout is None:
            timeout = self._timeout
            lane = self._default
        else:
            lane = self._lane(timeout)
        if not timeout:
            self.forget(key)
            return
        if self._several:
            for other in self._lanes.values():
                if other is not lane:
                    other.pop(key, None)
        now = self._clock.seconds()
        lane.pop(key, None)                 # to the end: the dict keeps insertion order
        lane[key] = now
        if self._call is None:
            self._call = self._clock.callLater(timeout, self._check)
            self._due = now + timeout
        elif self._several and now + timeout < self._due:   # a shorter lane
            self._call.reset(timeout)
            self._due = now + timeout

    def _lane(self, timeout: float) -> dict[Hashable, float]:
        lane = self._lanes.get(timeout)
        if lane is None:
            lane = self._lanes[timeout] = {}
            self._several = True
        return lane

    def pause(self, key: Hashable) -> None:
        """
        C{key} is busy (waiting on its own work) and cannot be idle until
        it is touched again.  Unlike L{forget}, the timer stays even if no
        key is left (it then finds nothing to expire): the touch that ends
        the pause comes soon, and a lone busy connection would otherwise
        cancel and make a delayed call per message.
        """
        for lane in self._lanes.values():
            lane.pop(key, None)

    def forget(self, key: Hashable) -> None:
        """
        Stop tracking C{key} (its connection is gone).  Idempotent.  The
        timer is cancelled with the last key, unless the tracker keeps it.
        """
        for lane in self._lanes.values():
            lane.pop(key, None)
        if self._call is not None and not self._keepTimer and not any(self._lanes.values()):
            self._cancel()

    def closeWithin(self, key: Hashable, transport: Any, grace: float) -> None:
        """
        The rule for closing a connection after its last reply: C{key}'s
        C{transport} closes once what was written to it is sent, and if it
        is still there C{grace} seconds later the tracker expires C{key}
        (its C{idleExpired}, which aborts a closing connection).  The
        connection's producer is unregistered first: a registered producer
        keeps a closing transport open.  C{loseConnection} alone would wait
        for ever for a peer that never reads, holding its slot.
        """
        self.touch(key, grace)
        transport.unregisterProducer()
        transport.loseConnection()

    def stop(self) -> None:
        """
        Forget every key and cancel the timer.
        """
        for lane in self._lanes.values():
            lane.clear()
        self._cancel()

    def _cancel(self) -> None:
        call, self._call = self._call, None
        if call is not None and call.active():
            call.cancel()

    def _check(self) -> None:
        self._call = None
        now = self._clock.seconds()
        expired = []
        for timeout, lane in self._lanes.items():
            while lane:
                key, stamp = next(iter(lane.items()))
                if now - stamp < timeout:
                    break
                del lane[key]
                expired.append(key)
        for key in expired:
            try:
                self._expire(key)
            except Exception:
                self.log.failure("Expiring idle connection {key!r} failed", key=key)
        self._schedule()

    def _schedule(self) -> None:
        """
        Wait for the earliest deadline left, if any (the expire callbacks
        may have touched keys and scheduled a call already).
        """
        deadlines = [next(iter(lane.values())) + timeout
                     for timeout, lane in self._lanes.items() if lane]
        if not deadlines:
            self._cancel()
            return
        now = self._clock.seconds()
        due = max(min(deadlines), now)
        if self._call is None:
            self._call = self._clock.callLater(due - now, self._check)
            self._due = due
        elif due < self._due:
            self._call.reset(due - now)
            self._due = due
