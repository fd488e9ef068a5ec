# -*- test-case-name: tests.http.test_metrics -*-
"""
Placeholder, filled in below.
"""
from __future__ import annotations
