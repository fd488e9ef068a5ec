# -*- test-case-name: tests.http.test_login -*-
"""
Placeholder, filled in below.
"""
from __future__ import annotations
