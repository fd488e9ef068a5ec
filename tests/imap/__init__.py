# -*- test-case-name: tests.imap -*-
"""
Tests for L{twisted_mail_suite.imap}.
"""
