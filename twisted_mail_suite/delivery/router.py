# -*- test-case-name: tests.delivery.test_router -*-
"""
Where an address goes: to local users (through aliases, subaddresses and
the catch-all) or somewhere else.  Pure: no I/O, no reactor; the users
database is only asked C{lookup(name)}.

Shared by SMTP (RCPT), the chat's offline mail and, later, the outbound
relay: each caller decides what to do with a L{RemoteRoute} (SMTP refuses
it as relaying for now).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Mapping, Protocol, Union

from ..errors import UnknownRecipient
from ..interfaces import IUserDatabase

__all__ = ["LocalRoute", "RemoteRoute", "Route", "Router", "RoutingConfig"]


@dataclass(frozen=True)
class LocalRoute:
    """
    The address is ours: the message goes to these local users' mailboxes.

    @ivar users: user names, in alias order, never empty.
    """

    users: tuple[str, ...]


@dataclass(frozen=True)
class RemoteRoute:
    """
    The address is not in one of our domains (or is a bare name other than
    C{postmaster}): only an outbound relay could take it.

    @ivar address: the address as given.
    """

    address: str


Route = Union[LocalRoute, RemoteRoute]


class RoutingConfig(Protocol):
    """
    What the router reads from L{twisted_mail_suite.config.Config} (named
    structurally, so that the router imports only the bottom layer).
    """

    @property
    def domains(self) -> Iterable[str]: ...

    @property
    def aliases(self) -> Mapping[str, Iterable[str]]: ...

    @property
    def catch_all(self) -> str | None: ...


class Router:
    """
    Address -> L{Route}.

    @param domains: the local domains (compared without case and trailing dot).
    @param aliases: C{alias} or C{alias@domain} -> user names.
    @param catchAll: the user who gets mail for unknown local parts, or L{None}.
    @param users: who exists.
    """

    def __init__(self, domains: Iterable[str], aliases: Mapping[str, Iterable[str]],
                 catchAll: str | None, users: IUserDatabase) -> None:
        self._domains = frozenset(d.lower().rstrip(".") for d in domains)
        self._aliases = {alias.lower(): tuple(targets) for alias, targets in aliases.items()}
        self._catchAll = catchAll
        self._users = users

    @classmethod
    def fromConfig(cls, config: RoutingConfig, users: IUserDatabase) -> Router:
        """
        The router of C{config}'s C{domains}, C{aliases} and C{catch_all}.
        """
        return cls(config.domains, config.aliases, config.catch_all, users)

    def isLocalDomain(self, domain: str) -> bool:
        return domain.lower().rstrip(".") in self._domains

    def route(self, address: str) -> Route:
        """
        Where C{address} (C{local@domain}, or a bare C{postmaster}) goes.
        Local parts are compared without case; an alias with the domain
        (C{sales@example.test}) wins over one without (C{sales}), then a
        user, then a subaddress (C{alice+tag} -> C{alice}), then the
        catch-all.  A bare C{postmaster} is always local (RFC 5321 §4.5.1).

        @raise UnknownRecipient: for an address in a local domain that
            nobody receives.
        """
        local, at, domain = address.rpartition("@")
        if not at:
            local, domain = address, ""
        key = local.lower()
        barePostmaster = not domain and key == "postmaster"
        if not barePostmaster and not (domain and self.isLocalDomain(domain)):
            return RemoteRoute(address)
        aliases = self._aliases
        for candidate in (f"{key}@{domain.lower()}", key):
            if candidate in aliases:
                return LocalRoute(aliases[candidate])
        lookup = self._users.lookup
        if lookup(key) is not None:
            return LocalRoute((key,))
        base = key.split("+", 1)[0]
        if base != key and lookup(base) is not None:
            return LocalRoute((base,))
        if self._catchAll:
            return LocalRoute((self._catchAll,))
        raise UnknownRecipient(address)
