# -*- test-case-name: tests.relay -*-
"""
Tests for L{twisted_mail_suite.relay}.
"""
