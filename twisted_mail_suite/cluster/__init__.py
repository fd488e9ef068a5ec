# -*- test-case-name: tests.cluster.test_client -*-
"""
What several processes and nodes share through Redis (docs/scaling.md):
the client (L{client}), and the implementations of the small seams that
need shared state (L{locks}: POP3 maildrop leases; L{counters}: failed
logins), L{members} (each process's heartbeat) and L{status} (what
C{mailsuite-admin cluster status} asks Redis and PostgreSQL).  The bus (L{twisted_mail_suite.bus.redis}) and the chat's
cluster layer (L{twisted_mail_suite.chat.cluster}) build on the client.
"""
from __future__ import annotations

from .client import RedisClient, RedisUnavailable

__all__ = ["RedisClient", "RedisUnavailable"]
