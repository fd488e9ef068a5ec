# -*- test-case-name: tests.store.test_postgres -*-
"""
The C{cluster:} section of tap.yaml (DESIGN.md "Several processes, several
nodes"): C{postgres}, a C{postgresql://} URL of the shared mail store and
outbound queue (L{None}: Maildir and the disk queue under C{data_dir});
C{redis}, the shared bus and locks; C{node}, this node's name.
L{twisted_mail_suite.config} embeds it as C{Config.cluster}; this module
sits below it and imports only the bottom layer.
"""
from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

from .convert import fail as _fail
from .convert import option as _opt

__all__ = ["ClusterConfig", "postgresURL"]


def _optStr(value: object, key: str, source: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not value:
        raise _fail(source, key, "a non-empty string or null", value)
    return value


def postgresURL(value: object, key: str, source: str) -> str | None:
    """
    A libpq connection URL (C{postgresql://user@host:port/db?...}), or L{None}.
    """
    if value is None:
        return None
    expected = "a postgresql://user@host:port/database URL or null"
    if not isinstance(value, str):
        raise _fail(source, key, expected, value)
    try:
        parts = urlsplit(value)
        parts.port     # noqa: B018 - raises on a bad port
    except ValueError:
        raise _fail(source, key, expected, value) from None
    if parts.scheme not in ("postgresql", "postgres") or not parts.path.strip("/") and "dbname=" not in parts.query:
        raise _fail(source, key, expected, value)
    return value


@dataclass(frozen=True)
class ClusterConfig:
    redis: str | None = _opt(_optStr, None)
    postgres: str | None = _opt(postgresURL, None)
    node: str | None = _opt(_optStr, None)
