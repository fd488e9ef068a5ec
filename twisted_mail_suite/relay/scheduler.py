# -*- test-case-name: tests.relay.test_scheduler -*-
"""
The retry state machine of every queued message, on the reactor clock (a
C{task.Clock} in tests).  A message is I{waiting} (a timer set for its
next attempt), I{active} (an attempt, a bounce or its removal in flight),
I{held} (no timer until released) or gone.

After an attempt, each recipient is sent, failed (a 5xx: bounce) or still
pending (4xx, refused, reset, timeout: deferred); the outcomes and the
next attempt (C{relay.retry_schedule}: the waits in turn, the last one
repeated) are on disk before anything else happens.  A message still
pending when C{relay.max_queue_lifetime} has passed bounces instead.
Failed recipients get one bounce (RFC 3464, composed and queued by the
C{bounce} function); a finished message is removed.

Every outcome is logged as Postfix does, one line per recipient:
C{<id>: to=<rcpt>, relay=<host>, delay=<s>, attempts=<n>, status=sent|deferred|bounced (<reply>)}.
"""
from __future__ import annotations

from typing import Any, Callable, Sequence

from twisted.internet.defer import Deferred, DeferredList, maybeDeferred, succeed
from twisted.logger import Logger
from twisted.python.failure import Failure

from .entry import BOUNCED, DEFERRED, FAILED, PENDING, SENT, CorruptEntry, Outcome, QueueEntry, Recipient, \
    nextDelay
from ..interfaces import NULL_METRICS, IMetrics
from .queue import IRelayQueue

__all__ = ["Scheduler"]

_STATUS_WORD = {SENT: "sent", DEFERRED: "deferred", FAILED: "bounced"}


