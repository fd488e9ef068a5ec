# -*- test-case-name: tests.pop3.test_locks -*-
"""
The in-process L{IMaildropLocks}: one POP3 session per maildrop within
this process.
"""
from __future__ import annotations

from typing import Callable

from zope.interface import implementer

from ..errors import MailboxInUse
from ..interfaces import IMaildropLocks

__all__ = ["MaildropLocks"]


@implementer(IMaildropLocks)
class MaildropLocks:
    """
    Which maildrops have a POP3 session (one at a time, RFC 1939 §8).
    """

    def __init__(self) -> None:
        self._held: set[str] = set()

    def acquire(self, user: str) -> Callable[[], None]:
        """
        @return: the release callable (idempotent).
        @raise MailboxInUse: if C{user}'s maildrop is held.
        """
        if user in self._held:
            raise MailboxInUse(user)
        self._held.add(user)
        released = []

        def release() -> None:
            if not released:
                released.append(True)
                self._held.discard(user)

        return release

    def isHeld(self, user: str) -> bool:
        return user in self._held
