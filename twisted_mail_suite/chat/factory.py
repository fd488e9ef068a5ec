# -*- test-case-name: tests.chat.test_protocol -*-
"""
The chat factory the registry names.
"""
from __future__ import annotations

from typing import Any

from .protocol import ChatFactory

__all__ = ["ChatFactory", "makeFactory"]


def makeFactory(parts: Any, role: str = "chat") -> ChatFactory:
    """
    One per suite, shared by every C{chat.listen} endpoint.
    """
    return ChatFactory(parts, role)
