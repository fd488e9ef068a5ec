"""
Tests for L{twisted_mail_suite.delivery}: the router, the target and the
messages the suite composes.
"""
