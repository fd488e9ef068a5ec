# -*- test-case-name: tests.http.test_api -*-
"""
Resources that answer JSON: L{Folder} (a path segment with named
children; anything else is a JSON 404) and L{Endpoint} (a leaf: one
handler per method, run after the login check its C{access} asks for,
its result or its L{HTTPError} written as JSON).

A handler is C{handler(request, user) -> value | Deferred[value]}; the
value is written as JSON with status 200, or, for a L{Reply}, with its
status (or raw bytes with its content type).  If the client goes away
first, the handler's Deferred is cancelled (a long poll stops waiting).
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Callable

from twisted.internet.defer import CancelledError, maybeDeferred
from twisted.logger import Logger
from twisted.python.failure import Failure
from twisted.web.resource import Resource
from twisted.web.server import NOT_DONE_YET

from .replies import HTTPError, writeBody, writeError, writeJSON

__all__ = ["Endpoint", "Folder", "NotFound", "Reply", "jsonArgument", "queryArgument"]

Handler = Callable[[Any, Any], Any]


@dataclass(frozen=True)
class Reply:
    """
    A handler's answer other than "200 with this JSON": C{status} and
    either C{value} (JSON) or C{body} (raw, with C{contentType}).
    """

    status: int = 200
    value: Any = None
    body: bytes | None = None
    contentType: bytes = b"application/octet-stream"
    headers: tuple[tuple[bytes, bytes], ...] = ()


class NotFound(Resource):
    """
    The JSON 404 of any path nothing serves.
    """

    isLeaf = True

    def render(self, request: Any) -> bytes:
        writeError(request, HTTPError(404, "not-found", "Nothing here."))
        return NOT_DONE_YET  # type: ignore[return-value]


class Folder(Resource):
    """
    A path segment: its children by name, a JSON 404 for any other.
    """

    def getChild(self, path: bytes, request: Any) -> Resource:
        return NotFound()

    def render(self, request: Any) -> bytes:
        return NotFound().render(request)


class Endpoint(Resource):
    """
    A JSON endpoint.

    @cvar access: C{"none"} (no login), C{"user"} or C{"admin"}.
    @ivar handlers: method -> handler.
    """

    isLeaf = True
    access = "user"
    log = Logger()

    def __init__(self, handlers: dict[bytes, Handler], access: str | None = None) -> None:
        super().__init__()
        self.handlers = handlers
        if access is not None:
            self.access = access

    def render(self, request: Any) -> bytes:
        handler = self.handlers.get(request.method)
        if handler is None and request.method == b"HEAD":
            handler = self.handlers.get(b"GET")
        if handler is None:
            allowed = b", ".join(sorted(self.handlers))
            writeError(request, HTTPError(405, "method-not-allowed",
                                          f"Use {allowed.decode('ascii')}.", {b"Allow": allowed}))
            return NOT_DONE_YET  # type: ignore[return-value]
        if self.access == "none":
            d = maybeDeferred(handler, request, None)
        else:
            d = request.site.auth.requireUser(request, self.access == "admin")
            d.addCallback(lambda user: handler(request, user))

        def gone(_: object) -> None:
            request.webGone = True        # the client left: write nothing more
            d.cancel()

        request.notifyFinish().addErrback(gone)
        d.addCallbacks(self._answer, self._failed, callbackArgs=(request,), errbackArgs=(request,))
        return NOT_DONE_YET  # type: ignore[return-value]

    def _answer(self, value: Any, request: Any) -> None:
        if request.finished or getattr(request, "webGone", False):
            return
        if isinstance(value, Reply):
            for name, header in value.headers:
                request.setHeader(name, header)
            if value.body is None:
                writeJSON(request, value.value, value.status)
                return
            writeBody(request, value.status, value.contentType, value.body)
            return
        writeJSON(request, value)

    def _failed(self, failure: Failure, request: Any) -> None:
        if failure.check(CancelledError) or request.finished or getattr(request, "webGone", False):
            return
        if failure.check(HTTPError):
            writeError(request, failure.value)
            return
        self.log.failure("{method} {uri} failed", failure, method=request.method, uri=request.uri)
        writeError(request, HTTPError(500, "internal", "Internal server error; it was logged."))


def queryArgument(request: Any, name: bytes, default: str | None = None) -> str | None:
    """
    The query (or form) argument C{name} as text, or C{default}.

    @raise HTTPError: 400 if it is not UTF-8.
    """
    values = request.args.get(name)
    if not values:
        return default
    try:
        return values[0].decode("utf-8")  # type: ignore[no-any-return]
    except UnicodeDecodeError:
        raise HTTPError(400, "bad-request", f"{name.decode('ascii')} is not UTF-8.") from None


def jsonArgument(request: Any) -> dict[str, Any]:
    """
    The request's body as a JSON object, or its form fields (one value
    each) if it is a form.

    @raise HTTPError: 400 (not JSON, not an object), 415 (another type).
    """
    contentType = (request.getHeader(b"Content-Type") or b"").split(b";")[0].strip().lower()
    if contentType in (b"application/x-www-form-urlencoded", b"multipart/form-data"):
        return {key.decode("utf-8", "replace"): values[0].decode("utf-8", "replace")
                for key, values in request.args.items() if values}
    if contentType not in (b"application/json", b""):
        raise HTTPError(415, "unsupported-media-type", "Send application/json.")
    request.content.seek(0)
    body = request.content.read()
    try:
        value = json.loads(body or b"{}")
    except ValueError:
        raise HTTPError(400, "bad-request", "The body is not valid JSON.") from None
    if not isinstance(value, dict):
        raise HTTPError(400, "bad-request", "The body must be a JSON object.")
    return value
