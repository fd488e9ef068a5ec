# -*- test-case-name: tests.store.test_folder -*-
"""
What was learnt by reading a message, kept so it is read once: IMAP's
parsed headers, ENVELOPE and BODYSTRUCTURE, for every folder store.  A message never changes
under its unique name, so the unique name and the size identify the
content; entries are dropped least recently used first once their weight
(about the octets they hold) passes the budget.
"""
from __future__ import annotations

from collections import OrderedDict
from typing import Any, Hashable

__all__ = ["MessageCache"]


class MessageCache:
    """
    A least-recently-used map with a weight budget.

    @ivar maxWeight: the budget (octets, roughly).
    """

    def __init__(self, maxWeight: int = 32 * 1024 * 1024) -> None:
        self.maxWeight = maxWeight
        self.weight = 0
        self.hits = 0
        self.misses = 0
        self._entries: OrderedDict[Hashable, tuple[Any, int]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: Hashable) -> Any:
        """
        The value kept for C{key}, or L{None}.
        """
        entry = self._entries.get(key)
        if entry is None:
            self.misses += 1
            return None
        self.hits += 1
        self._entries.move_to_end(key)
        return entry[0]

    def put(self, key: Hashable, value: Any, weight: int) -> None:
        """
        Keep C{value} for C{key}; a value heavier than the whole budget is
        not kept.
        """
        old = self._entries.pop(key, None)
        if old is not None:
            self.weight -= old[1]
        if weight > self.maxWeight:
            return
        self._entries[key] = (value, weight)
        self.weight += weight
        while self.weight > self.maxWeight:
            _, (_, dropped) = self._entries.popitem(last=False)
            self.weight -= dropped
