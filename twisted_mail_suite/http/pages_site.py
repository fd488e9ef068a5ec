# -*- test-case-name: tests.http.test_pages -*-
"""
L{mountPages}: the web pages in an HTTP factory's resource tree::

    /             to the inbox
    /login        the login form of L{twisted_mail_suite.http.login}, in the pages' layout
    /inbox...     L{twisted_mail_suite.http.pages_inbox}
    /chat         the chat page, and the chat's WebSocket (L{twisted_mail_suite.http.websocket})
    /admin...     L{twisted_mail_suite.http.pages_admin}
    /static/NAME  the style sheet and the scripts

The chat behind C{/chat} is the suite's own chat factory, looked up when
a WebSocket opens (L{SuiteParts.factoryFor
<twisted_mail_suite.registry.SuiteParts>}): without a chat listener, the
page says so and the WebSocket is closed.
"""
from __future__ import annotations

from typing import Any

from .mail import MessageReader
from .pages import ChatPage, Home, StaticFiles, StyledLoginPage
from .pages_admin import AdminPage
from .pages_inbox import InboxPage
from .sessions import COOKIE
from .websocket import ChatSocketResource, LineSocketFactory

__all__ = ["mountPages"]


def mountPages(factory: Any) -> None:
    """
    Mount the pages in C{factory} (an
    L{twisted_mail_suite.http.factory.HTTPFactory}): over its index, next
    to its login form and API.
    """
    parts = factory.parts
    chatSection = parts.config.chat

    def sessionUser(request: Any) -> str | None:
        session = factory.auth.sessions.get(request.getCookie(COOKIE))
        return session.user.name if session is not None else None

    sockets = LineSocketFactory(lambda: parts.factoryFor("chat"), parts.clock, parts.reactor,
                                maxMessage=chatSection.max_line_length * 4)
    factory.mount(b"", Home())
    factory.mount(b"login", StyledLoginPage())
    factory.mount(b"inbox", InboxPage(MessageReader(parts.store)))
    factory.mount(b"chat", ChatSocketResource(sockets, ChatPage(), sessionUser))
    factory.mount(b"admin", AdminPage(parts, factory.auth))
    factory.mount(b"static", StaticFiles())
