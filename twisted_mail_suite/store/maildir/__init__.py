# -*- test-case-name: tests.store.test_maildir -*-
"""
The Maildir store: L{layout} (names, sizes, folders), L{writer} (two-phase
delivery), L{groupcommit} (grouped fsyncs), L{store} (the L{IMailStore}).
"""
from __future__ import annotations

from .layout import uidOf, wireSize
from .store import MaildirStore, runSynchronously
from .writer import MaildirDelivery

__all__ = ["MaildirStore", "MaildirDelivery", "runSynchronously", "uidOf", "wireSize"]
