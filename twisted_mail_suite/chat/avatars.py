# -*- test-case-name: tests.chat.test_avatars -*-
"""
The chat's avatar: an L{IChatUser}, a logged-in user of the chat room.
"""
from __future__ import annotations

from typing import Callable

from zope.interface import implementer

from ..registry import SuiteParts
from ..identity.realm import MailSuiteRealm, nothing
from ..interfaces import IChatUser

__all__ = ["ChatUser", "register", "registerAvatars"]


@implementer(IChatUser)
class ChatUser:
    """
    A logged-in chat user.
    """

    def __init__(self, name: str) -> None:
        self.name = name


def registerAvatars(realm: MailSuiteRealm) -> None:
    """
    Give logged-in users an L{IChatUser}.
    """

    def chatUser(user: str) -> tuple[ChatUser, Callable[[], None]]:
        return ChatUser(user), nothing

    realm.register(IChatUser, chatUser)


def register(realm: MailSuiteRealm, parts: SuiteParts) -> None:
    """
    The registry's hook (L{twisted_mail_suite.registry.PROTOCOLS}).
    """
    registerAvatars(realm)
