# -*- test-case-name: tests.cluster.test_client -*-
"""
A small Redis client over Twisted (RESP2, L{resp}): one reconnecting
connection for commands (L{RedisClient}) and one for pub/sub
(L{RedisSubscriber}), both services.

Why our own and not txredisapi (the Twisted client the issue names): it
installs and works on Python 3.11 and Twisted 26, but a command given
while Redis is down waits, unanswered, for the next connection (measured:
nothing within 5 s, C{replyTimeout} or not), so a login would hang
instead of failing fast; and its subscriber needs its connection callback
overridden to resubscribe.  Here a command fails at once with
L{RedisUnavailable} while there is no connection, or after C{timeout}
seconds without a reply (the connection is then dropped and remade); the
subscriber sends SUBSCRIBE for every channel on every (re)connection;
replies stay bytes.
"""
from __future__ import annotations

from collections import deque
from typing import Any, Callable

from twisted.application.internet import ClientService, backoffPolicy
from twisted.application.service import MultiService
from twisted.internet.defer import Deferred, TimeoutError, fail, succeed
from twisted.internet.endpoints import TCP4ClientEndpoint
from twisted.internet.protocol import Factory, Protocol
from twisted.logger import Logger
from twisted.python.failure import Failure

from ..clusterconfig import RedisAddress
from ..errors import SharedStateUnavailable
from .resp import ReplyParser, ResponseError, encode

__all__ = ["RedisClient", "RedisProtocol", "RedisSubscriber", "RedisUnavailable", "ResponseError"]

_PUSHED = frozenset({b"message", b"pmessage", b"subscribe", b"unsubscribe", b"psubscribe", b"punsubscribe"})
COMMAND_TIMEOUT = 2.0     # seconds a command waits for its reply before Redis counts as down


class RedisUnavailable(SharedStateUnavailable):
    """
    Redis cannot be reached now (no connection, or no reply in time).
    """


class RedisProtocol(Protocol):
    """
    One connection: commands answered in order; with C{pushed} set, the
    messages of a subscribed connection go there instead.
    """

    def __init__(self) -> None:
        self._parser = ReplyParser()
        self._waiting: deque[Deferred] = deque()
        self.pushed: Callable[[list], object] | None = None
        self.lost: Callable[[RedisProtocol], object] | None = None

    def execute(self, *args: bytes | str | int | float) -> Deferred:
        d: Deferred = Deferred()
        self._waiting.append(d)
        self.transport.write(encode(*args))
        return d

    def itself(self) -> RedisProtocol:
        """
        This protocol (C{ClientService} hands a proxy of it to its
        C{prepareConnection}; the proxy passes this call through).
        """
        return self

    def send(self, *args: bytes | str | int | float) -> None:
        """
        Send a command whose answers are pushed (SUBSCRIBE, UNSUBSCRIBE).
        """
        self.transport.write(encode(*args))

    def dataReceived(self, data: bytes) -> None:
        try:
            replies = self._parser.feed(data)
        except Exception:
            self.transport.abortConnection()
            return
        for reply in replies:
            if self.pushed is not None and isinstance(reply, list) and reply and reply[0] in _PUSHED:
                self.pushed(reply)
            elif self._waiting:
                d = self._waiting.popleft()
                if isinstance(reply, ResponseError):
                    d.errback(reply)
                else:
                    d.callback(reply)

    def connectionLost(self, reason: Failure = None) -> None:   # type: ignore[assignment]
        waiting, self._waiting = self._waiting, deque()
        for d in waiting:
            d.errback(RedisUnavailable("connection to Redis lost"))
        if self.lost is not None:
            self.lost(self)


class _Connection(MultiService):
    """
    One reconnecting connection (a C{ClientService}, backing off from
    0.1 s to 2 s); L{onConnect} callbacks run on every new connection,
    after AUTH and SELECT.
    """

    log = Logger()

    def __init__(self, reactor: Any, address: RedisAddress, clock: Any = None,
                 timeout: float = COMMAND_TIMEOUT) -> None:
        super().__init__()
        self.address = address
        self.clock = clock if clock is not None else reactor
        self.timeout = timeout
        self.protocol: RedisProtocol | None = None
        self._onConnect: list[Callable[[RedisProtocol], Any]] = []
        self._onLost: list[Callable[[], object]] = []
        endpoint = TCP4ClientEndpoint(reactor, address.host, address.port, timeout=max(1, int(timeout)))
        self._service = ClientService(endpoint, Factory.forProtocol(RedisProtocol),
                                      retryPolicy=backoffPolicy(0.1, 2.0), clock=self.clock,
                                      prepareConnection=self._prepare)
        self._service.setServiceParent(self)
        self._reported = False

    def onConnect(self, callback: Callable[[RedisProtocol], Any]) -> None:
        self._onConnect.append(callback)

    def onLost(self, callback: Callable[[], object]) -> None:
        self._onLost.append(callback)

    @property
    def connected(self) -> bool:
        return self.protocol is not None

    def _prepare(self, proxy: RedisProtocol) -> Deferred:
        protocol = proxy.itself()
        protocol.lost = self._lost
        d: Deferred = succeed(None)
        address = self.address
        if address.password is not None:
            auth = (address.username, address.password) if address.username else (address.password,)
            d.addCallback(lambda _: self._timed(protocol.execute(b"AUTH", *auth)))
        if address.db:
            d.addCallback(lambda _: self._timed(protocol.execute(b"SELECT", address.db)))
        for callback in self._onConnect:
            d.addCallback(lambda _, callback=callback: callback(protocol))
        d.addCallback(lambda _: self._ready(protocol))
        d.addErrback(self._prepareFailed, protocol)
        return d

    def _ready(self, protocol: RedisProtocol) -> None:
        if protocol.transport is not None and protocol.lost is not None:
            self.protocol = protocol
            if self._reported:
                self.log.info("Redis at {host}:{port} reachable again", host=self.address.host,
                              port=self.address.port)
            self._reported = False

    def _prepareFailed(self, failure: Failure, protocol: RedisProtocol) -> Failure:
        self.log.warn("Redis at {host}:{port}: {error}", host=self.address.host, port=self.address.port,
                      error=failure.getErrorMessage())
        protocol.transport.abortConnection()
        return failure

    def _lost(self, protocol: RedisProtocol) -> None:
        protocol.lost = None
        if self.protocol is protocol:
            self.protocol = None
            if not self._reported:
                self._reported = True
                self.log.warn("Redis at {host}:{port} unreachable; reconnecting", host=self.address.host,
                              port=self.address.port)
            for callback in list(self._onLost):
                callback()

    def _timed(self, d: Deferred) -> Deferred:
        protocol = self.protocol

        def timedOut(failure: Failure) -> Failure:
            if failure.check(TimeoutError):
                if protocol is not None and protocol.transport is not None:
                    protocol.transport.abortConnection()   # replies are out of step: start afresh
                return Failure(RedisUnavailable(f"no reply from Redis within {self.timeout:g} s"))
            return failure

        return d.addTimeout(self.timeout, self.clock).addErrback(timedOut)

    def stopService(self) -> Deferred:
        protocol, self.protocol = self.protocol, None
        if protocol is not None:
            protocol.lost = None
        return super().stopService()


