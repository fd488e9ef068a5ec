# -*- test-case-name: tests.proxy.test_authhttp -*-
"""
The avatar of an auth_http login: only the user's name.  The endpoint
checks a password for nginx and holds nothing for the session (the node
nginx then connects to logs the user in for real).
"""
from __future__ import annotations

from typing import Any

from zope.interface import Interface

from ..identity.realm import MailSuiteRealm, nothing

__all__ = ["IAuthHTTPLogin", "register"]


class IAuthHTTPLogin(Interface):
    """
    A checked login for nginx: the avatar is the user's name (C{str}).
    """


def register(realm: MailSuiteRealm, parts: Any) -> None:
    """
    The registry's hook (L{twisted_mail_suite.registry.PROTOCOLS}).
    """
    realm.register(IAuthHTTPLogin, lambda user: (user, nothing))
