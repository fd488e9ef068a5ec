# -*- test-case-name: tests.store.test_notifying -*-
"""
New-mail events, published once for every backend: L{NotifyingStore} wraps
any L{IMailStore} and, after a delivery's commit succeeds, publishes one
L{NewMailEvent} per recipient on the bus.  Backends publish nothing.
"""
from __future__ import annotations

from typing import Iterable

from twisted.application.service import IService, Service
from twisted.internet.defer import Deferred, maybeDeferred
from zope.interface import implementer

from ..events import NewMailEvent
from ..interfaces import IEventBus, IMailStore, IPendingDelivery

__all__ = ["NotifyingStore"]


@implementer(IPendingDelivery)
class _NotifyingDelivery:
    def __init__(self, inner: IPendingDelivery, bus: IEventBus, users: list[str],
                 sender: str, subject: str) -> None:
        self._inner = inner
        self._bus = bus
        self._users = users
        self._sender = sender
        self._subject = subject

    @property
    def size(self) -> int:
        return self._inner.size  # type: ignore[no-any-return]

    def write(self, data: bytes) -> None:
        self._inner.write(data)

    def abort(self) -> None:
        self._inner.abort()

    def commit(self) -> Deferred:
        return self._inner.commit().addCallback(self._committed)

    def _committed(self, uids: list[str]) -> list[str]:
        for user, uid in zip(self._users, uids):
            self._bus.publish(NewMailEvent(user, self._sender, self._subject, uid))
        return uids


@implementer(IMailStore)
class NotifyingStore(Service):
    """
    C{inner}, announcing each committed message on C{bus}.  Starting and
    stopping it starts and stops C{inner}.

    @ivar inner: the wrapped store.
    """

    def __init__(self, inner: IMailStore, bus: IEventBus) -> None:
        self.inner = inner
        self.bus = bus

    def startService(self) -> None:
        IService(self.inner).startService()
        super().startService()

    def stopService(self) -> Deferred:
        super().stopService()
        return maybeDeferred(IService(self.inner).stopService)

    def beginDelivery(self, users: Iterable[str], sender: str = "", subject: str = "") -> _NotifyingDelivery:
        users = list(dict.fromkeys(users))
        return _NotifyingDelivery(self.inner.beginDelivery(users, sender, subject), self.bus,
                                  users, sender, subject)

    def listMessages(self, user: str) -> Deferred:
        return self.inner.listMessages(user)  # type: ignore[no-any-return]

    def readMessage(self, user: str, uid: str) -> Deferred:
        return self.inner.readMessage(user, uid)  # type: ignore[no-any-return]

    def markSeen(self, user: str, uids: Iterable[str]) -> Deferred:
        return self.inner.markSeen(user, uids)  # type: ignore[no-any-return]

    def deleteMessages(self, user: str, uids: Iterable[str]) -> Deferred:
        return self.inner.deleteMessages(user, uids)  # type: ignore[no-any-return]
