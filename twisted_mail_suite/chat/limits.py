# -*- test-case-name: tests.chat.test_limits -*-
"""
The flood throttle: a token bucket per client, fed the clock's time (the
idle timeout is the chassis's, L{twisted_mail_suite.net.idle}).
"""
from __future__ import annotations

__all__ = ["TokenBucket"]


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