class Scheduler:
    """
    @param deliver: C{deliver(entry, addresses)} -> Deferred firing with
        the L{Outcome}s of an attempt for those pending recipients.
    @param bounce: C{bounce(entry, recipients)} -> Deferred firing once the
        bounce for those failed L{Recipient}s is queued (or dropped).
    @param metrics: told the result of each recipient's attempt once it
        is recorded (C{IMetrics.relayDelivery}: sent, deferred, bounced).
    """

    log = Logger()

    def __init__(self, queue: IRelayQueue, clock: Any, deliver: Callable[..., Deferred],
                 bounce: Callable[..., Deferred], schedule: Sequence[float], lifetime: float,
                 metrics: IMetrics = NULL_METRICS) -> None:
        self.queue = queue
        self.metrics = metrics
        self.clock = clock
        self.deliver = deliver
        self.bounce = bounce
        self.schedule = tuple(schedule)
        self.lifetime = lifetime
        self._timers: dict[str, Any] = {}
        self._active: dict[str, Deferred] = {}
        self._stopped = True

    # Life

    def start(self) -> None:
        """
        Take over every queued message; a new one is tried at once.
        """
        self._stopped = False
        self.queue.subscribe(self._queued)
        for entry in self.queue.entries():
            self._settle(entry)

    def stop(self) -> Deferred:
        """
        Set no more timers; fires once the work in flight is recorded.
        """
        self._stopped = True
        for timer in self._timers.values():
            if timer.active():
                timer.cancel()
        self._timers.clear()
        return self.whenIdle()

    def whenIdle(self) -> Deferred:
        """
        @return: a Deferred firing once nothing is in flight.
        """
        active = list(self._active.values())
        if not active:
            return succeed(None)
        return DeferredList([_observe(d) for d in active]).addCallback(lambda _: self.whenIdle())

    @property
    def active(self) -> set[str]:
        return set(self._active)

    def nextAttempt(self, queueID: str) -> float | None:
        timer = self._timers.get(queueID)
        return timer.getTime() if timer is not None and timer.active() else None

    # Operator

    def hold(self, entry: QueueEntry) -> Deferred:
        self._cancel(entry.queueID)
        return self.queue.setHeld(entry, True)

    def release(self, entry: QueueEntry) -> Deferred:
        return self.queue.setHeld(entry, False).addCallback(lambda _: self._settle(entry))

    def flush(self, entry: QueueEntry) -> None:
        """
        Try C{entry} now (unless held, or already being tried).
        """
        entry.nextAttempt = 0.0
        self._settle(entry)

    def delete(self, entry: QueueEntry) -> Deferred:
        """
        Remove C{entry}: no bounce; an attempt in flight is forgotten.
        """
        self._cancel(entry.queueID)
        self.log.info("{queueID}: removed by the operator", queueID=entry.queueID)
        return self.queue.retire(entry)

    # The machine

    def _queued(self, entry: QueueEntry) -> None:
        self.log.info("{queueID}: from=<{sender}>, size={size}, nrcpt={count} (queue active)",
                      queueID=entry.queueID, sender=entry.sender, size=entry.size, count=len(entry.recipients))
        self._settle(entry)

    def _cancel(self, queueID: str) -> None:
        timer = self._timers.pop(queueID, None)
        if timer is not None and timer.active():
            timer.cancel()

    def _busy(self, entry: QueueEntry, d: Deferred) -> None:
        queueID = entry.queueID
        self._active[queueID] = d

        def done(result: object) -> None:
            if isinstance(result, Failure):
                self.log.failure("{queueID}: unexpected error", result, queueID=queueID)
            if self._active.get(queueID) is d:
                del self._active[queueID]
            self._settle(entry)

        d.addBoth(done)

    def _settle(self, entry: QueueEntry) -> None:
        """
        Decide what C{entry} waits for now.
        """
        queueID = entry.queueID
        if queueID in self._active or self.queue.get(queueID) is not entry or self._stopped:
            return
        self._cancel(queueID)
        now = self.clock.seconds()
        failed = entry.withStatus(FAILED)
        if failed and entry.extra.get("bounceRetry", 0) <= now:
            self._busy(entry, self._bounce(entry, failed))
        elif failed:
            self._timers[queueID] = self.clock.callLater(entry.extra["bounceRetry"] - now, self._settle, entry)
        elif entry.finished:
            self._busy(entry, self.queue.retire(entry, durable=False).addCallback(
                lambda _: self.log.info("{queueID}: removed", queueID=queueID)))
        elif not entry.held:
            delay = max(0.0, entry.nextAttempt - now)
            self._timers[queueID] = self.clock.callLater(delay, self._attempt, entry)

    def _attempt(self, entry: QueueEntry) -> None:
        self._timers.pop(entry.queueID, None)
        if self._stopped or entry.held:
            return
        pending = [r.address for r in entry.withStatus(PENDING)]
        d = maybeDeferred(self.deliver, entry, pending)
        d.addCallbacks(self._attempted, self._deliverFailed, callbackArgs=(entry,), errbackArgs=(entry, pending))
        self._busy(entry, d)

    def _deliverFailed(self, failure: Failure, entry: QueueEntry, pending: list[str]) -> Any:
        if failure.check(CorruptEntry):
            self.queue.quarantine(entry.queueID, str(failure.value))
            return None
        self.log.failure("{queueID}: delivery attempt failed", failure, queueID=entry.queueID)
        return self._attempted([Outcome(a, DEFERRED, "451 4.3.0 local error in the relay") for a in pending], entry)

    def _attempted(self, outcomes: list[Outcome], entry: QueueEntry) -> Deferred:
        now = self.clock.seconds()
        given = {o.address: o for o in outcomes}
        final = [given.get(r.address) or Outcome(r.address, DEFERRED, "no result")
                 for r in entry.withStatus(PENDING)]
        left = [o for o in final if o.status == DEFERRED]
        attempt = None
        if left:
            attempts = entry.attempts + 1
            error = left[-1].reply
            if now - entry.created >= self.lifetime:
                final = [Outcome(o.address, FAILED, f"{o.reply} (delivery time expired after {attempts} attempts)",
                                 o.remoteHost) if o.status == DEFERRED else o for o in final]
                attempt = (attempts, 0.0, error)
            else:
                attempt = (attempts, now + nextDelay(self.schedule, attempts), error)
        attempts = attempt[0] if attempt else entry.attempts + 1

        def recorded(_: object) -> None:
            for outcome in final:
                self.metrics.relayDelivery(_STATUS_WORD.get(outcome.status, outcome.status))
                self.log.info("{queueID}: to=<{recipient}>, relay={relay}, delay={delay}, attempts={attempts}, "
                              "status={status} ({reply})", queueID=entry.queueID, recipient=outcome.address,
                              relay=outcome.remoteHost or "none", delay=round(now - entry.created, 2),
                              attempts=attempts, status=_STATUS_WORD.get(outcome.status, outcome.status),
                              reply=outcome.reply)

        return self.queue.record(entry, final, attempt).addCallback(recorded)

    def _bounce(self, entry: QueueEntry, failed: list[Recipient]) -> Deferred:
        def bounced(_: object) -> Deferred:
            entry.extra.pop("bounceRetry", None)
            return self.queue.record(entry, [Outcome(r.address, BOUNCED, r.reply, r.remoteHost) for r in failed])

        def notBounced(failure: Failure) -> None:
            self.log.failure("{queueID}: cannot queue the bounce; trying again later", failure,
                             queueID=entry.queueID)
            entry.extra["bounceRetry"] = self.clock.seconds() + self.schedule[0]

        return maybeDeferred(self.bounce, entry, failed).addCallbacks(bounced, notBounced)


def _observe(d: Deferred) -> Deferred:
    """
    A Deferred firing (with L{None}) when C{d} does, leaving C{d}'s result alone.
    """
    observer: Deferred = Deferred()

    def fire(result: object) -> object:
        observer.callback(None)
        return result

    d.addBoth(fire)
    return observer
