# -*- test-case-name: tests.delivery.test_target -*-
"""
The one delivery target, two-phase as maddy's (C{Start -> AddRcpt -> Body
-> Commit/Abort}): a protocol starts a L{Delivery}, adds the L{Route} of
each recipient, writes the message and commits or aborts it.

Fan-out, in one transaction:

 - every local user of every recipient gets the message through ONE
   C{IMailStore.beginDelivery} transaction (deduplicated, in order);
 - every remote recipient goes into the outbound queue
   (L{IOutboundQueue}) as ONE queued message.

Both legs are begun lazily at the first write, so that the recipients and
the subject may still be given after L{DeliveryTarget.start} (SMTP learns
the Subject only once the headers went by).  The commit is two-phase: the
queued copy is made durable but invisible first (C{prepare}), then the
local copies are committed, then the queued copy is published; if either
fails, nothing is kept (a queued copy is dropped; local copies already
committed are deleted again).  So a 250 is given only once every copy is
durable, and a crash in the middle leaves no half-acknowledged message
(an unpublished queue file is removed at start; the client, which got no
250, sends again).

Without an outbound queue (C{relay.mode: off}) a remote route is refused
with L{RelayUnavailable}.

Each commit that succeeds tells the metrics how long it took, from the
call until every copy was durable (C{IMetrics.deliveryLatency}).
"""
from __future__ import annotations

from time import perf_counter
from typing import Any, Callable

from twisted.internet.defer import Deferred, DeferredList, maybeDeferred
from twisted.logger import Logger
from twisted.python.failure import Failure
from zope.interface import implementer

from ..errors import DeliveryFailed, RelayUnavailable
from ..interfaces import NULL_METRICS, IMailStore, IMetrics, IOutboundQueue, IPendingDelivery, IPendingOutbound
from .router import LocalRoute, RemoteRoute, Route

__all__ = ["DeliveryTarget", "Delivery", "stripReturnPath"]


def stripReturnPath(data: bytes) -> bytes:
    """
    C{data} (the start of a message) without a leading C{Return-Path:}
    field: only the final delivery adds one (RFC 5321 §4.4), so a copy
    that goes on to another server must not carry ours.
    """
    if data[:12].lower() != b"return-path:":
        return data
    end = data.find(b"\r\n")
    while end >= 0 and data[end + 2:end + 3] in (b" ", b"\t"):
        end = data.find(b"\r\n", end + 2)
    return b"" if end < 0 else data[end + 2:]


