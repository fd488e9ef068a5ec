# -*- test-case-name: tests.cluster.test_status -*-
"""
What C{mailsuite-admin cluster status} asks the shared services, with
blocking sockets (the admin command is a short script, not a reactor):
Redis's health and the members it knows (L{redisStatus}), and
PostgreSQL's health where it is configured (L{postgresStatus}).
"""
from __future__ import annotations

import socket
import time
from typing import Any

from ..clusterconfig import RedisAddress
from .members import MEMBER_PREFIX, SCAN_COUNT, decodeMembers
from .resp import ReplyParser, ResponseError, encode

__all__ = ["BlockingRedis", "postgresStatus", "redisStatus"]


class BlockingRedis:
    """
    One blocking connection to Redis, one command at a time.
    """

    def __init__(self, address: RedisAddress, timeout: float = 2.0) -> None:
        self._socket = socket.create_connection((address.host, address.port), timeout=timeout)
        self._parser = ReplyParser()
        self._replies: list[Any] = []
        if address.password is not None:
            self.command(*(("AUTH", address.username) if address.username else ("AUTH",)), address.password)
        if address.db:
            self.command("SELECT", address.db)

    def command(self, *args: bytes | str | int | float) -> Any:
        """
        @return: the reply (bytes, an int, L{None} or a list).
        @raise ResponseError: Redis answered an error.
        @raise OSError: the connection failed or timed out.
        """
        self._socket.sendall(encode(*args))
        while not self._replies:
            data = self._socket.recv(65536)
            if not data:
                raise ConnectionError("Redis closed the connection")
            self._replies.extend(self._parser.feed(data))
        reply = self._replies.pop(0)
        if isinstance(reply, ResponseError):
            raise reply
        return reply

    def close(self) -> None:
        self._socket.close()


def _members(redis: BlockingRedis) -> list[dict[str, Any]]:
    keys: list[bytes] = []
    cursor = b"0"
    while True:
        cursor, found = redis.command("SCAN", cursor, "MATCH", MEMBER_PREFIX + "*", "COUNT", SCAN_COUNT)
        keys.extend(found)
        if cursor == b"0":
            break
    return decodeMembers(redis.command("MGET", *keys) if keys else [])


def redisStatus(address: RedisAddress, timeout: float = 2.0) -> dict[str, Any]:
    """
    @return: C{{"ok": True, "ping_ms", "version", "members"}} (members:
        the heartbeats, see L{Heartbeat.describe
        <twisted_mail_suite.cluster.members.Heartbeat.describe>}, sorted by
        node and worker), or C{{"ok": False, "error"}}.
    """
    where = f"{address.host}:{address.port}/{address.db}"
    try:
        redis = BlockingRedis(address, timeout)
        try:
            began = time.perf_counter()
            redis.command("PING")
            latency = (time.perf_counter() - began) * 1000
            info = redis.command("INFO", "server").decode("utf-8", "replace")
            version = next((line.split(":", 1)[1].strip() for line in info.splitlines()
                            if line.startswith("redis_version:")), "unknown")
            members = _members(redis)
        finally:
            redis.close()
    except (OSError, ResponseError) as e:
        return {"ok": False, "address": where, "error": str(e) or type(e).__name__}
    return {"ok": True, "address": where, "ping_ms": round(latency, 3), "version": version, "members": members}


def postgresStatus(url: str | None, timeout: float = 2.0) -> dict[str, Any]:
    """
    @return: C{{"configured": False, "reason"}} without C{cluster.postgres}
        or without psycopg; else C{{"configured": True, "ok", "ping_ms",
        "version"}} or C{{"configured": True, "ok": False, "error"}}.
    """
    if url is None:
        return {"configured": False, "reason": "cluster.postgres is not set"}
    try:
        import psycopg  # type: ignore[import-not-found]
    except ImportError:
        return {"configured": False, "reason": "psycopg is not installed"}
    try:
        with psycopg.connect(url, connect_timeout=max(1, int(timeout))) as connection:
            began = time.perf_counter()
            connection.execute("SELECT 1").fetchone()
            latency = (time.perf_counter() - began) * 1000
            version = connection.execute("SHOW server_version").fetchone()[0]
    except Exception as e:        # psycopg.Error and socket errors alike: the database is not usable
        return {"configured": True, "ok": False, "error": str(e).strip() or type(e).__name__}
    return {"configured": True, "ok": True, "ping_ms": round(latency, 3), "version": version}
