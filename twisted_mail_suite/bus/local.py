# -*- test-case-name: tests.test_events -*-
"""
The in-process event bus: subscribers run in the publisher's call.  A bus
that fans out across processes (Redis) implements the same C{IEventBus}.
"""
from __future__ import annotations

from typing import Any, Callable

from twisted.logger import Logger
from zope.interface import implementer

from ..interfaces import IEventBus


@implementer(IEventBus)
class EventBus:
    """
    Synchronous in-process bus: subscribers run in the publisher's call.
    """

    log = Logger()

    def __init__(self) -> None:
        self._subscribers: dict[type, list[Callable[[Any], object]]] = {}

    def subscribe(self, eventType: type, callback: Callable[[Any], object]) -> Callable[[], None]:
        callbacks = self._subscribers.setdefault(eventType, [])
        callbacks.append(callback)

        def unsubscribe() -> None:
            if callback in callbacks:
                callbacks.remove(callback)

        return unsubscribe

    def publish(self, event: object) -> None:
        for callback in list(self._subscribers.get(type(event), ())):
            try:
                callback(event)
            except Exception:
                self.log.failure("Subscriber {callback!r} failed on {event!r}",
                                 callback=callback, event=event)
