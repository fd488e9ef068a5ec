# -*- test-case-name: tests.proxy.test_config -*-
"""
The C{proxy:} section of tap.yaml (DESIGN.md "Several processes, several
nodes"; docs/nginx.md): nginx's mail proxy in front of the suite.

    proxy:
      auth_http:
        listen: ["tcp:9143:interface=127.0.0.1"]   # nginx's auth_http URL points here
        secret_file: ./auth_http.secret             # one line; nginx sends it as X-Auth-Key
      trusted: [127.0.0.1/32, "::1"]                # may send XCLIENT to our SMTP
      backends:                                     # [] : this node, its own listening ports
        - {name: a, host: 10.0.0.1, smtp: 25, submission: 587, pop3: 110, imap: 143}

L{twisted_mail_suite.config} embeds it as C{Config.proxy} (and checks the
endpoint strings of C{auth_http.listen}); this module sits below it and
imports only the bottom layer.
"""
from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field, replace
from functools import cached_property
from typing import Callable

from .convert import fail as _fail
from .convert import option as _opt
from .errors import ConfigError

__all__ = ["AuthHTTPConfig", "BackendConfig", "ProxyConfig", "BACKEND_ROLES"]

BACKEND_ROLES = ("smtp", "submission", "pop3", "imap")
_Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def _strings(value: object, key: str, source: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise _fail(source, key, "a list of strings", value)
    return tuple(value)


def _optPath(value: object, key: str, source: str) -> str | None:
    if value is not None and (not isinstance(value, str) or not value):
        raise _fail(source, key, "a file name", value)
    return value


def _whole(low: int, high: int) -> Callable[[object, str, str], int]:
    def convert(value: object, key: str, source: str) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise _fail(source, key, f"a whole number from {low} to {high}", value)
        return value
    return convert


def _networks(value: object, key: str, source: str) -> tuple[str, ...]:
    if not isinstance(value, list):
        raise _fail(source, key, 'a list of addresses or networks like "10.0.0.0/8"', value)
    result = []
    for index, item in enumerate(value):
        try:
            result.append(str(ipaddress.ip_network(str(item), strict=False)))
        except ValueError:
            raise _fail(source, f"{key}[{index}]", 'an address or a network like "10.0.0.0/8"', item) from None
    return tuple(result)


@dataclass(frozen=True)
class BackendConfig:
    """
    One node nginx may send a user to: its address as nginx reaches it
    (an IP address: nginx does not resolve C{Auth-Server}) and the port of
    each protocol there (0: that node does not serve it).
    """

    name: str
    host: str
    smtp: int = 25
    submission: int = 587
    pop3: int = 110
    imap: int = 143

    def port(self, role: str) -> int:
        return int(getattr(self, role))


def _backends(value: object, key: str, source: str) -> tuple[BackendConfig, ...]:
    if not isinstance(value, list):
        raise _fail(source, key, "a list of {name, host, smtp, submission, pop3, imap}", value)
    result: list[BackendConfig] = []
    port = _whole(0, 65535)
    for index, item in enumerate(value):
        where = f"{key}[{index}]"
        if not isinstance(item, dict) or set(item) - {"name", "host", *BACKEND_ROLES}:
            raise _fail(source, where, "a mapping of name, host, smtp, submission, pop3, imap", item)
        name, host = item.get("name"), item.get("host")
        if not isinstance(name, str) or not name or any(b.name == name for b in result):
            raise _fail(source, f"{where}.name", "a name no other backend has", name)
        try:
            ipaddress.ip_address(str(host))
        except ValueError:
            raise _fail(source, f"{where}.host", "an IP address (nginx does not resolve Auth-Server)",
                        host) from None
        ports = {role: port(item[role], f"{where}.{role}", source) for role in BACKEND_ROLES if role in item}
        result.append(BackendConfig(name, str(host), **ports))
    return tuple(result)


@dataclass(frozen=True)
class AuthHTTPConfig:
    """
    The endpoint nginx's C{auth_http} asks.  C{secret_file} holds the
    shared secret nginx sends in C{X-Auth-Key} (C{auth_http_header}); a
    request without it is refused, so nobody else can test passwords or
    claim a C{Client-IP}.
    """

    listen: tuple[str, ...] = _opt(_strings, ())
    secret_file: str | None = _opt(_optPath, None)
    max_connections: int = _opt(_whole(1, 100_000), 256)
    wait: int = _opt(_whole(0, 3600), 1)       # Auth-Wait after a wrong password (the policy's delay comes first)


@dataclass(frozen=True)
class ProxyConfig:
    auth_http: AuthHTTPConfig = field(default_factory=AuthHTTPConfig, metadata={"section": AuthHTTPConfig})
    trusted: tuple[str, ...] = _opt(_networks, ())      # networks, normalised ("127.0.0.1/32")
    backends: tuple[BackendConfig, ...] = _opt(_backends, ())

    def isTrusted(self, host: str) -> bool:
        """
        May a client at C{host} send XCLIENT?
        """
        try:
            address = ipaddress.ip_address(host.split("%", 1)[0])
        except ValueError:
            return False
        mapped = getattr(address, "ipv4_mapped", None)
        return any((address in network) or (mapped is not None and mapped in network)
                   for network in self.trustedNetworks)

    @cached_property
    def trustedNetworks(self) -> tuple[_Network, ...]:
        return tuple(ipaddress.ip_network(n) for n in self.trusted)

    def check(self, source: str) -> None:
        """
        What no single key can say: an auth_http listener needs its secret.

        @raise ConfigError: naming C{source} and the key.
        """
        if self.auth_http.listen and self.auth_http.secret_file is None:
            raise ConfigError(source, "proxy.auth_http.secret_file",
                              "needed when proxy.auth_http.listen is set (nginx sends it with auth_http_header)")

    def resolved(self, resolve: Callable[[str | None], str | None]) -> ProxyConfig:
        """
        This section with its file paths resolved by C{resolve}.
        """
        return replace(self, auth_http=replace(self.auth_http, secret_file=resolve(self.auth_http.secret_file)))
