# -*- test-case-name: tests.relay.test_mx -*-
"""
Where a domain's mail goes, with twisted.names: its MX records in
preference order, equal preferences shuffled (RFC 5321 §5.1), each
exchange's A then AAAA addresses; no MX at all -> the domain's own
addresses (the implicit MX); a null MX (RFC 7505) -> a permanent failure
at once.  A failed or timed-out DNS query is a temporary failure; a
domain that does not exist (or has neither MX nor address records) a
permanent one.
"""
from __future__ import annotations

import ipaddress
import random
import socket
from dataclasses import dataclass
from typing import Any, Generator, Iterable, Sequence

from twisted.internet.defer import Deferred, DeferredList, inlineCallbacks
from twisted.names import client, dns, error, hosts, resolve
from twisted.python.failure import Failure

from .client import ClientError

__all__ = ["Hop", "MXResolver", "orderExchanges", "makeResolver", "MAX_HOPS"]

MAX_HOPS = 5            # addresses tried per attempt (Postfix's smtp_mx_address_limit)


@dataclass(frozen=True)
class Hop:
    """
    One server to try: C{host} (for TLS and the log), C{address}, C{port}.
    """

    host: str
    address: str
    port: int

    @property
    def label(self) -> str:
        return f"{self.host}[{self.address}]:{self.port}"


def makeResolver(nameservers: Sequence[str], reactor: Any = None, resolvConf: str = "/etc/resolv.conf",
                 hostsFile: str = "/etc/hosts") -> Any:
    """
    A twisted.names resolver (the hosts file, then these servers) for
    C{relay.nameservers} (C{"host:port"} strings), or for the servers of
    C{resolv.conf} (read once) if empty.  No cache, so no timers: the
    pool's reused connections save most lookups.
    """
    servers = []
    for server in nameservers:
        host, _, port = server.rpartition(":")
        servers.append((host.strip("[]"), int(port)))
    if not servers:
        try:
            with open(resolvConf, encoding="utf-8", errors="replace") as f:
                for line in f:
                    words = line.split()
                    if len(words) >= 2 and words[0] == "nameserver":
                        servers.append((words[1], 53))
        except OSError:
            pass
    return resolve.ResolverChain([hosts.Resolver(hostsFile),
                                  client.Resolver(servers=servers or [("127.0.0.1", 53)], reactor=reactor)])


def orderExchanges(records: Iterable[tuple[int, str]], rng: random.Random | None = None) -> list[str]:
    """
    MX C{(preference, exchange)} pairs -> exchanges to try, lowest
    preference first, equal preferences in random order, duplicates once.

    @raise ClientError: (permanent) for a null MX (exchange C{""} or C{"."}).
    """
    rng = rng or random.Random()
    byPreference: dict[int, list[str]] = {}
    for preference, exchange in records:
        name = exchange.rstrip(".").lower()
        if not name:
            raise ClientError("550 5.1.10 the domain accepts no mail (null MX, RFC 7505)", permanent=True)
        byPreference.setdefault(preference, []).append(name)
    ordered: list[str] = []
    for preference in sorted(byPreference):
        group = byPreference[preference]
        rng.shuffle(group)
        ordered += [name for name in group if name not in ordered]
    return ordered


def _isAddress(host: str) -> bool:
    try:
        ipaddress.ip_address(host.strip("[]"))
        return True
    except ValueError:
        return False


def _temporary(failure: Any, what: str) -> ClientError:
    if failure.check(error.DNSNameError, error.AuthoritativeDomainError):
        return ClientError(f"550 5.1.2 {what}: no such domain", permanent=True)
    return ClientError(f"451 4.4.3 {what}: DNS lookup failed ({failure.getErrorMessage() or failure.type.__name__})")


class MXResolver:
    """
    @param resolver: a twisted.names C{IResolver}.
    @param rng: shuffles equal preferences (seeded in tests).
    """

    def __init__(self, resolver: Any, rng: random.Random | None = None,
                 timeout: tuple[float, ...] = (2.0, 5.0, 11.0)) -> None:
        self.resolver = resolver
        self.rng = rng or random.Random()
        self.timeout = timeout

    @inlineCallbacks
    def addresses(self, host: str) -> Generator[Deferred, Any, list[str]]:
        """
        C{host}'s IPv4 then IPv6 addresses (an address literal is itself).

        @raise ClientError: both lookups failed (permanent if the name does
            not exist).
        """
        if _isAddress(host):
            return [host.strip("[]")]
        results = yield DeferredList([self.resolver.lookupAddress(host, self.timeout),
                                      self.resolver.lookupIPV6Address(host, self.timeout)],
                                     consumeErrors=True)
        found: list[str] = []
        failures = []
        for ok, result in results:
            if not ok:
                failures.append(result)
                continue
            for record in result[0]:
                if record.type == dns.A:
                    found.append(record.payload.dottedQuad())
                elif record.type == dns.AAAA:
                    found.append(socket.inet_ntop(socket.AF_INET6, record.payload.address))
        if not found and len(failures) == 2:
            raise _temporary(failures[0], host)
        return found

    @inlineCallbacks
    def hops(self, domain: str, port: int) -> Generator[Deferred, Any, list[Hop]]:
        """
        The servers for mail to C{domain}, in the order to try them (at
        most L{MAX_HOPS}).

        @raise ClientError: null MX, no such domain (permanent), a DNS
            failure (temporary), or no address for any exchange.
        """
        try:
            answers, _, _ = yield self.resolver.lookupMailExchange(domain, self.timeout)
        except Exception as e:
            raise _temporary(Failure(e), domain) from None
        records = [(r.payload.preference, str(r.payload.name)) for r in answers if r.type == dns.MX]
        exchanges = orderExchanges(records, self.rng)
        implicit = not exchanges
        if implicit:
            exchanges = [domain.lower()]
        hops: list[Hop] = []
        lastError: ClientError | None = None
        for exchange in exchanges:
            try:
                addresses = yield self.addresses(exchange)
            except ClientError as e:
                lastError = e
                continue
            hops += [Hop(exchange, address, port) for address in addresses]
            if len(hops) >= MAX_HOPS:
                break
        if hops:
            return hops[:MAX_HOPS]
        if lastError is not None and not lastError.permanent:
            raise ClientError(f"451 4.4.3 {domain}: no address for any mail exchanger ({lastError.reason})")
        if implicit:
            raise ClientError(f"550 5.1.2 {domain}: no mail exchanger and no address records", permanent=True)
        raise ClientError(f"451 4.4.3 {domain}: no address for any mail exchanger")
