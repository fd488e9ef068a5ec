# -*- test-case-name: tests.test_events -*-
"""
The events the suite publishes (values only; the buses are in
L{twisted_mail_suite.bus}).
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class NewMailEvent:
    """
    A message became durable in C{user}'s mailbox.
    """

    user: str
    sender: str
    subject: str
    uid: str
