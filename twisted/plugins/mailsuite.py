# -*- test-case-name: tests.test_service -*-
"""
The twistd dropin for C{twistd -n mailsuite}: import-light by design.
"""
from __future__ import annotations

from twisted.application.service import ServiceMaker

mailsuite = ServiceMaker(
    "twisted-mail-suite", "twisted_mail_suite.tap",
    "ESMTP + POP3 + chat with one login for all three", "mailsuite")
