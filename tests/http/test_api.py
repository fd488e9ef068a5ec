# -*- test-case-name: tests.http.test_api -*-
"""
Placeholder, filled in below.
"""
from __future__ import annotations
