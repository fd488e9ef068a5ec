# -*- test-case-name: tests.relay.test_memory -*-
"""
An L{IOutboundQueue} that keeps outbound mail in memory instead of
sending it: the seam for a test harness (C{MailSuiteService(...,
outbound=MemoryOutbox())}) that asserts on what would have left.
"""
from __future__ import annotations

import email
import email.policy
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Callable, Sequence

from twisted.internet.defer import Deferred, fail, succeed
from zope.interface import implementer

from ..errors import DeliveryFailed
from ..interfaces import IOutboundQueue, IPendingOutbound

__all__ = ["MemoryOutbox", "OutboundMessage"]


@dataclass(frozen=True)
class OutboundMessage:
    """
    One message handed to the outbound queue.

    @ivar data: the text as it would leave (CRLF lines, DKIM-signed when
        the sender's domain is in C{relay.dkim}).
    """

    queueID: str
    sender: str
    recipients: tuple[str, ...]
    data: bytes

    @property
    def message(self) -> EmailMessage:
        return email.message_from_bytes(self.data, policy=email.policy.default)  # type: ignore[return-value]

    @property
    def subject(self) -> str:
        return str(self.message.get("Subject", ""))


@implementer(IOutboundQueue)
class MemoryOutbox:
    """
    @ivar messages: every committed message, in order.
    """

    def __init__(self) -> None:
        self.messages: list[OutboundMessage] = []
        self._subscribers: list[Callable[[OutboundMessage], None]] = []
        self._count = 0

    def begin(self, sender: str, recipients: Sequence[str]) -> _MemoryPending:
        return _MemoryPending(self, sender, tuple(recipients))

    def subscribe(self, callback: Callable[[OutboundMessage], None]) -> Callable[[], None]:
        """
        Call C{callback(message)} for each message committed from now on.

        @return: a no-argument callable that unsubscribes.
        """
        self._subscribers.append(callback)
        return lambda: self._subscribers.remove(callback) if callback in self._subscribers else None

    def _commit(self, message: OutboundMessage) -> None:
        self.messages.append(message)
        for callback in list(self._subscribers):
            callback(message)

    def newID(self) -> str:
        self._count += 1
        return f"MEM{self._count:08d}"


@implementer(IPendingOutbound)
class _MemoryPending:
    def __init__(self, outbox: MemoryOutbox, sender: str, recipients: tuple[str, ...]) -> None:
        self._outbox = outbox
        self._sender = sender
        self._recipients = recipients
        self._chunks: list[bytes] = []
        self._state = "open"
        self.size = 0

    def write(self, data: bytes) -> None:
        if self._state != "open":
            raise ValueError("queueing already finished")
        self._chunks.append(data)
        self.size += len(data)

    def prepare(self) -> Deferred:
        if self._state == "aborted":
            return fail(DeliveryFailed("queueing was aborted"))
        self._state = "prepared"
        return succeed(None)

    def commit(self) -> Deferred:
        if self._state in ("aborted", "committed"):
            return fail(DeliveryFailed("queueing already finished"))
        self._state = "committed"
        message = OutboundMessage(self._outbox.newID(), self._sender, self._recipients, b"".join(self._chunks))
        self._outbox._commit(message)
        return succeed(message.queueID)

    def abort(self) -> None:
        if self._state != "committed":
            self._state = "aborted"
