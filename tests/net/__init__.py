# -*- test-case-name: tests.net -*-
"""
Tests for the connection chassis, L{twisted_mail_suite.net}.
"""
from __future__ import annotations
