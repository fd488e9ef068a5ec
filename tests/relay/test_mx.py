# -*- test-case-name: tests.relay.test_mx -*-
"""
Tests for L{twisted_mail_suite.relay.mx}: MX selection and the DNS
failures, against a twisted.names authority in memory.
"""
from __future__ import annotations

import random

from twisted.internet.defer import TimeoutError
from twisted.names import dns
from twisted.trial.unittest import SynchronousTestCase

from twisted_mail_suite.relay.client import ClientError
from twisted_mail_suite.relay.mx import MXResolver, makeResolver, orderExchanges

from .support import FailingResolver, ZoneAuthority, a, aaaa, mx

ZONE = ZoneAuthority({
    "multi.test": [mx(20, "backup.multi.test"), mx(10, "mx1.multi.test"), mx(10, "mx2.multi.test")],
    "mx1.multi.test": [a("127.0.0.11")], "mx2.multi.test": [a("127.0.0.12"), aaaa("::1")],
    "backup.multi.test": [a("127.0.0.13")],
    "implicit.test": [a("127.0.0.20")],
    "null.test": [mx(0, "")],
    "empty.test": [dns.Record_TXT(b"v=spf1 -all", ttl=60)],
    "dangling.test": [mx(10, "nowhere.test")],
})


class OrderTests(SynchronousTestCase):
    def test_preferenceThenShuffle(self) -> None:
        """
        Lower preference first; equal preferences in every order over many draws; duplicates once.
        """
        records = [(20, "c."), (10, "a."), (10, "b."), (30, "a.")]
        orders = {tuple(orderExchanges(records, random.Random(seed))) for seed in range(40)}
        self.assertEqual(orders, {("a", "b", "c"), ("b", "a", "c")})

    def test_nullMX(self) -> None:
        """
        A null MX (RFC 7505) is a permanent failure.
        """
        error = self.assertRaises(ClientError, orderExchanges, [(0, ".")])
        self.assertTrue(error.permanent)
        self.assertIn("5.1.10", error.reason)


class ResolverTests(SynchronousTestCase):
    def hops(self, domain: str, resolver: object = ZONE) -> object:
        return MXResolver(resolver, random.Random(1)).hops(domain, 2525)

    def test_hopsInOrder(self) -> None:
        """
        Every address of each exchange, IPv4 first, the backup last, on the given port.
        """
        hops = self.successResultOf(self.hops("multi.test"))
        self.assertEqual({h.label for h in hops[:3]}, {"mx1.multi.test[127.0.0.11]:2525",
                                                      "mx2.multi.test[127.0.0.12]:2525", "mx2.multi.test[::1]:2525"})
        self.assertEqual(hops[-1].label, "backup.multi.test[127.0.0.13]:2525")

    def test_implicitMX(self) -> None:
        """
        Without MX records the domain's own address is used.
        """
        self.assertEqual([h.label for h in self.successResultOf(self.hops("implicit.test"))],
                         ["implicit.test[127.0.0.20]:2525"])

    def test_nullMXBounces(self) -> None:
        """
        A null MX fails permanently at once.
        """
        self.assertTrue(self.failureResultOf(self.hops("null.test"), ClientError).value.permanent)

    def test_noSuchDomain(self) -> None:
        """
        NXDOMAIN is permanent (5.1.2).
        """
        error = self.failureResultOf(self.hops("missing.test"), ClientError).value
        self.assertTrue(error.permanent)
        self.assertIn("5.1.2", error.reason)

    def test_noRecordsAtAll(self) -> None:
        """
        A domain with neither MX nor address records fails permanently.
        """
        self.assertTrue(self.failureResultOf(self.hops("empty.test"), ClientError).value.permanent)

    def test_danglingExchange(self) -> None:
        """
        An MX naming a host that does not exist is a temporary failure (retried).
        """
        self.assertFalse(self.failureResultOf(self.hops("dangling.test"), ClientError).value.permanent)

    def test_serverFailureTemporary(self) -> None:
        """
        A failing or silent DNS server is a temporary failure.
        """
        for error in (None, TimeoutError()):
            failure = self.failureResultOf(self.hops("multi.test", FailingResolver(error)), ClientError)
            self.assertFalse(failure.value.permanent)
            self.assertIn("4.4.3", failure.value.reason)

    def test_addressLiteral(self) -> None:
        """
        An address is its own address, without a lookup.
        """
        resolver = FailingResolver()
        self.assertEqual(self.successResultOf(MXResolver(resolver).addresses("[127.0.0.1]")), ["127.0.0.1"])
        self.assertEqual(resolver.lookups, [])

    def test_makeResolverReadsResolvConf(self) -> None:
        """
        With no nameservers, the servers of resolv.conf are used.
        """
        path = self.mktemp()
        with open(path, "w") as f:
            f.write("# comment\nnameserver 127.0.0.53\nsearch x\n")
        chain = makeResolver([], None, resolvConf=path)
        self.assertEqual(chain.resolvers[-1].servers, [("127.0.0.53", 53)])
        chain = makeResolver(["127.0.0.1:5353"], None)
        self.assertEqual(chain.resolvers[-1].servers, [("127.0.0.1", 5353)])
