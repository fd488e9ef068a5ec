# -*- test-case-name: tests.test_events -*-
"""
Event buses: L{local.EventBus} in one process, L{redis.RedisEventBus} across
processes and nodes (Redis pub/sub).
"""
from __future__ import annotations

from .local import EventBus

__all__ = ["EventBus"]
