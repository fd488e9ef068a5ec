# -*- test-case-name: tests.http.test_factory -*-
"""
The resource tree of the HTTP listener::

    /                       a small index (the web pages mount their own)
    /login  /logout         the login form and its POST; logout (POST)
    /metrics                Prometheus text
    /api/v1/...             the JSON API (L{twisted_mail_suite.http.api})

Every other path is a JSON 404.  No resource maps a URL to a file.
"""
from __future__ import annotations

from typing import Any

from twisted.web.resource import Resource

from .api import buildAPI
from .endpoint import Folder
from .login import IndexPage, LoginPage, LogoutPage
from .metrics import MetricsResource

__all__ = ["buildRoot"]


def buildRoot(factory: Any) -> Resource:
    """
    The tree for C{factory} (an L{twisted_mail_suite.http.factory.HTTPFactory}).
    """
    root = Folder()
    root.putChild(b"", IndexPage())
    root.putChild(b"login", LoginPage())
    root.putChild(b"logout", LogoutPage())
    root.putChild(b"metrics", MetricsResource(getattr(factory.parts, "metrics", None)))
    api = Folder()
    api.putChild(b"v1", buildAPI(factory))
    root.putChild(b"api", api)
    return root
