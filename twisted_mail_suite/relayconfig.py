# -*- test-case-name: tests.relay.test_service -*-
"""
The C{relay:} section of tap.yaml (DESIGN.md "Outbound delivery";
docs/relay.md): its frozen dataclass and the converters of its values,
with error messages naming the file and the key as every section's do.
L{twisted_mail_suite.config} embeds it as C{Config.relay}; this module
sits below it and imports only the bottom layer.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from typing import Callable, Mapping

from .convert import boolean as _bool
from .convert import choice as _choice
from .convert import fail as _fail
from .convert import option as _opt
from .errors import ConfigError

__all__ = ["RelayConfig", "parseDuration"]

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw]?)\s*$", re.IGNORECASE)
_DURATION_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}




def parseDuration(value: object) -> float:
    """
    C{90}, C{30s}, C{5m}, C{2h}, C{5d} or C{1w} -> seconds (Postfix's units).

    @raise ValueError: not a duration.
    """
    if isinstance(value, (int, float)) and not isinstance(value, bool) and value >= 0:
        return float(value)
    match = _DURATION.match(value) if isinstance(value, str) else None
    if match is None:
        raise ValueError(value)
    return float(match.group(1)) * _DURATION_UNITS[match.group(2).lower()]


def _duration(value: object, key: str, source: str) -> float:
    try:
        return parseDuration(value)
    except ValueError:
        raise _fail(source, key, "a duration like 5m", value) from None


def _durations(value: object, key: str, source: str) -> tuple[float, ...]:
    result = tuple(_duration(v, f"{key}[{i}]", source) for i, v in enumerate(value)) \
        if isinstance(value, list) else ()
    if not result or not all(result):
        raise _fail(source, key, "a non-empty list of durations above zero like [1m, 5m, 1h]", value)
    return result


def _hostPort(value: object, key: str, source: str) -> str | None:
    host, _, port = value.rpartition(":") if isinstance(value, str) else ("", "", "")
    if value is not None and (not host or not port.isdigit() or not 0 < int(port) < 65536):
        raise _fail(source, key, 'a "host:port" like "smtp.example.net:587"', value)
    return value  # type: ignore[return-value]


def _nameservers(value: object, key: str, source: str) -> tuple[str, ...]:
    if not isinstance(value, list) or None in value:
        raise _fail(source, key, 'a list of "address:port" like ["127.0.0.1:53"]', value)
    return tuple(_hostPort(v, f"{key}[{i}]", source) for i, v in enumerate(value))  # type: ignore[misc]


def _dkim(value: object, key: str, source: str) -> Mapping[str, Mapping[str, str]]:
    if not isinstance(value, dict):
        raise _fail(source, key, "a mapping DOMAIN: {selector: S, key_file: PATH}", value)
    for domain, entry in value.items():
        if not isinstance(entry, dict) or set(entry) != {"selector", "key_file"} \
                or not all(isinstance(v, str) and v for v in entry.values()):
            raise _fail(source, f"{key}.{domain}", "{selector: S, key_file: PATH}", entry)
    return {str(domain).lower().rstrip("."): dict(entry) for domain, entry in value.items()}


def _optPath(value: object, key: str, source: str) -> str | None:
    if value is not None and (not isinstance(value, str) or not value):
        raise _fail(source, key, "a non-empty string", value)
    return value




def _port(value: object, key: str, source: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value < 65536:
        raise _fail(source, key, "a port number", value)
    return value






@dataclass(frozen=True)
class RelayConfig:
    """
    Outbound delivery.
    """

    mode: str = _opt(_choice("mx", "smarthost", "off"), "mx")
    smarthost: str | None = _opt(_hostPort, None)
    smarthost_tls: str = _opt(_choice("starttls", "tls", "none"), "starttls")
    smarthost_auth_file: str | None = _opt(_optPath, None)
    tls_verify: bool = _opt(_bool, True)
    ca_file: str | None = _opt(_optPath, None)
    mx_port: int = _opt(_port, 25)
    nameservers: tuple[str, ...] = _opt(_nameservers, ())
    retry_schedule: tuple[float, ...] = _opt(_durations, (60.0, 300.0, 900.0, 1800.0, 3600.0, 7200.0, 14400.0))
    max_queue_lifetime: float = _opt(_duration, 5 * 86400.0)
    dkim: Mapping[str, Mapping[str, str]] = field(default_factory=dict, metadata={"convert": _dkim})

    def check(self, source: str) -> None:
        """
        What no single key can say: mode smarthost names one; plaintext
        only to a loopback smarthost.

        @raise ConfigError: naming C{source} and the key.
        """
        if self.mode == "smarthost" and self.smarthost is None:
            raise ConfigError(source, "relay.smarthost", 'mode smarthost needs "host:port"')
        host = (self.smarthost or "").rpartition(":")[0].lower().strip("[]")
        if self.smarthost_tls == "none" and self.smarthost and host not in ("localhost", "::1") \
                and not host.startswith("127."):
            raise ConfigError(source, "relay.smarthost_tls", f"none is allowed only to loopback, not {host}")

    def resolved(self, resolve: Callable[[str | None], str | None]) -> RelayConfig:
        """
        This section with its file paths resolved by C{resolve}.
        """
        return replace(self, smarthost_auth_file=resolve(self.smarthost_auth_file), ca_file=resolve(self.ca_file),
                       dkim={d: {**e, "key_file": resolve(e["key_file"])} for d, e in self.dkim.items()})
