# -*- test-case-name: tests.chat -*-
"""
Tests for the chat room.
"""
from __future__ import annotations
