# -*- test-case-name: tests.http.test_factory -*-
"""
Placeholder, filled in below.
"""
from __future__ import annotations
