# -*- test-case-name: tests.delivery.test_target -*-
"""
The one delivery target, two-phase as maddy's (C{Start -> AddRcpt -> Body
-> Commit/Abort}): a protocol starts a L{Delivery}, adds the L{Route} of
each recipient, writes the message and commits or aborts it.

All local users of all recipients get the message through ONE
C{IMailStore.beginDelivery} transaction (deduplicated, in order), begun
lazily at the first write so that the recipients and the subject may still
be given after L{DeliveryTarget.start} (SMTP learns the Subject only once
the headers went by).

Fan-out: today there is one leg, the local mailboxes.  The outbound queue
will be a second leg beside it (begun with the remote routes, committed
with the local one); until then a remote route is refused with
L{RelayUnavailable}.
"""
from __future__ import annotations

from twisted.internet.defer import Deferred
from zope.interface import implementer

from ..errors import RelayUnavailable
from ..interfaces import IMailStore, IPendingDelivery
from .router import LocalRoute, RemoteRoute, Route

__all__ = ["DeliveryTarget", "Delivery"]


class DeliveryTarget:
    """
    Starts deliveries into C{store}.
    """

    def __init__(self, store: IMailStore) -> None:
        self.store = store

    def start(self, sender: str = "", subject: str = "") -> Delivery:
        """
        Begin one message from C{sender} (the reverse path, C{""} for the
        null sender).  C{sender} and C{subject} reach the new-mail event.
        """
        return Delivery(self.store, sender, subject)


@implementer(IPendingDelivery)
class Delivery:
    """
    One message on its way: recipients first, then the text, then commit
    or abort.  Provides L{IPendingDelivery}, so a protocol can hand it to
    anything that writes a message.

    @ivar sender: the reverse path.
    @ivar subject: the Subject, for the new-mail event; may be set until
        the first write.
    @ivar size: octets written so far.
    """

    def __init__(self, store: IMailStore, sender: str, subject: str) -> None:
        self._store = store
        self.sender = sender
        self.subject = subject
        self._users: dict[str, None] = {}
        self._local: IPendingDelivery | None = None
        self._finished = False
        self.size = 0

    @property
    def users(self) -> tuple[str, ...]:
        """
        The local users the message goes to so far, deduplicated, in order.
        """
        return tuple(self._users)

    def addRecipient(self, route: Route) -> None:
        """
        Deliver to C{route} as well.

        @raise RelayUnavailable: for a L{RemoteRoute} (no outbound queue yet).
        @raise RuntimeError: once the text has begun or the delivery ended.
        """
        if self._local is not None or self._finished:
            raise RuntimeError("recipients must be added before the message text")
        if isinstance(route, RemoteRoute):
            raise RelayUnavailable(route.address)
        assert isinstance(route, LocalRoute)
        for user in route.users:
            self._users[user] = None

    def _begin(self) -> IPendingDelivery:
        try:
            local = self._store.beginDelivery(list(self._users), self.sender, self.subject)
        except BaseException:
            self._finished = True
            raise
        self._local = local
        return local

    def write(self, data: bytes) -> None:
        """
        Append message text (CRLF lines, wire form); the first write begins
        the store's transaction.
        """
        if self._finished:
            raise RuntimeError("write after the delivery ended")
        local = self._local if self._local is not None else self._begin()
        local.write(data)
        self.size += len(data)

    def commit(self) -> Deferred:
        """
        Make the message durable for every recipient.

        @return: a Deferred firing with the new UIDs (one per local user),
            or failing (the store's C{DeliveryFailed}) with nothing kept.
        """
        if self._finished:
            raise RuntimeError("commit after the delivery ended")
        local = self._local if self._local is not None else self._begin()
        self._finished = True
        self._local = None
        return local.commit()

    def abort(self) -> None:
        """
        Forget the message; nothing of it stays.  Idempotent.
        """
        if self._finished:
            return
        self._finished = True
        if self._local is not None:
            local, self._local = self._local, None
            local.abort()
