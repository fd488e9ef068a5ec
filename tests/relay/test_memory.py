# -*- test-case-name: tests.relay.test_memory -*-
"""
Tests for L{twisted_mail_suite.relay.memory}: the in-memory outbox.
"""
from __future__ import annotations

from twisted.trial.unittest import SynchronousTestCase
from zope.interface.verify import verifyObject

from twisted_mail_suite.errors import DeliveryFailed
from twisted_mail_suite.interfaces import IOutboundQueue, IPendingOutbound
from twisted_mail_suite.relay.memory import MemoryOutbox


class MemoryOutboxTests(SynchronousTestCase):
    def test_keepsCommitted(self) -> None:
        """
        Committed messages are kept and announced; aborted ones are not.
        """
        outbox = MemoryOutbox()
        verifyObject(IOutboundQueue, outbox)
        seen: list[str] = []
        unsubscribe = outbox.subscribe(lambda m: seen.append(m.subject))
        pending = outbox.begin("a@x.test", ["b@y.test"])
        verifyObject(IPendingOutbound, pending)
        pending.write(b"Subject: One\r\n\r\nbody\r\n")
        queueID = self.successResultOf(pending.commit())
        dropped = outbox.begin("a@x.test", ["c@y.test"])
        dropped.write(b"Subject: Two\r\n\r\n")
        dropped.abort()
        self.failureResultOf(dropped.commit(), DeliveryFailed)
        unsubscribe()
        [message] = outbox.messages
        self.assertEqual((message.queueID, message.recipients, message.subject, seen),
                         (queueID, ("b@y.test",), "One", ["One"]))
