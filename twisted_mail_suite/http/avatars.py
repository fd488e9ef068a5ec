# -*- test-case-name: tests.http.test_auth -*-
"""
The HTTP avatar: C{IWebUser}, a logged-in user of the web pages and the
API, registered with the one realm.  It holds nothing (its logout does
nothing): the mailbox is reached through the suite's store.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from zope.interface import Attribute, Interface, implementer

from ..identity.realm import MailSuiteRealm, nothing
from ..registry import SuiteParts

__all__ = ["IWebUser", "WebUser", "register", "registerAvatars"]


class IWebUser(Interface):
    """
    A user logged in over HTTP.
    """

    name = Attribute("The user name (str): the mailbox and the login.")
    admin = Attribute("Whether the user is named in http.admins (bool).")


@implementer(IWebUser)
@dataclass(frozen=True)
class WebUser:
    name: str
    admin: bool = False


def registerAvatars(realm: MailSuiteRealm, admins: Any) -> None:
    """
    Give logged-in users an L{IWebUser}; those in C{admins} are admins.
    """
    admins = frozenset(admins)

    def avatar(user: str) -> tuple[WebUser, Any]:
        return WebUser(user, user in admins), nothing

    realm.register(IWebUser, avatar)


def register(realm: MailSuiteRealm, parts: SuiteParts) -> None:
    """
    The registry's hook (L{twisted_mail_suite.registry.PROTOCOLS}).
    """
    registerAvatars(realm, parts.config.http.admins)
