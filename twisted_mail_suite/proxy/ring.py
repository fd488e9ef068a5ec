# -*- test-case-name: tests.proxy.test_ring -*-
"""
Consistent hashing of users over the backend nodes: each node owns many
points on a ring of 64-bit hashes, a user goes to the first point at or
after the hash of their name.  Adding or removing a node moves only the
users of that node's points (about 1/N of them), so a user's sessions stay
on one node while the cluster changes.  Pure: no I/O.
"""
from __future__ import annotations

import bisect
import hashlib
from typing import Container, Generic, Sequence, TypeVar

__all__ = ["Ring"]

T = TypeVar("T")
POINTS = 64          # points per node: spreads four nodes within a few percent


def _hash(text: str) -> int:
    return int.from_bytes(hashlib.blake2b(text.encode("utf-8"), digest_size=8).digest(), "big")


class Ring(Generic[T]):
    """
    Nodes on a hash ring.

    @param nodes: C{(name, node)} pairs; the names place the node (the
        same names give the same ring on every machine).
    """

    def __init__(self, nodes: Sequence[tuple[str, T]], points: int = POINTS) -> None:
        ring = sorted((_hash(f"{name}#{index}"), name) for name, _ in nodes for index in range(points))
        self._keys = [key for key, _ in ring]
        self._names = [name for _, name in ring]
        self._nodes = dict(nodes)

    def __len__(self) -> int:
        return len(self._nodes)

    def pick(self, key: str, down: Container[str] = ()) -> T | None:
        """
        The node for C{key}: the owner of the first point at or after its
        hash, passing over the nodes named in C{down}; L{None} if every
        node is down (or there is none).
        """
        count = len(self._keys)
        if not count:
            return None
        start = bisect.bisect_left(self._keys, _hash(key))
        tried: set[str] = set()
        for offset in range(count):
            name = self._names[(start + offset) % count]
            if name in tried:
                continue
            if name not in down:
                return self._nodes[name]
            tried.add(name)
            if len(tried) == len(self._nodes):
                break
        return None