class DeliveryTarget:
    """
    Starts deliveries into C{store} and, for remote recipients, into
    C{outbound} (L{None}: remote recipients are refused), timing each
    commit in C{metrics}.
    """

    def __init__(self, store: IMailStore, outbound: IOutboundQueue | None = None,
                 metrics: IMetrics = NULL_METRICS) -> None:
        self.store = store
        self.outbound = outbound
        self.metrics = metrics

    def start(self, sender: str = "", subject: str = "") -> Delivery:
        """
        Begin one message from C{sender} (the reverse path, C{""} for the
        null sender).  C{sender} and C{subject} reach the new-mail event.
        """
        return Delivery(self.store, sender, subject, self.outbound, self.metrics)


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

    log = Logger()

    def __init__(self, store: IMailStore, sender: str, subject: str,
                 outbound: IOutboundQueue | None = None, metrics: IMetrics = NULL_METRICS,
                 timer: Callable[[], float] = perf_counter) -> None:
        self._store = store
        self._outbound = outbound
        self._metrics = metrics
        self._timer = timer
        self.sender = sender
        self.subject = subject
        self._users: dict[str, None] = {}
        self._remote: dict[str, None] = {}
        self._local: IPendingDelivery | None = None
        self._queued: IPendingOutbound | None = None
        self._begun = False
        self._finished = False
        self.size = 0

    @property
    def users(self) -> tuple[str, ...]:
        """
        The local users the message goes to so far, deduplicated, in order.
        """
        return tuple(self._users)

    @property
    def remote(self) -> tuple[str, ...]:
        """
        The remote recipients so far, deduplicated, in order.
        """
        return tuple(self._remote)

    def addRecipient(self, route: Route) -> None:
        """
        Deliver to C{route} as well.

        @raise RelayUnavailable: for a L{RemoteRoute} without an outbound queue.
        @raise RuntimeError: once the text has begun or the delivery ended.
        """
        if self._begun or self._finished:
            raise RuntimeError("recipients must be added before the message text")
        if isinstance(route, RemoteRoute):
            if self._outbound is None:
                raise RelayUnavailable(route.address)
            self._remote[route.address] = None
            return
        assert isinstance(route, LocalRoute)
        for user in route.users:
            self._users[user] = None

    def _begin(self) -> None:
        self._begun = True
        try:
            if self._users or not self._remote:
                self._local = self._store.beginDelivery(list(self._users), self.sender, self.subject)
            if self._remote:
                assert self._outbound is not None
                self._queued = self._outbound.begin(self.sender, list(self._remote))
        except BaseException:
            self.abort()
            raise

    def write(self, data: bytes) -> None:
        """
        Append message text (CRLF lines, wire form); the first write begins
        the transaction.  The queued copy gets no C{Return-Path:}.
        """
        if self._finished:
            raise RuntimeError("write after the delivery ended")
        first = not self._begun
        if first:
            self._begin()
        if self._local is not None:
            self._local.write(data)
        if self._queued is not None:
            self._queued.write(stripReturnPath(data) if first else data)
        self.size += len(data)

    def commit(self) -> Deferred:
        """
        Make the message durable for every recipient.

        @return: a Deferred firing with the new UIDs (one per local user)
            followed by the queue id (if any recipient is remote), or
            failing (C{DeliveryFailed}) with nothing kept.
        """
        if self._finished:
            raise RuntimeError("commit after the delivery ended")
        if not self._begun:
            self._begin()
        self._finished = True
        began = self._timer()
        local, queued, self._local, self._queued = self._local, self._queued, None, None
        if queued is None:                      # the usual case: local users only
            assert local is not None
            return local.commit().addCallback(self._committed, began)  # type: ignore[no-any-return]
        return self._commit(local, queued).addCallback(self._committed, began)

    def _commit(self, local: IPendingDelivery | None, queued: IPendingOutbound) -> Deferred:
        if local is None:
            return queued.commit().addCallback(lambda queueID: [queueID])
        return self._commitBoth(local, queued)

    def _committed(self, result: list[str], began: float) -> list[str]:
        self._metrics.deliveryLatency(self._timer() - began)
        return result

    def _commitBoth(self, local: IPendingDelivery, queued: IPendingOutbound) -> Deferred:
        users = list(self._users)

        def prepared(_: object) -> Deferred:
            return local.commit().addCallbacks(committed, localFailed)

        def queueFailed(failure: Failure) -> Failure:
            local.abort()
            return failure

        def localFailed(failure: Failure) -> Failure:
            queued.abort()
            return failure

        def committed(uids: list[str]) -> Deferred:
            return queued.commit().addCallbacks(lambda queueID: list(uids) + [queueID],
                                                lambda failure: self._withdraw(users, uids, failure))

        return maybeDeferred(queued.prepare).addCallbacks(prepared, queueFailed)

    def _withdraw(self, users: list[str], uids: list[str], failure: Failure) -> Deferred:
        """
        The queued copy could not be published after the local copies were
        committed: delete those again, then fail as a whole.
        """
        self.log.failure("Outbound copy not queued; withdrawing the local copies", failure)
        deletions = [maybeDeferred(self._store.deleteMessages, user, [uid]) for user, uid in zip(users, uids)]

        def fail(_: Any) -> Failure:
            error = failure.value
            return failure if isinstance(error, DeliveryFailed) else Failure(DeliveryFailed(f"queueing: {error!r}"))

        return DeferredList(deletions, consumeErrors=True).addCallback(fail)

    def abort(self) -> None:
        """
        Forget the message; nothing of it stays.  Idempotent.
        """
        if self._finished:
            return
        self._finished = True
        local, queued, self._local, self._queued = self._local, self._queued, None, None
        if local is not None:
            local.abort()
        if queued is not None:
            queued.abort()
