# -*- test-case-name: tests.chat.test_limits -*-
"""
The flood throttles, fed the clock's time (the idle timeout is the
chassis's, L{twisted_mail_suite.net.idle}):

  - L{TokenBucket}: one connection's lines.
  - L{AddressBudget}: what all the connections of one client address share,
    lines and the bytes their chat makes the server send (a line's size
    times the members it reaches: the cost of a broadcast); L{AddressBudgets}
    holds one per address, IPv6 addresses grouped by prefix
    (L{addressGroup}), and keeps a spent budget after its connections leave,
    so that reconnecting does not refill it.
"""
from __future__ import annotations

import ipaddress
from itertools import islice

__all__ = ["AddressBudget", "AddressBudgets", "TokenBucket", "addressGroup"]


class TokenBucket:
    """
    C{rate} tokens a second, at most C{capacity} saved up; one line costs one.
    """

    __slots__ = ("rate", "capacity", "tokens", "stamp")

    def __init__(self, rate: float, capacity: float, now: float) -> None:
        self.rate = rate
        self.capacity = float(max(capacity, 1))
        self.tokens = self.capacity
        self.stamp = now

    def consume(self, now: float) -> bool:
        """
        Take one token if there is one.
        """
        tokens = self.tokens + (now - self.stamp) * self.rate
        if tokens > self.capacity:
            tokens = self.capacity
        self.stamp = now
        if tokens >= 1.0:
            self.tokens = tokens - 1.0
            return True
        self.tokens = tokens
        return False

    def spend(self, now: float, cost: float) -> None:
        """
        Take C{cost} tokens, going into debt if there are not enough (a
        cost is known only once it is spent: see L{level}).
        """
        self.tokens = self.level(now) - cost
        self.stamp = now

    def level(self, now: float) -> float:
        """
        The tokens there are at C{now} (negative while in debt).
        """
        tokens = self.tokens + (now - self.stamp) * self.rate
        return self.capacity if tokens > self.capacity else tokens

    def low(self, now: float) -> bool:
        """
        Is less than half of the capacity left?
        """
        return self.level(now) * 2 < self.capacity


class AddressBudget:
    """
    What the connections from one address (or IPv6 prefix) share: a line
    bucket and a relay byte bucket (either L{None}: no such limit), and how
    many connections use it.
    """

    __slots__ = ("group", "lines", "bytes", "users")

    def __init__(self, group: str, lines: TokenBucket | None, bytes: TokenBucket | None) -> None:
        self.group = group
        self.lines = lines
        self.bytes = bytes
        self.users = 0

    def strained(self, now: float) -> bool:
        """
        Has the address spent more than half of a budget (is it flooding)?
        """
        return ((self.lines is not None and self.lines.low(now))
                or (self.bytes is not None and self.bytes.low(now)))

    def rested(self, now: float) -> bool:
        """
        Are both budgets full again (nothing is lost by forgetting it)?
        """
        return all(bucket is None or bucket.level(now) >= bucket.capacity
                   for bucket in (self.lines, self.bytes))


def addressGroup(host: str, ipv6Prefix: int = 64) -> str:
    """
    The key of C{host}'s budget: an IPv4 address as it is (also when
    written as an IPv4-mapped IPv6 address), an IPv6 address as its
    C{/ipv6Prefix} network (one customer's /64 is one address), anything
    else (a UNIX socket's path) as it is.
    """
    if ":" not in host:
        return host
    try:
        address = ipaddress.IPv6Address(host.split("%", 1)[0])
    except ValueError:
        return host
    if address.ipv4_mapped is not None:
        return str(address.ipv4_mapped)
    return str(ipaddress.IPv6Network((address, ipv6Prefix), strict=False))


class AddressBudgets:
    """
    One L{AddressBudget} per address group, made for its first connection
    and forgotten once its last connection left and it is full again.

    @param lineRate: lines a second for one address (0: no line budget).
    @param lineBurst: lines an address may save up.
    @param byteRate: relayed bytes a second for one address (0: none).
    @param byteBurst: relayed bytes an address may save up.
    @param ipv6Prefix: IPv6 addresses sharing this many leading bits share
        one budget.
    """

    def __init__(self, lineRate: float, lineBurst: float, byteRate: float, byteBurst: float,
                 ipv6Prefix: int = 64) -> None:
        self.lineRate, self.lineBurst = lineRate, lineBurst
        self.byteRate, self.byteBurst = byteRate, byteBurst
        self.ipv6Prefix = ipv6Prefix
        self.enabled = bool(lineRate or byteRate)
        self._budgets: dict[str, AddressBudget] = {}
        self._idle: dict[str, AddressBudget] = {}    # no connection left, oldest first

    def __len__(self) -> int:
        return len(self._budgets)

    def acquire(self, host: str, now: float) -> AddressBudget:
        """
        The budget of C{host}'s address group, for one more connection
        (give it back with L{release}).
        """
        self._forgetRested(now)
        group = addressGroup(host, self.ipv6Prefix)
        budget = self._budgets.get(group)
        if budget is None:
            budget = self._budgets[group] = AddressBudget(
                group, TokenBucket(self.lineRate, self.lineBurst, now) if self.lineRate else None,
                TokenBucket(self.byteRate, self.byteBurst, now) if self.byteRate else None)
        else:
            self._idle.pop(group, None)
        budget.users += 1
        return budget

    def release(self, budget: AddressBudget, now: float) -> None:
        """
        A connection that held C{budget} is gone.
        """
        budget.users -= 1
        if budget.users <= 0:
            group = budget.group
            if budget.rested(now):
                self._budgets.pop(group, None)
            else:
                self._idle[group] = budget

    def _forgetRested(self, now: float, most: int = 2) -> None:
        """
        Forget up to C{most} of the oldest budgets without a connection
        that are full again (a little work per new connection, so no timer).
        """
        for group in list(islice(self._idle, most)):
            budget = self._idle[group]
            if not budget.rested(now):
                return
            del self._idle[group]
            self._budgets.pop(group, None)
