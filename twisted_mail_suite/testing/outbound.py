# -*- test-case-name: tests.test_outbound_capture -*-
"""
The harness's outbound mail: what an authenticated client or C{sendMail}
sent to another domain is kept in memory (the relay's
L{MemoryOutbox}) instead of leaving, to be asserted on with
L{OutboundCapture.waitFor} (driven by the commit, not by polling).
"""
from __future__ import annotations

from typing import Callable, Pattern

from twisted.internet.defer import Deferred, succeed
from twisted.internet.interfaces import IReactorTime

from ..relay.memory import MemoryOutbox, OutboundMessage

__all__ = ["OutboundCapture", "OutboundMessage", "OutboundTimeout"]


class OutboundTimeout(AssertionError):
    """
    L{OutboundCapture.waitFor} saw no matching outbound message in time;
    the text says what was awaited and what was kept.
    """


class OutboundCapture:
    """
    @ivar outbox: the outbound queue the suite is built with.
    """

    def __init__(self, clock: IReactorTime) -> None:
        self.outbox = MemoryOutbox()
        self._clock = clock
        self._waiters: set[Deferred] = set()

    def messages(self, to: str | None = None) -> list[OutboundMessage]:
        """
        Every outbound message kept so far (to C{to}, an address, if given), oldest first.
        """
        return [m for m in self.outbox.messages if to is None or _sentTo(m, to)]

    def waitFor(self, to: str | None = None, subject: str | Pattern[str] | None = None,
                predicate: Callable[[OutboundMessage], bool] | None = None,
                timeout: float = 10.0) -> Deferred:
        """
        The first outbound message matching every condition: already kept
        or the next one committed.

        @return: a Deferred firing with the L{OutboundMessage}, or failing
            with L{OutboundTimeout} after C{timeout} seconds on the clock.
        """
        def matches(message: OutboundMessage) -> bool:
            if to is not None and not _sentTo(message, to):
                return False
            if isinstance(subject, str) and message.subject != subject:
                return False
            if subject is not None and not isinstance(subject, str) and not subject.search(message.subject):
                return False
            return predicate is None or bool(predicate(message))

        for message in self.outbox.messages:
            if matches(message):
                return succeed(message)
        result: Deferred = Deferred(lambda d: finish())

        def committed(message: OutboundMessage) -> None:
            if not result.called and matches(message):
                finish()
                result.callback(message)

        def expired() -> None:
            finish()
            wanted = "an outbound message" + (f" to {to}" if to else "") + \
                (f" with subject {subject!r}" if isinstance(subject, str) else
                 f" with a subject matching {subject.pattern!r}" if subject is not None else "")
            kept = [f"{', '.join(m.recipients)}: {m.subject!r}" for m in self.outbox.messages[-5:]]
            result.errback(OutboundTimeout(f"no {wanted} within {timeout} s; kept: {kept or 'nothing'}"))

        unsubscribe = self.outbox.subscribe(committed)
        timer = self._clock.callLater(timeout, expired)
        self._waiters.add(result)

        def finish() -> None:
            self._waiters.discard(result)
            unsubscribe()
            if timer.active():
                timer.cancel()

        return result

    def clear(self) -> None:
        """
        Forget every kept message; cancel the pending waits.
        """
        for waiter in list(self._waiters):
            waiter.cancel()
        del self.outbox.messages[:]


def _sentTo(message: OutboundMessage, address: str) -> bool:
    wanted = address.lower()
    return any(recipient.lower() == wanted for recipient in message.recipients)


