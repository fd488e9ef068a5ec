# -*- test-case-name: tests.metrics -*-
"""
Tests for the metrics seam, L{twisted_mail_suite.metrics}.
"""
