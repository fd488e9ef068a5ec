# -*- test-case-name: tests.proxy.test_ring -*-
"""
Consistent hashing of users over nodes.
"""
from __future__ import annotations

from collections import Counter

from twisted.trial.unittest import SynchronousTestCase

from twisted_mail_suite.proxy.ring import Ring

USERS = [f"user{n}" for n in range(2000)]


class RingTests(SynchronousTestCase):
    def test_stableAndSpread(self) -> None:
        """
        The same user always gets the same node, on any ring built from
        the same names; four nodes each get a fair share.
        """
        nodes = [(name, name.upper()) for name in "abcd"]
        first, second = Ring(nodes), Ring(list(reversed(nodes)))
        picks = [first.pick(user) for user in USERS]
        self.assertEqual(picks, [second.pick(user) for user in USERS])
        shares = Counter(picks)
        self.assertEqual(set(shares), {"A", "B", "C", "D"})
        self.assertTrue(all(300 < count < 700 for count in shares.values()), shares)

    def test_removingMovesOnlyThatNode(self) -> None:
        """
        Without node c, only c's users move.
        """
        full = Ring([(n, n) for n in "abcd"])
        less = Ring([(n, n) for n in "abd"])
        moved = [user for user in USERS if full.pick(user) != less.pick(user)]
        self.assertTrue(moved)
        self.assertTrue(all(full.pick(user) == "c" for user in moved))

    def test_downSkipped(self) -> None:
        """
        A node named down is passed over, as if it were not on the ring;
        all down (or none configured): None.
        """
        ring = Ring([(n, n) for n in "abc"])
        less = Ring([(n, n) for n in "ac"])
        self.assertEqual([ring.pick(u, down={"b"}) for u in USERS], [less.pick(u) for u in USERS])
        self.assertIsNone(ring.pick("alice", down={"a", "b", "c"}))
        self.assertIsNone(Ring([]).pick("alice"))
