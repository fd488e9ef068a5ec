# -*- test-case-name: tests.identity.test_realm -*-
"""
SMTP's avatar: a C{twisted.mail.smtp.IMessageDelivery}, for anonymous MX
clients and for users after AUTH.
"""
from __future__ import annotations

from typing import Any, Callable

from twisted.mail.smtp import IMessageDelivery

from ..config import Config
from ..delivery import DeliveryTarget
from ..registry import SuiteParts
from ..identity.realm import MailSuiteRealm, nothing
from ..interfaces import NULL_METRICS, IMailStore, IMetrics, IUserDatabase
from .delivery import LocalDelivery

__all__ = ["register", "registerAvatars"]


def registerAvatars(realm: MailSuiteRealm, config: Config, store: IMailStore, users: IUserDatabase,
                    router: Any = None, metrics: IMetrics = NULL_METRICS) -> None:
    """
    Give every client (anonymous or logged in) a L{LocalDelivery} into
    C{store} for the local users in C{users}, all through one delivery
    target (timing its commits in C{metrics}).
    """
    target = DeliveryTarget(store, metrics=metrics)

    def delivery(user: str | None) -> tuple[Any, Callable[[], None]]:
        return LocalDelivery(config, store, users, user, router, target), nothing

    realm.register(IMessageDelivery, delivery, anonymous=True)


def register(realm: MailSuiteRealm, parts: SuiteParts) -> None:
    """
    The registry's hook (L{twisted_mail_suite.registry.PROTOCOLS}).
    """
    registerAvatars(realm, parts.config, parts.store, parts.users, parts.router, parts.metrics)
