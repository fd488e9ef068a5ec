# -*- test-case-name: tests.test_events -*-
"""
Tests for the in-process event bus.
"""
from __future__ import annotations

from twisted.trial.unittest import SynchronousTestCase
from zope.interface.verify import verifyObject

from twisted_mail_suite.bus import EventBus
from twisted_mail_suite.events import NewMailEvent
from twisted_mail_suite.interfaces import IEventBus


class EventBusTests(SynchronousTestCase):
    def test_interface(self) -> None:
        """
        L{EventBus} provides L{IEventBus}.
        """
        verifyObject(IEventBus, EventBus())

    def test_publishByType(self) -> None:
        """
        Subscribers get events of their type only, until they unsubscribe.
        """
        bus = EventBus()
        got: list[object] = []
        unsubscribe = bus.subscribe(NewMailEvent, got.append)
        event = NewMailEvent("alice", "a@b", "hi", "1.M1P1Q1.h")
        bus.publish(event)
        bus.publish("not an event")
        unsubscribe()
        bus.publish(event)
        self.assertEqual(got, [event])

    def test_failingSubscriberIsolated(self) -> None:
        """
        A subscriber that raises is logged; the others still run.
        """
        bus = EventBus()
        got: list[object] = []
        bus.subscribe(NewMailEvent, lambda e: 1 / 0)
        bus.subscribe(NewMailEvent, got.append)
        bus.publish(NewMailEvent("a", "", "", "u"))
        self.assertEqual(len(got), 1)
        self.assertEqual(len(self.flushLoggedErrors(ZeroDivisionError)), 1)