class RedisClient(_Connection):
    """
    The command connection of one process.  Until its first connection
    (a process starting), a command waits for it, up to C{timeout}; after
    that, one given while Redis is unreachable fails at once.
    """

    def __init__(self, reactor: Any, address: RedisAddress, clock: Any = None,
                 timeout: float = COMMAND_TIMEOUT) -> None:
        super().__init__(reactor, address, clock, timeout)
        self._first: list[Deferred] | None = []      # waiting for the first connection; None once made
        self.onConnect(self._firstConnection)

    def _firstConnection(self, protocol: RedisProtocol) -> None:
        first, self._first = self._first, None
        for d in first or ():
            self.clock.callLater(0, d.callback, protocol)   # once ready (after the other callbacks)

    def execute(self, *args: bytes | str | int | float) -> Deferred:
        """
        Send one command.

        @return: a Deferred firing with its reply (bytes, int, None or a
            list), failing with L{ResponseError} for an error reply or
            L{RedisUnavailable} when Redis cannot be reached.
        """
        protocol = self.protocol
        if protocol is None:
            if self._first is not None:
                waiting: Deferred = Deferred()
                self._first.append(waiting)
                return self._timed(waiting).addCallback(lambda protocol: self._timed(protocol.execute(*args)))
            return fail(RedisUnavailable(f"Redis at {self.address.host}:{self.address.port} is unreachable"))
        return self._timed(protocol.execute(*args))


class RedisSubscriber(_Connection):
    """
    The pub/sub connection of one process: every channel subscribed to is
    subscribed again on every new connection (a Redis restart forgets
    them all).
    """

    def __init__(self, reactor: Any, address: RedisAddress, clock: Any = None,
                 timeout: float = COMMAND_TIMEOUT) -> None:
        super().__init__(reactor, address, clock, timeout)
        self._channels: dict[bytes, list[Callable[[bytes], object]]] = {}
        self.onConnect(self._resubscribe)

    def _resubscribe(self, protocol: RedisProtocol) -> Deferred | None:
        protocol.pushed = self._pushed
        if not self._channels:
            return None
        protocol.send(b"SUBSCRIBE", *self._channels)
        # answered in order: once PING is, every channel is subscribed
        return self._timed(protocol.execute(b"PING"))

    def whenSubscribed(self) -> Deferred:
        """
        @return: a Deferred firing once the channels subscribed so far are
            in effect (failing with L{RedisUnavailable} if Redis is down).
        """
        if self.protocol is None:
            return fail(RedisUnavailable("Redis is unreachable"))
        return self._timed(self.protocol.execute(b"PING"))

    def _pushed(self, message: list) -> None:
        if message[0] not in (b"message", b"pmessage"):
            return
        channel, payload = message[-2], message[-1]
        for callback in list(self._channels.get(channel, ())):
            try:
                callback(payload)
            except Exception:
                self.log.failure("Subscriber of {channel!r} failed", channel=channel)

    def subscribe(self, channel: bytes, callback: Callable[[bytes], object]) -> Callable[[], None]:
        """
        Call C{callback(payload)} (bytes) for each message on C{channel},
        from now on and after every reconnection.

        @return: the unsubscribe callable.
        """
        callbacks = self._channels.get(channel)
        if callbacks is None:
            callbacks = self._channels[channel] = []
            if self.protocol is not None:
                self.protocol.send(b"SUBSCRIBE", channel)
        callbacks.append(callback)

        def unsubscribe() -> None:
            if callback in callbacks:
                callbacks.remove(callback)
            if not callbacks and self._channels.get(channel) is callbacks:
                del self._channels[channel]
                if self.protocol is not None:
                    self.protocol.send(b"UNSUBSCRIBE", channel)

        return unsubscribe
