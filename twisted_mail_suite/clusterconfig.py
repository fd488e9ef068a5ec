# -*- test-case-name: tests.cluster.test_config -*-
"""
The C{cluster:} section of tap.yaml and the C{workers:} count (DESIGN.md
"Several processes, several nodes"; docs/scaling.md): where the shared
state lives (C{redis}), the PostgreSQL URL of the shared mail store and
outbound queue (C{postgres}; L{twisted_mail_suite.store.postgres}) and
this node's name.
L{twisted_mail_suite.config} embeds it as C{Config.cluster}; this module
sits below it and imports only the bottom layer.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

from .convert import fail as _fail
from .convert import option as _opt
from .errors import ConfigError

__all__ = ["ClusterConfig", "RedisAddress", "parseRedisURL", "workersCount"]

_NODE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$")


@dataclass(frozen=True)
class RedisAddress:
    """
    A parsed C{redis://[[user]:password@]host[:port][/db]} URL.
    """

    host: str
    port: int = 6379
    db: int = 0
    username: str | None = None
    password: str | None = None


def parseRedisURL(url: str) -> RedisAddress:
    """
    @raise ValueError: not a C{redis://} URL we can use.
    """
    parts = urlsplit(url)
    if parts.scheme != "redis" or not parts.hostname or parts.query or parts.fragment:
        raise ValueError(url)
    port = parts.port if parts.port is not None else 6379     # raises ValueError when out of range
    path = parts.path.strip("/")
    if path and not path.isdigit():
        raise ValueError(url)
    return RedisAddress(parts.hostname, port, int(path or 0),
                        unquote(parts.username) if parts.username else None,
                        unquote(parts.password) if parts.password is not None else None)


def _redis(value: object, key: str, source: str) -> str | None:
    if value is None:
        return None
    try:
        parseRedisURL(value)  # type: ignore[arg-type]
    except (ValueError, TypeError, AttributeError):
        raise _fail(source, key, "null or a URL like redis://127.0.0.1:6379/0", value) from None
    return value  # type: ignore[return-value]


def _postgres(value: object, key: str, source: str) -> str | None:
    if value is None:
        return None
    parts = urlsplit(value) if isinstance(value, str) else None
    if parts is None or parts.scheme not in ("postgresql", "postgres") or not (parts.netloc or parts.path):
        raise _fail(source, key, "null or a URL like postgresql://user@127.0.0.1/mail", value)
    return value  # type: ignore[return-value]


def _node(value: object, key: str, source: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not _NODE.match(value):
        raise _fail(source, key, "null or a name of letters, digits, '.', '_' and '-'", value)
    return value


def workersCount(value: object, key: str, source: str) -> int:
    """
    The converter of C{workers:}: a whole number from 1 to 64.
    """
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 64:
        raise _fail(source, key, "a whole number from 1 to 64", value)
    return value


@dataclass(frozen=True)
class ClusterConfig:
    redis: str | None = _opt(_redis, None)         # e.g. redis://127.0.0.1:6379/0
    postgres: str | None = _opt(_postgres, None)   # e.g. postgresql://mail@127.0.0.1/mail: mail and queue there
    node: str | None = _opt(_node, None)           # this node's name; None: the host name

    @property
    def redisAddress(self) -> RedisAddress | None:
        return parseRedisURL(self.redis) if self.redis is not None else None

    def check(self, source: str, workers: int) -> None:
        """
        The rules across keys: several workers share their state through
        Redis, so C{workers > 1} needs C{cluster.redis}.

        @raise ConfigError: naming C{source} and the key.
        """
        if workers > 1 and self.redis is None:
            raise ConfigError(source, "workers",
                              f"{workers} workers share their state through Redis: set cluster.redis")
