# -*- test-case-name: tests.store -*-
"""
Mail stores behind L{twisted_mail_suite.interfaces.IMailStore}: the Maildir
backend (L{maildir}), the PostgreSQL one for several nodes (L{postgres}),
wire-form content from files (L{content}) and the decorator that announces
new mail after commit (L{notifying}).  Imports only
the bottom layer (interfaces, errors, events) and config.
"""
from __future__ import annotations
