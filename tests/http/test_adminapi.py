# -*- test-case-name: tests.http.test_adminapi -*-
"""
Placeholder, filled in below.
"""
from __future__ import annotations
