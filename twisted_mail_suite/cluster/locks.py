# -*- test-case-name: tests.cluster.test_shared -*-
"""
POP3 maildrop locks shared by every process through Redis: a lease
(C{SET key token NX PX lease}) renewed while the session lives (and
taken again at once when Redis comes back without it, after a restart)
and released on logout, by its holder only (compare-and-delete).  A
process that dies without releasing loses its leases when they expire.
"""
from __future__ import annotations

import secrets
from typing import Any, Callable

from twisted.application.internet import TimerService
from twisted.internet.defer import Deferred
from twisted.logger import Logger
from twisted.python.failure import Failure
from zope.interface import implementer

from ..errors import MailboxInUse
from ..interfaces import IMaildropLocks
from .client import RedisClient

__all__ = ["LEASE", "RedisMaildropLocks"]

LEASE = 30.0                 # seconds a lease lasts unless renewed (renewed every third of it)
PREFIX = b"mailsuite:pop3lock:"

# KEYS[1] the lock, ARGV[1] our token, ARGV[2] the lease in ms; a lease Redis forgot (a restart) is taken again
RENEW = (b"local v = redis.call('GET', KEYS[1]) "
         b"if v == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end "
         b"if not v then redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2]) return 1 end return 0")
RELEASE = b"if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0"


@implementer(IMaildropLocks)
class RedisMaildropLocks(TimerService):
    """
    L{IMaildropLocks} over Redis; a service (its timer renews the leases
    this process holds).
    """

    log = Logger()

    def __init__(self, client: RedisClient, clock: Any, lease: float = LEASE) -> None:
        super().__init__(lease / 3, self.renew)
        self.clock = clock
        self._client = client
        self._lease = lease
        self._held: dict[str, bytes] = {}     # user -> our token
        client.onConnect(lambda protocol: clock.callLater(0, self.renew))   # Redis back (restarted?): at once

    def _key(self, user: str) -> bytes:
        return PREFIX + user.encode("utf-8")

    def acquire(self, user: str) -> Deferred:
        """
        @return: a Deferred firing with the release callable, failing with
            L{MailboxInUse} (another session, in any process, holds it) or
            L{twisted_mail_suite.cluster.RedisUnavailable}.
        """
        token = secrets.token_hex(16).encode("ascii")
        d = self._client.execute(b"SET", self._key(user), token, b"NX", b"PX", int(self._lease * 1000))
        return d.addCallback(self._acquired, user, token)

    def _acquired(self, reply: object, user: str, token: bytes) -> Callable[[], None]:
        if reply is None:
            raise MailboxInUse(user)
        self._held[user] = token
        released: list[bool] = []

        def release() -> None:
            if released:
                return
            released.append(True)
            if self._held.get(user) == token:
                del self._held[user]
            self._client.execute(b"EVAL", RELEASE, 1, self._key(user), token).addErrback(
                self._failed, "released (it expires by itself)", user)

        return release

    def isHeld(self, user: str) -> bool:
        return user in self._held

    def renew(self) -> None:
        """
        Extend every lease this process holds.
        """
        for user, token in list(self._held.items()):
            d = self._client.execute(b"EVAL", RENEW, 1, self._key(user), token, int(self._lease * 1000))
            d.addCallback(self._renewed, user).addErrback(self._failed, "renewed", user)

    def _renewed(self, reply: object, user: str) -> None:
        if reply == 0 and user in self._held:
            self.log.warn("POP3 lease of {user} was lost (expired while Redis was unreachable?)", user=user)

    def _failed(self, failure: Failure, what: str, user: str) -> None:
        self.log.warn("POP3 lease of {user} not {what}: {error}", user=user, what=what,
                      error=failure.getErrorMessage())
