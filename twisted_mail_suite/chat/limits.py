# -*- test-case-name: tests.chat.test_limits -*-
"""
Per-client limits that need a clock but no transport: the flood throttle (a
token bucket) and the idle tracker (one timer for all connections).
"""
from __future__ import annotations

from collections import OrderedDict
from typing import Any, Callable, Hashable

from twisted.internet.interfaces import IDelayedCall, IReactorTime


class TokenBucket:
    """
    C{rate} tokens a second, at most C{capacity} saved up; one line costs one.
    """

    __slots__ = ("rate", "capacity", "tokens", "stamp")

    def __init__(self, rate: float, capacity: int, now: float) -> None:
        self.rate = rate
        self.capacity = float(max(capacity, 1))
        self.tokens = self.capacity
        self.stamp = now

    def consume(self, now: float) -> bool:
        """
        Take one token if there is one.
        """
        tokens = self.tokens + (now - self.stamp) * self.rate
        if tokens > self.capacity:
            tokens = self.capacity
        self.stamp = now
        if tokens >= 1.0:
            self.tokens = tokens - 1.0
            return True
        self.tokens = tokens
        return False


class IdleTracker:
    """
    Calls C{expire(key)} for each key not touched for C{timeout} seconds.

    Every client shares one timeout, so the least recently active key is
    always the first of an ordered dict: a touch moves a key to the end, and
    a single delayed call waits for the first key's deadline.  That costs one
    dict entry per connection instead of one delayed call each.
    """

    def __init__(self, clock: IReactorTime, timeout: float, expire: Callable[[Any], object]) -> None:
        self._clock = clock
        self.timeout = timeout
        self._expire = expire
        self._last: OrderedDict[Hashable, float] = OrderedDict()
        self._call: IDelayedCall | None = None

    def __len__(self) -> int:
        return len(self._last)

    def touch(self, key: Hashable) -> None:
        """
        C{key} was active just now.
        """
        if not self.timeout:
            return
        last = self._last
        last[key] = self._clock.seconds()
        last.move_to_end(key)
        if self._call is None:
            self._call = self._clock.callLater(self.timeout, self._check)

    def forget(self, key: Hashable) -> None:
        self._last.pop(key, None)
        if not self._last:
            self.stop()

    def _check(self) -> None:
        self._call = None
        last = self._last
        now = self._clock.seconds()
        while last:
            key, stamp = next(iter(last.items()))
            if now - stamp < self.timeout:
                self._call = self._clock.callLater(stamp + self.timeout - now, self._check)
                return
            del last[key]
            self._expire(key)

    def stop(self) -> None:
        if self._call is not None and self._call.active():
            self._call.cancel()
        self._call = None
