# -*- test-case-name: tests.proxy.test_authhttp -*-
"""
nginx's mail proxy in front of the suite: the C{auth_http} endpoint nginx
asks who a user is and which node serves them (C{proxy.auth_http}).  The
other half, XCLIENT from C{proxy.trusted} peers, is in our SMTP
(L{twisted_mail_suite.smtp.xclient}).  See docs/nginx.md.
"""
from __future__ import annotations
