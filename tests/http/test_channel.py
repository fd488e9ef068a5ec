# -*- test-case-name: tests.http.test_channel -*-
"""
Placeholder, filled in below.
"""
from __future__ import annotations
