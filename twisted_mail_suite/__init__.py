# -*- test-case-name: tests -*-
"""
twisted-mail-suite: ESMTP, POP3 and a line-based chat room on Twisted, with
one credential checker and one mailbox portal shared by all three.
"""
from __future__ import annotations

__version__ = "0.1.0"
