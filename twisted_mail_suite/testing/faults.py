# -*- test-case-name: tests.test_testing -*-
"""
Fault injection for L{twisted_mail_suite.testing}, given to the suite at
construction (no patching): a store whose commits can fail or lag, a
router that refuses chosen recipients, and a wrapping factory that can cut
connections and lets the harness close them all at stop.  Inactive faults
cost one attribute check.
"""
from __future__ import annotations

import fnmatch
from typing import Any, Callable, Iterable, Pattern

from twisted.internet.defer import Deferred, DeferredList, fail
from twisted.internet.interfaces import IReactorTime
from twisted.protocols.policies import ProtocolWrapper, WrappingFactory
from twisted.web.server import Site

from ..errors import DeliveryFailed, ProtocolError
from ..interfaces import IMailStore, IPendingDelivery
from ..store.wrapping import ForwardingDelivery, ForwardingStore


CLEARED = "harness cleared while this message was in flight"


class Faults:
    """
    The faults in force, and the harness's generation: L{FaultyStore}
    refuses to commit a delivery begun in an earlier generation, so mail
    still in flight when the harness is cleared never lands after it.
    """

    def __init__(self) -> None:
        self.generation = 0
        self.reset()

    def reset(self) -> None:
        self.failCount = 0
        self.failCode = 451
        self.delay = 0.0
        self.rejections: list[tuple[Callable[[str], bool], int]] = []
        self.dropAfter: int | None = None


class _FaultyDelivery(ForwardingDelivery):
    def __init__(self, inner: IPendingDelivery, store: FaultyStore) -> None:
        super().__init__(inner)
        self._store = store
        self._faults = store.faults
        self._generation = store.faults.generation

    def commit(self) -> Deferred:
        faults = self._faults
        if faults.failCount > 0 and self._generation == faults.generation:
            faults.failCount -= 1
            self.inner.abort()
            return fail(DeliveryFailed("harness failDeliveries", status=faults.failCode))
        if faults.delay > 0:
            return self._store.later(faults.delay, self)
        return self.commitNow()

    def commitNow(self) -> Deferred:
        if self._generation != self._faults.generation:
            return self.abandon()
        return self._store.track(self.inner.commit())

    def abandon(self) -> Deferred:
        self.inner.abort()
        return fail(DeliveryFailed(CLEARED, status=451))


class FaultyStore(ForwardingStore):
    """
    The harness's store: the real one, with injectable faults at commit.
    Starting and stopping it starts and stops the real one.
    """

    def __init__(self, inner: IMailStore, faults: Faults, clock: IReactorTime) -> None:
        super().__init__(inner)
        self.faults = faults
        self._clock = clock
        self._committing: set[Deferred] = set()
        self._delayed: dict[Deferred, tuple[Any, _FaultyDelivery]] = {}

    def beginDelivery(self, users: Iterable[str], sender: str = "", subject: str = "") -> _FaultyDelivery:
        return _FaultyDelivery(self.inner.beginDelivery(users, sender, subject), self)

    def later(self, seconds: float, delivery: _FaultyDelivery) -> Deferred:
        """
        Commit C{delivery} after C{seconds} on the harness clock; L{settle}
        abandons it instead if it is still waiting.
        """
        result: Deferred = Deferred()

        def due() -> None:
            del self._delayed[result]
            delivery.commitNow().chainDeferred(result)

        self._delayed[result] = (self._clock.callLater(seconds, due), delivery)
        return result

    def track(self, committing: Deferred) -> Deferred:
        """
        Remember a commit handed to the real store until it is done.
        """
        done: Deferred = Deferred()
        self._committing.add(done)

        def settled(result: object) -> object:
            self._committing.discard(done)
            done.callback(None)
            return result

        return committing.addBoth(settled)

    def settle(self) -> Deferred:
        """
        Cancel the deliveries still waiting out a delay and wait for the
        commits the real store is doing.

        @return: a Deferred firing when no commit is in flight.
        """
        delayed, self._delayed = self._delayed, {}
        for result, (call, delivery) in delayed.items():
            call.cancel()
            delivery.abandon().chainDeferred(result)
        return DeferredList(list(self._committing))



class FaultyRouter:
    """
    The harness's router: the real one, refusing the recipients that match
    an injected pattern with the injected code (before routing them).
    """

    def __init__(self, inner: Any, faults: Faults) -> None:
        self._inner = inner
        self._faults = faults

    def route(self, address: str) -> Any:
        for matches, code in self._faults.rejections:
            if matches(address):
                raise ProtocolError(b"%d %s" % (code, b"5.1.1" if code >= 500 else b"4.2.0"),
                                    b"Recipient rejected (injected)", f"harness rejects {address}")
        return self._inner.route(address)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


def matcher(pattern: str | Pattern[str]) -> Callable[[str], bool]:
    if isinstance(pattern, str):
        lowered = pattern.lower()
        return lambda address: fnmatch.fnmatchcase(address.lower(), lowered)
    return lambda address: pattern.search(address) is not None


class _WatchedConnection(ProtocolWrapper):
    """
    One connection of the harness: counts the client's lines for the drop
    fault.
    """

    lines = 0

    def makeConnection(self, transport: Any) -> None:
        super().makeConnection(transport)
        if self.factory.faults.dropAfter == 0 and self.factory.droppable:
            transport.abortConnection()

    def dataReceived(self, data: bytes) -> None:
        dropAfter = self.factory.faults.dropAfter
        if dropAfter is not None and self.factory.droppable:
            self.lines += data.count(b"\n")
            if self.lines >= dropAfter:
                self.transport.abortConnection()
                return
        super().dataReceived(data)

    def connectionLost(self, reason: Any) -> None:
        try:
            super().connectionLost(reason)
        finally:
            self.factory.lost(self)


class WatchingFactory(WrappingFactory):
    """
    Wraps a protocol factory of the suite (the service's C{wrapFactory}
    seam): applies the drop fault and knows the open connections, so the
    harness can close them all at stop.  The HTTP listener (a web C{Site})
    is not cut: a browser test switches the faults through it
    (L{twisted_mail_suite.testing.faultsapi}).
    """

    protocol = _WatchedConnection

    def __init__(self, wrappedFactory: Any, faults: Faults) -> None:
        super().__init__(wrappedFactory)
        self.faults = faults
        self.droppable = not isinstance(wrappedFactory, Site)
        self._closed: dict[Any, Deferred] = {}

    def registerProtocol(self, protocol: Any) -> None:
        super().registerProtocol(protocol)
        self._closed[protocol] = Deferred()

    def lost(self, protocol: Any) -> None:
        closed = self._closed.pop(protocol, None)
        if closed is not None:
            closed.callback(None)

    def abortAll(self) -> Deferred:
        """
        Abort every open connection.

        @return: a Deferred firing when they are all gone.
        """
        waiting = list(self._closed.values())
        for protocol in list(self._closed):
            protocol.transport.abortConnection()
        return DeferredList(waiting)
