# -*- test-case-name: tests.cluster.test_bus -*-
"""
The event bus across processes and nodes: an event published here reaches
this process's subscribers at once (as L{local.EventBus} does) and every
other process through one Redis pub/sub channel.

Events travel as the publishing process's name, a newline and JSON (our
own encoding and decoding of the bytes Redis hands over): C{{"type",
"fields"}}; a process ignores what it published itself (its subscribers
already had it).  Only the event types
given (default: L{NewMailEvent}) cross processes.  A publish while Redis
is down is logged and dropped for the other processes, never raised: a
delivery that announces its mail does not fail for it.
"""
from __future__ import annotations

import dataclasses
import json
from typing import Any, Callable, Iterable

from twisted.logger import Logger
from twisted.python.failure import Failure
from zope.interface import implementer

from ..cluster.client import RedisClient, RedisSubscriber
from ..events import NewMailEvent
from ..interfaces import IEventBus
from .local import EventBus

__all__ = ["CHANNEL", "RedisEventBus"]

CHANNEL = b"mailsuite:events"


@implementer(IEventBus)
class RedisEventBus:
    """
    L{IEventBus} over Redis pub/sub.

    @param origin: this process's name in the cluster (unique).
    @param types: the event types (frozen dataclasses of plain values)
        that cross processes.
    """

    log = Logger()

    def __init__(self, client: RedisClient, subscriber: RedisSubscriber, origin: str,
                 types: Iterable[type] = (NewMailEvent,), channel: bytes = CHANNEL) -> None:
        self._client = client
        self._origin = origin.encode("utf-8")
        self._channel = channel
        self._types = {cls.__name__: cls for cls in types}
        self._local = EventBus()
        self._dropping = False
        subscriber.subscribe(channel, self._received)

    def subscribe(self, eventType: type, callback: Callable[[Any], object]) -> Callable[[], None]:
        return self._local.subscribe(eventType, callback)

    def publish(self, event: object) -> None:
        self._local.publish(event)
        name = type(event).__name__
        if self._types.get(name) is not type(event):
            return
        payload = self._origin + b"\n" + json.dumps({"type": name, "fields": dataclasses.asdict(event)},
                                                    separators=(",", ":")).encode("utf-8")
        self._client.execute(b"PUBLISH", self._channel, payload).addCallbacks(self._published, self._dropped,
                                                                              errbackArgs=(event,))

    def _published(self, _: object) -> None:
        if self._dropping:
            self._dropping = False
            self.log.info("Events reach the other processes again")

    def _dropped(self, failure: Failure, event: object) -> None:
        if not self._dropping:            # once per outage, not once per message
            self._dropping = True
            self.log.warn("Events not sent to the other processes ({error}); first: {event!r}",
                          error=failure.getErrorMessage(), event=event)

    def _received(self, payload: bytes) -> None:
        origin, _, body = payload.partition(b"\n")
        if origin == self._origin:                  # ours, back from Redis: our subscribers had it
            return
        try:
            message = json.loads(body.decode("utf-8"))
            event = self._types[message["type"]](**message["fields"])
        except (ValueError, KeyError, TypeError) as e:
            self.log.warn("Ignored a malformed event from Redis: {error}", error=e)
            return
        self._local.publish(event)
