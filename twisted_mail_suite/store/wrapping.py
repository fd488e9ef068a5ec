# -*- test-case-name: tests.store.test_notifying -*-
"""
Stores that wrap a store: everything forwarded to C{inner}, starting and
stopping included, so a wrapper overrides only what it changes
(L{twisted_mail_suite.store.notifying.NotifyingStore} announces commits,
the test harness's faulty store fails or delays them).
"""
from __future__ import annotations

from typing import Iterable

from twisted.application.service import IService, Service
from twisted.internet.defer import Deferred, maybeDeferred
from zope.interface import implementer

from ..interfaces import IMailStore, IPendingDelivery

__all__ = ["ForwardingDelivery", "ForwardingStore"]


@implementer(IPendingDelivery)
class ForwardingDelivery:
    """
    An L{IPendingDelivery} that forwards to C{inner}.
    """

    def __init__(self, inner: IPendingDelivery) -> None:
        self.inner = inner

    @property
    def size(self) -> int:
        return self.inner.size  # type: ignore[no-any-return]

    def write(self, data: bytes) -> None:
        self.inner.write(data)

    def abort(self) -> None:
        self.inner.abort()

    def commit(self) -> Deferred:
        return self.inner.commit()  # type: ignore[no-any-return]


@implementer(IMailStore)
class ForwardingStore(Service):
    """
    An L{IMailStore} that forwards to C{inner}; starting and stopping it
    starts and stops C{inner}.

    @ivar inner: the wrapped store.
    """

    def __init__(self, inner: IMailStore) -> None:
        self.inner = inner

    def privilegedStartService(self) -> None:
        IService(self.inner).privilegedStartService()
        super().privilegedStartService()

    def startService(self) -> None:
        IService(self.inner).startService()
        super().startService()

    def stopService(self) -> Deferred:
        super().stopService()
        return maybeDeferred(IService(self.inner).stopService)

    def beginDelivery(self, users: Iterable[str], sender: str = "", subject: str = "") -> IPendingDelivery:
        return self.inner.beginDelivery(users, sender, subject)

    def listMessages(self, user: str) -> Deferred:
        return self.inner.listMessages(user)  # type: ignore[no-any-return]

    def readMessage(self, user: str, uid: str) -> Deferred:
        return self.inner.readMessage(user, uid)  # type: ignore[no-any-return]

    def markSeen(self, user: str, uids: Iterable[str]) -> Deferred:
        return self.inner.markSeen(user, uids)  # type: ignore[no-any-return]

    def deleteMessages(self, user: str, uids: Iterable[str]) -> Deferred:
        return self.inner.deleteMessages(user, uids)  # type: ignore[no-any-return]
