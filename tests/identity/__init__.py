# -*- test-case-name: tests.identity -*-
"""
Tests for L{twisted_mail_suite.identity}.
"""
