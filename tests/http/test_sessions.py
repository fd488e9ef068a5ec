# -*- test-case-name: tests.http.test_sessions -*-
"""
Placeholder, filled in below.
"""
from __future__ import annotations
