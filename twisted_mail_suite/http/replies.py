# -*- test-case-name: tests.http.test_replies -*-
"""
What every HTTP answer shares: JSON bodies, errors as
C{{"error": CODE, "message": TEXT}} with their status (L{HTTPError}), and
the security headers sent on every response, including the raw refusals
a connection gets before any request object exists (L{rawResponse}).
"""
from __future__ import annotations

import json
from http import HTTPStatus
from typing import Any


__all__ = ["CSP", "HTTPError", "SECURITY_HEADERS", "errorBody", "jsonBody", "rawResponse",
           "setSecurityHeaders", "writeBody", "writeError", "writeJSON"]

# Nothing from elsewhere, no inline script or style, no framing, no plugins;
# forms post only here.  Message HTML is shown in a sandboxed iframe by
# the pages, under a CSP of its own.
CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
       "connect-src 'self'; form-action 'self'; frame-src 'self'; frame-ancestors 'none'; "
       "base-uri 'none'")

SECURITY_HEADERS: tuple[tuple[bytes, bytes], ...] = (
    (b"Content-Security-Policy", CSP.encode("ascii")),
    (b"X-Content-Type-Options", b"nosniff"),
    (b"X-Frame-Options", b"DENY"),
    (b"Referrer-Policy", b"same-origin"),   # no-referrer makes browsers send "Origin: null" on our own forms
    (b"Cross-Origin-Opener-Policy", b"same-origin"),
    (b"Cross-Origin-Resource-Policy", b"same-origin"),
    (b"Permissions-Policy", b"camera=(), microphone=(), geolocation=(), payment=()"),
    (b"Cache-Control", b"no-store"),
)
HSTS = (b"Strict-Transport-Security", b"max-age=31536000")


class HTTPError(Exception):
    """
    A request that gets an error answer: C{status}, a short machine code
    (C{error}) and a sentence for people (C{message}).

    @ivar headers: extra response headers (C{WWW-Authenticate}, C{Allow}).
    @ivar close: close the connection after the answer.
    """

    def __init__(self, status: int, error: str, message: str, headers: dict[bytes, bytes] | None = None,
                 close: bool = False) -> None:
        super().__init__(status, error, message)
        self.status = status
        self.error = error
        self.message = message
        self.headers = headers or {}
        self.close = close


def jsonBody(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode("utf-8") + b"\n"


def errorBody(error: str, message: str) -> bytes:
    return jsonBody({"error": error, "message": message})


def setSecurityHeaders(request: Any) -> None:
    """
    Put the security headers on C{request}'s response (and HSTS over TLS).
    """
    headers = request.responseHeaders
    for name, value in SECURITY_HEADERS:
        headers.setRawHeaders(name, [value])
    if request.isSecure():
        headers.setRawHeaders(HSTS[0], [HSTS[1]])


def writeBody(request: Any, status: int, contentType: bytes, body: bytes) -> None:
    """
    Answer C{request} with C{body} (not sent for HEAD) and finish it.
    """
    request.setResponseCode(status)
    request.setHeader(b"Content-Type", contentType)
    request.setHeader(b"Content-Length", b"%d" % len(body))
    request.write(body if request.method != b"HEAD" else b"")
    request.finish()


def writeJSON(request: Any, value: Any, status: int = 200) -> None:
    """
    Answer C{request} with C{value} as JSON and finish it.
    """
    writeBody(request, status, b"application/json; charset=utf-8", jsonBody(value))


def writeError(request: Any, error: HTTPError) -> None:
    """
    Answer C{request} with C{error} and finish it.
    """
    for name, value in error.headers.items():
        request.setHeader(name, value)
    if error.close:
        request.setHeader(b"Connection", b"close")
        if request.channel is not None:
            request.channel.persistent = False
    writeJSON(request, {"error": error.error, "message": error.message}, error.status)


def rawResponse(status: int, error: str, message: str) -> bytes:
    """
    A whole HTTP/1.1 error response with a JSON body and the security
    headers, closing the connection: for a refusal written straight to the
    transport (too many connections, headers too big, too slow).
    """
    body = errorBody(error, message)
    lines = [b"HTTP/1.1 %d %s" % (status, HTTPStatus(status).phrase.encode("ascii")),
             b"Content-Type: application/json; charset=utf-8",
             b"Content-Length: %d" % len(body),
             b"Connection: close"]
    lines += [name + b": " + value for name, value in SECURITY_HEADERS]
    return b"\r\n".join(lines) + b"\r\n\r\n" + body
