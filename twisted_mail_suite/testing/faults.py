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
from twisted.internet.task import deferLater
from twisted.protocols.policies import ProtocolWrapper, WrappingFactory

from ..errors import DeliveryFailed, ProtocolError
from ..interfaces import IMailStore, IPendingDelivery
from ..store.wrapping import ForwardingDelivery, ForwardingStore


class Faults:
    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.failCount = 0
        self.failCode = 451
        self.delay = 0.0
        self.rejections: list[tuple[Callable[[str], bool], int]] = []
        self.dropAfter: int | None = None


class _FaultyDelivery(ForwardingDelivery):
    def __init__(self, inner: IPendingDelivery, faults: Faults, clock: IReactorTime) -> None:
        super().__init__(inner)
        self._faults = faults
        self._clock = clock

    def commit(self) -> Deferred:
        faults = self._faults
        if faults.failCount > 0:
            faults.failCount -= 1
            self.inner.abort()
            return fail(DeliveryFailed("harness failDeliveries", status=faults.failCode))
        if faults.delay > 0:
            return deferLater(self._clock, faults.delay, self.inner.commit)
        return self.inner.commit()  # type: ignore[no-any-return]


class FaultyStore(ForwardingStore):
    """
    The harness's store: the real one, with injectable faults at commit.
    Starting and stopping it starts and stops the real one.
    """

    def __init__(self, inner: IMailStore, faults: Faults, clock: IReactorTime) -> None:
        super().__init__(inner)
        self._faults = faults
        self._clock = clock

    def beginDelivery(self, users: Iterable[str], sender: str = "", subject: str = "") -> _FaultyDelivery:
        return _FaultyDelivery(self.inner.beginDelivery(users, sender, subject), self._faults, self._clock)


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
        if self.factory.faults.dropAfter == 0:
            transport.abortConnection()

    def dataReceived(self, data: bytes) -> None:
        dropAfter = self.factory.faults.dropAfter
        if dropAfter is not None:
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
    harness can close them all at stop.
    """

    protocol = _WatchedConnection

    def __init__(self, wrappedFactory: Any, faults: Faults) -> None:
        super().__init__(wrappedFactory)
        self.faults = faults
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
