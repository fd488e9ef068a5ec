# -*- test-case-name: tests.http.test_config -*-
"""
The C{http:} section of tap.yaml (DESIGN.md "HTTP: web pages, JSON API,
metrics"; docs/http-api.md): its frozen dataclass, with error messages
naming the file and the key as every section's do.
L{twisted_mail_suite.config} embeds it as C{Config.http}; this module sits
below it and imports only the converters and the bottom layer.

Off by default (C{listen: []}); the shipped tap.yaml turns it on, on
loopback.
"""
from __future__ import annotations

from dataclasses import dataclass

from .convert import fail as _fail
from .convert import option as _opt

__all__ = ["HTTPConfig"]


def _endpoints(value: object, key: str, source: str) -> tuple[str, ...]:
    # The shape only: config.py checks each string as it checks every
    # section's (configFromDict), this module being below it.
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise _fail(source, key, 'a list of endpoint strings like "tcp:8080"', value)
    return tuple(value)


def _names(value: object, key: str, source: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise _fail(source, key, "a list of user names", value)
    return tuple(v.strip().lower() for v in value)


def _seconds(value: object, key: str, source: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
        raise _fail(source, key, "a number of seconds > 0", value)
    return float(value)


def _count(value: object, key: str, source: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise _fail(source, key, "a whole number >= 0", value)
    return value


def _octets(low: int) -> object:
    def convert(value: object, key: str, source: str) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            raise _fail(source, key, f"a number of octets >= {low}", value)
        return value
    return convert


@dataclass(frozen=True)
class HTTPConfig:
    """
    The web pages, the JSON API and C{/metrics}.

    @ivar admins: the users who may use the admin endpoints and pages.
    @ivar idle_timeout: a kept-alive connection with no request in progress
        is closed after this long.
    @ivar request_timeout: a request must arrive whole (line, headers,
        body) within this long of its first octet, or it gets a 408 and the
        connection closes: a client dripping octets (slowloris) is cut.
    @ivar max_header_size: the request line and headers together (octets);
        more gets a 431.
    @ivar max_body_size: a request body (octets); more gets a 413.
    @ivar max_wait: the longest long poll (C{/api/v1/wait?timeout=}).
    @ivar session_lifetime: a login cookie's life.
    """

    listen: tuple[str, ...] = _opt(_endpoints, ())
    admins: tuple[str, ...] = _opt(_names, ())
    # The defaults of all protocols together fit RLIMIT_NOFILE 1024; a browser
    # keeps up to 6 connections to a host: raise both with the file limit.
    max_connections: int = _opt(_count, 10)
    max_connections_per_ip: int = _opt(_count, 10)
    idle_timeout: float = _opt(_seconds, 30.0)
    request_timeout: float = _opt(_seconds, 30.0)
    max_header_size: int = _opt(_octets(1024), 16 * 1024)
    max_body_size: int = _opt(_octets(1024), 1024 * 1024)
    max_wait: float = _opt(_seconds, 300.0)
    session_lifetime: float = _opt(_seconds, 8 * 3600.0)
