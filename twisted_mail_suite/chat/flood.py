# -*- test-case-name: tests.chat.test_flood -*-
"""
What a chat connection does about floods, mixed into L{ChatProtocol
<twisted_mail_suite.chat.protocol.ChatProtocol>}:

  - Every line received passes the connection's own throttle
    (C{lines_per_second}, C{burst}) and its address's budget, shared with
    every other connection from that address (L{limits.AddressBudget}):
    lines, and the bytes the server sends for them (a line's size times the
    members it reaches, charged by L{FloodControl._spend}).  A dropped line
    is a strike; the first of a run is answered, and past C{burst} strikes in
    a row the connection is closed for flooding.
  - Lines from a sender whose address has spent more than half of a budget
    are I{offered} to the others (L{FloodControl.offer}): a member more than
    C{shedAbove} bytes behind skips them and is told how many once its
    output drains.  So someone else's flood can never get a member dropped
    as a slow reader; the flooders are throttled, then closed, first.

An idle connection carries none of this but its own line bucket: its
address's budget is taken at its first line (and given back when it
goes), and the strike and missed-line counts live on the class until they
are used.
"""
from __future__ import annotations

from typing import Any, Callable

from twisted.logger import Logger

from . import lines
from .limits import AddressBudget, TokenBucket

__all__ = ["FloodControl"]


class FloodControl:
    """
    Mixed into the chat protocol (before L{BoundedOutput
    <twisted_mail_suite.net.output.BoundedOutput>}), which supplies
    C{factory} (with C{config}, C{clock}, C{budgets} and C{shedAbove}),
    C{peerHost}, C{name}, C{deliver}, C{close} and C{outputPending}.
    """

    log: Logger
    factory: Any
    peerHost: str
    name: str | None
    outputPending: int
    deliver: Callable[[bytes], None]
    close: Callable[..., None]
    _bucket: TokenBucket | None = None
    _budget: AddressBudget | None = None   # shared with the address's other connections
    _strikes = 0
    _missed = 0                            # lines skipped by offer() since the output drained

    def startFloodControl(self) -> None:
        """
        The connection was admitted.  Its own throttle is made at its first
        line (L{_allow}), full as one made now would still be then: an idle
        connection carries none.
        """

    def stopFloodControl(self) -> None:
        """
        The connection is gone: give the address's budget back.
        """
        budget, self._budget = self._budget, None
        if budget is not None:
            self.factory.budgets.release(budget, self.factory.clock.seconds())

    def _allow(self) -> bool:
        """
        Account one line against the idle timer and the flood throttles:
        the connection's own, then its address's lines and relayed bytes
        (an address that has spent its byte budget is throttled until it
        has paid it back).
        """
        factory = self.factory
        factory.idle.touch(self)
        rate = factory.config.lines_per_second
        budgets = factory.budgets
        if not rate and not budgets.enabled:
            return True
        now = factory.clock.seconds()
        if rate:
            bucket = self._bucket
            if bucket is None:
                bucket = self._bucket = TokenBucket(rate, factory.config.burst, now)
            if not bucket.consume(now):
                return self._throttled(f"more than {rate:g} lines a second")
        if budgets.enabled:
            budget = self._budget
            if budget is None:
                budget = self._budget = budgets.acquire(self.peerHost, now)
            if budget.lines is not None and not budget.lines.consume(now):
                return self._throttled(
                    f"more than {budget.lines.rate:g} lines a second from your address")
            if budget.bytes is not None and budget.bytes.level(now) <= 0:
                return self._throttled("too much chat from your address")
        self._strikes = 0
        return True

    def _throttled(self, why: str) -> bool:
        """
        A line was dropped by a throttle: say so at the first of a run;
        disconnect after more than C{burst} in a row.
        """
        self._strikes += 1
        if self._strikes == 1:
            self.deliver(lines.error(f"slow down: {why}; line dropped"))
        elif self._strikes > max(self.factory.config.burst, 1):
            self.log.info("Chat client {peer} ({name}) disconnected for flooding",
                          peer=self.peerHost, name=self.name)
            self.close(lines.error("flooding; disconnecting"))
        return False

    def _spend(self, data: bytes, copies: int) -> bool:
        """
        Charge C{copies} copies of C{data} to the address's byte budget.

        @return: whether the address is strained (its lines may be shed).
        """
        budget = self._budget
        if budget is None:
            return False
        now = self.factory.clock.seconds()
        if budget.bytes is not None and copies > 0:
            budget.bytes.spend(now, len(data) * copies)
        return budget.strained(now)

    def outputResumed(self) -> None:
        """
        The output drained: say what L{offer} skipped meanwhile, if anything.
        """
        missed = self._missed
        if missed:
            self._missed = 0
            self.deliver(lines.system(
                f"you missed {missed} lines from senders over their limit while you were behind"))

    def offer(self, data: bytes) -> None:
        """
        Lines from a sender over its budget (L{IParticipant.offer}):
        delivered unless this client is behind, with more than
        C{shedAbove} bytes pending; then skipped (and counted), so that
        someone else's flood never gets this client dropped as a slow reader.
        """
        pending = self.outputPending
        if pending and pending + len(data) > self.factory.shedAbove:
            self._missed += data.count(b"\n")
            return
        self.deliver(data)
