# -*- test-case-name: tests.delivery -*-
"""
Delivery: where an address goes (L{router}), the one two-phase target that
fans a message out to mailboxes (L{target}), and the messages the suite
writes itself (L{compose}).  Imports only the bottom layer and C{config};
no protocol.
"""
from __future__ import annotations

from .compose import ComposedMessage, chatMail, deliverChatMail, deliverComposed
from .router import LocalRoute, RemoteRoute, Route, Router
from .target import Delivery, DeliveryTarget

__all__ = ["Router", "Route", "LocalRoute", "RemoteRoute", "DeliveryTarget", "Delivery",
           "ComposedMessage", "chatMail", "deliverComposed", "deliverChatMail"]
