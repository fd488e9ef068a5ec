# -*- test-case-name: tests.cluster.test_shared -*-
"""
Failed-login counts shared by every process through Redis
(L{IFailureCounters}): one atomic script increments a count and, for the
first failure, starts its window (C{PEXPIRE}).
"""
from __future__ import annotations

from twisted.internet.defer import Deferred
from zope.interface import implementer

from ..interfaces import IFailureCounters
from .client import RedisClient

__all__ = ["RedisFailureCounters"]

PREFIX = b"mailsuite:failures:"
BUMP = b"local n = redis.call('INCR', KEYS[1]) if n == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end return n"


@implementer(IFailureCounters)
class RedisFailureCounters:
    """
    Counts under C{mailsuite:failures:KEY}, each expiring a window after
    its first failure.
    """

    def __init__(self, client: RedisClient) -> None:
        self._client = client

    def _key(self, key: str) -> bytes:
        return PREFIX + key.encode("utf-8")

    def current(self, key: str) -> Deferred:
        return self._client.execute(b"GET", self._key(key)).addCallback(lambda value: int(value or 0))

    def bump(self, key: str, window: float) -> Deferred:
        return self._client.execute(b"EVAL", BUMP, 1, self._key(key), max(1, int(window * 1000)))

    def reset(self, key: str) -> Deferred:
        return self._client.execute(b"DEL", self._key(key))
