# -*- test-case-name: tests.http.test_wait -*-
"""
Placeholder, filled in below.
"""
from __future__ import annotations
