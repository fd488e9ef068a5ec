# -*- test-case-name: tests.store.test_notifying -*-
"""
New-mail events, published once for every backend: L{NotifyingStore} wraps
any L{IMailStore} and, after a delivery's commit succeeds, publishes one
L{NewMailEvent} per recipient on the bus.  Backends publish nothing.
"""
from __future__ import annotations

from typing import Iterable

from twisted.internet.defer import Deferred

from ..events import NewMailEvent
from ..interfaces import IEventBus, IMailStore, IPendingDelivery
from .wrapping import ForwardingDelivery, ForwardingStore

__all__ = ["NotifyingStore"]


class _NotifyingDelivery(ForwardingDelivery):
    def __init__(self, inner: IPendingDelivery, bus: IEventBus, users: list[str],
                 sender: str, subject: str) -> None:
        self.inner = inner
        self.write = inner.write            # type: ignore[method-assign]  # once per chunk: no frame of ours
        self._bus = bus
        self._users = users
        self._sender = sender
        self._subject = subject

    def commit(self) -> Deferred:
        return self.inner.commit().addCallback(self._committed)

    def _committed(self, uids: list[str]) -> list[str]:
        for user, uid in zip(self._users, uids):
            self._bus.publish(NewMailEvent(user, self._sender, self._subject, uid))
        return uids


class NotifyingStore(ForwardingStore):
    """
    C{inner}, announcing each committed message on C{bus}.  Starting and
    stopping it starts and stops C{inner}.

    @ivar inner: the wrapped store.
    """

    def __init__(self, inner: IMailStore, bus: IEventBus) -> None:
        super().__init__(inner)
        self.bus = bus

    def beginDelivery(self, users: Iterable[str], sender: str = "", subject: str = "") -> _NotifyingDelivery:
        users = list(dict.fromkeys(users))
        return _NotifyingDelivery(self.inner.beginDelivery(users, sender, subject), self.bus,
                                  users, sender, subject)
