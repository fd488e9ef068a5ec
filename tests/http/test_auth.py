# -*- test-case-name: tests.http.test_auth -*-
"""
Placeholder, filled in below.
"""
from __future__ import annotations
