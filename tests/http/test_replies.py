# -*- test-case-name: tests.http.test_replies -*-
"""
Placeholder, filled in below.
"""
from __future__ import annotations
