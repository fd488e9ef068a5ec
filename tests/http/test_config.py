# -*- test-case-name: tests.http.test_config -*-
"""
Placeholder, filled in below.
"""
from __future__ import annotations
