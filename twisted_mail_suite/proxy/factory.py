# -*- test-case-name: tests.proxy.test_factory -*-
"""
The C{proxy.auth_http} listener: a small twisted.web site with one
resource answering nginx's auth_http requests (L{AuthHTTP}), whatever the
path (nginx's C{auth_http} URL names it), only to requests carrying the
shared secret.  At most C{proxy.auth_http.max_connections} connections at
once (nginx opens one per login and closes it: HTTP/1.0).
"""
from __future__ import annotations

from typing import Any, Callable, Container

from twisted.internet.interfaces import IAddress
from twisted.logger import Logger
from twisted.protocols.policies import WrappingFactory
from twisted.web.resource import Resource
from twisted.web.server import NOT_DONE_YET, Request, Site

from ..errors import ConfigError
from ..registry import SuiteParts, record, sectionOf
from .authhttp import SECRET_HEADER, Answer, AuthHTTP

__all__ = ["AuthHTTPResource", "AuthHTTPSite", "makeFactory", "readSecret"]


class AuthHTTPResource(Resource):
    """
    Every path, C{GET}: the auth_http answer in the response's headers
    (the body is empty: nginx reads only headers).  Without the secret:
    403, nothing checked.
    """

    isLeaf = True
    log = Logger()

    def __init__(self, auth: AuthHTTP) -> None:
        super().__init__()
        self.auth = auth

    def render_GET(self, request: Request) -> Any:
        request.setHeader(b"content-type", b"text/plain")
        if not self.auth.authorized(_header(request, SECRET_HEADER)):
            self.log.warn("auth_http: request without the shared secret from {peer}",
                          peer=getattr(request.getClientAddress(), "host", "?"))
            request.setResponseCode(403)
            return b""
        gone: list[bool] = []
        request.notifyFinish().addErrback(lambda _: gone.append(True))
        local = getattr(request.getHost(), "host", "127.0.0.1")

        def respond(answer: Answer) -> None:
            if gone:
                return
            for name, value in answer:
                request.setHeader(name.encode("ascii"), value.encode("utf-8"))
            request.finish()

        def failed(failure: Any) -> None:
            self.log.failure("auth_http: unexpected error", failure)
            respond([("Auth-Status", "Temporary server problem, try again later"), ("Auth-Wait", "1")])

        self.auth.answer(lambda name: _header(request, name), local).addCallbacks(respond, failed)
        return NOT_DONE_YET


def _header(request: Request, name: str) -> str | None:
    value = request.getHeader(name)
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return value


class AuthHTTPSite(Site):
    """
    The site, without an access log (a line per login is the policy's
    job, and only for failures).
    """

    def log(self, request: Request) -> None:
        pass


class _Limited(WrappingFactory):
    """
    At most C{limit} connections at once; one more is closed unanswered.
    """

    def __init__(self, wrapped: Site, limit: int) -> None:
        super().__init__(wrapped)
        self.limit = limit

    def buildProtocol(self, addr: IAddress) -> Any:
        if len(self.protocols) >= self.limit:
            return None
        return super().buildProtocol(addr)


def readSecret(path: str) -> str:
    """
    The shared secret: the first line of C{path}, without surrounding
    white space.

    @raise ConfigError: unreadable or empty.
    """
    try:
        with open(path, encoding="utf-8") as f:
            secret = f.readline().strip()
    except OSError as e:
        raise ConfigError(path, "proxy.auth_http.secret_file", f"cannot read: {e.strerror}") from None
    if not secret:
        raise ConfigError(path, "proxy.auth_http.secret_file", "the file holds no secret")
    return secret


def makeFactory(parts: SuiteParts, role: str) -> WrappingFactory:
    """
    The registry's maker (L{twisted_mail_suite.registry.PROTOCOLS}).
    """
    config = parts.config
    section = sectionOf(config, record(role))
    assert section.secret_file is not None         # ProxyConfig.check
    down: Callable[[], Container[str]] = lambda: ()
    if parts.shared is not None and config.proxy.backends:
        # a node whose processes all stopped beating gets nobody (docs/nginx.md)
        nodes, names = parts.shared.liveNodes(), [backend.name for backend in config.proxy.backends]
        down = lambda: nodes.down(names)    # noqa: E731
    auth = AuthHTTP(config.proxy, config.auth.max_failures_per_connection, parts.portal, parts.router,
                    readSecret(section.secret_file), parts.portsFor, down)
    site = AuthHTTPSite(AuthHTTPResource(auth), reactor=parts.reactor)
    site.displayTracebacks = False
    return _Limited(site, section.max_connections)

