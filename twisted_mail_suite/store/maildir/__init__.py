# -*- test-case-name: tests.store.test_maildir -*-
"""
The Maildir store: L{layout} (names, sizes, folders), L{writer} (two-phase
delivery), L{groupcommit} (grouped fsyncs) in L{committhread}, L{store} (the
L{IMailStore}).
"""
from __future__ import annotations

from .committhread import CommitThread
from .layout import uidOf, wireSize
from .store import MaildirStore, runSynchronously
from .writer import MaildirDelivery

__all__ = ["CommitThread", "MaildirStore", "MaildirDelivery", "runSynchronously", "uidOf", "wireSize"]
