# -*- test-case-name: tests.relay.test_pool -*-
"""
One delivery attempt of one queued message: its pending recipients are
grouped by destination (each domain in C{mx} mode, everything in
C{smarthost} mode), one transaction per destination runs in the
L{Pool}, and the L{Outcome}s of all come back together.

What the message needs from a server is learnt once per message from
its text: 8-bit octets anywhere need 8BITMIME (RFC 6152), non-ASCII
addresses or header fields need SMTPUTF8 (RFC 6531); a server without
them gets no such message (it bounces, see L{sendMessage}).
"""
from __future__ import annotations

from typing import Any, Callable

from twisted.internet.defer import Deferred, gatherResults

from .client import SMTPClient, sendMessage
from .entry import Outcome, QueueEntry
from .pool import Job, Pool
from .queue import IRelayQueue
from .session import Transaction, needsSMTPUTF8

__all__ = ["Dispatcher", "textFlags"]


def textFlags(entry: QueueEntry, queue: IRelayQueue) -> tuple[bool, bool]:
    """
    C{(eightBit, utf8)} for C{entry}, read once and kept in C{entry.extra}.

    @raise twisted_mail_suite.relay.entry.CorruptEntry: the text cannot be read.
    """
    flags = entry.extra.get("flags")
    if flags is None:
        eightBit = False
        head = b""
        inHead = True
        for chunk in queue.openText(entry):
            if inHead:
                head += chunk
                end = head.find(b"\r\n\r\n")
                if end >= 0 or len(head) > 1 << 20:
                    head, inHead = head[:end] if end >= 0 else head, False
            eightBit = eightBit or not chunk.isascii()
        flags = entry.extra["flags"] = (eightBit, needsSMTPUTF8(entry.sender, [r.address for r in entry.recipients],
                                                                 head))
    return flags  # type: ignore[no-any-return]


class Dispatcher:
    """
    @param destinationOf: recipient address -> destination key.
    """

    def __init__(self, queue: IRelayQueue, pool: Pool, destinationOf: Callable[[str], str]) -> None:
        self.queue = queue
        self.pool = pool
        self.destinationOf = destinationOf

    def deliver(self, entry: QueueEntry, addresses: list[str]) -> Deferred:
        """
        Try C{addresses} of C{entry} now.

        @return: a Deferred firing with their L{Outcome}s.
        """
        eightBit, utf8 = textFlags(entry, self.queue)
        groups: dict[str, list[str]] = {}
        for address in addresses:
            groups.setdefault(self.destinationOf(address), []).append(address)
        jobs = []
        for key, recipients in groups.items():
            transaction = Transaction(entry.sender, recipients, "")
            jobs.append(self.pool.submit(key, Job(transaction, self._sender(entry, transaction, eightBit, utf8))))

        def flatten(results: list[list[Outcome]]) -> list[Outcome]:
            return [outcome for outcomes in results for outcome in outcomes]

        return gatherResults(jobs).addCallback(flatten)

    def _sender(self, entry: QueueEntry, transaction: Transaction, eightBit: bool,
                utf8: bool) -> Callable[[SMTPClient], Any]:
        def send(client: SMTPClient) -> Deferred:
            transaction.remoteHost = client.remoteHost
            return sendMessage(client, transaction, entry.size, lambda: self.queue.openText(entry), eightBit, utf8)

        return send
