# -*- test-case-name: tests.http.test_pages -*-
"""
The web pages for people: server-rendered HTML, a little plain JavaScript
(C{static/}), no build step, no framework, readable on a phone.

Every page is a L{Page}: it finds the user through the login of
L{twisted_mail_suite.http.auth} (the session cookie of the login form, or
HTTP Basic), sends a browser without one to the login form, checks the
CSRF token of every form it receives, and answers with L{layout}: one
HTML skeleton, every value in it escaped (L{esc}).  Inline scripts and
styles are never used: the site's Content-Security-Policy forbids them,
and the scripts and the style sheet are served from memory under
C{/static/} (L{StaticFiles}: fixed names, no path from a URL reaches the
filesystem).

L{mountPages} puts the pages in an HTTP factory's tree:
C{/} (to the inbox), C{/inbox} (L{twisted_mail_suite.http.pages_inbox}),
C{/chat} (the page, and the WebSocket of
L{twisted_mail_suite.http.websocket}), C{/admin}
(L{twisted_mail_suite.http.pages_admin}) and C{/static/}.
"""
from __future__ import annotations

import html
from importlib import resources
from typing import Any, Callable
from urllib.parse import quote

from twisted.internet.defer import Deferred
from twisted.logger import Logger
from twisted.python.failure import Failure
from twisted.web.resource import Resource
from twisted.web.server import NOT_DONE_YET

from .auth import checkCSRF, csrfToken, currentUser, loginRedirect
from .login import LoginPage
from .replies import HTTPError, writeBody

__all__ = ["Page", "StaticFiles", "StyledLoginPage", "writePage", "esc", "csrfField", "layout", "redirect", "formatSize"]

STATIC_TYPES = {".css": b"text/css; charset=utf-8", ".js": b"text/javascript; charset=utf-8",
                ".svg": b"image/svg+xml"}

NAV = (("Inbox", "/inbox"), ("Chat", "/chat"))


def esc(value: object) -> str:
    """
    C{value} as HTML text or attribute value (quotes included).
    """
    return html.escape(str(value), quote=True)


def csrfField(request: Any) -> str:
    """
    The hidden field carrying the session's CSRF token, for a form.
    """
    return f'<input type="hidden" name="csrf_token" value="{esc(csrfToken(request))}">'


def formatSize(size: int) -> str:
    """
    C{size} bytes for people: C{"512 B"}, C{"3.4 KB"}, C{"1.2 MB"}.
    """
    if size < 1024:
        return f"{size} B"
    if size < 1024 * 1024:
        return f"{size / 1024:.1f} KB"
    return f"{size / (1024 * 1024):.1f} MB"


def layout(request: Any, title: str, body: str, user: Any = None, scripts: tuple[str, ...] = (),
           current: str = "") -> bytes:
    """
    A whole page: the skeleton around C{body} (HTML, already escaped),
    the navigation for C{user} (none on the login form), C{scripts}
    (names under C{/static/}).

    The page's referrer policy is C{same-origin}, as the site's header
    says: under C{no-referrer}, browsers send C{Origin: null} with a
    form's POST and a script's C{fetch}, which the CSRF check rightly
    refuses; C{same-origin} sends this site's origin to itself and
    nothing to other sites.
    """
    nav = ""
    if user is not None:
        links = list(NAV) + ([("Admin", "/admin")] if getattr(user, "admin", False) else [])
        marked = ' aria-current="page"'
        items = "".join(f'<a href="{esc(href)}"{marked if href == current else ""}>{esc(text)}</a>'
                        for text, href in links)
        nav = (f'<nav>{items}<span class="who">{esc(user.name)}</span>'
               f'<form method="post" action="/logout" class="inline">{csrfField(request)}'
               f'<button type="submit" class="link">Log out</button></form></nav>')
    tags = "".join(f'<script src="/static/{esc(name)}" defer></script>' for name in scripts)
    page = (f'<!doctype html><html lang="en"><head><meta charset="utf-8">'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">'
            f'<meta name="referrer" content="same-origin">'
            f'<title>{esc(title)} - mailsuite</title><link rel="stylesheet" href="/static/app.css">{tags}'
            f'</head><body><header><a class="brand" href="/">mailsuite</a>{nav}</header>'
            f'<main>{body}</main></body></html>')
    return page.encode("utf-8")


def redirect(request: Any, location: str) -> None:
    """
    Answer with a 303 to C{location} (a path of this site) and finish.
    """
    request.setHeader(b"Location", quote(location, safe="/?=&%").encode("ascii"))
    writeBody(request, 303, b"text/plain; charset=utf-8", b"See " + location.encode("utf-8") + b"\n")


def writePage(request: Any, text: bytes, status: int = 200) -> None:
    """
    Answer C{request} with the HTML page C{text} and finish it.
    """
    writeBody(request, status, b"text/html; charset=utf-8", text)


Handler = Callable[[Any, Any], Any]


class Page(Resource):
    """
    A page for a logged-in user (an admin if C{admin}).  Subclasses
    define C{get(request, user)} and, for forms, C{post(request, user)}:
    each returns the page (bytes), or L{None} having answered itself (a
    redirect), or a Deferred of either.  An L{HTTPError} becomes an error
    page with its status.
    """

    log = Logger()
    isLeaf = True
    admin = False

    def render_GET(self, request: Any) -> Any:
        return self._serve(request, self.get)

    def render_HEAD(self, request: Any) -> Any:
        return self._serve(request, self.get)

    def render_POST(self, request: Any) -> Any:
        post = getattr(self, "post", None)
        if post is None:
            return self._methodNotAllowed(request)
        return self._serve(request, post)

    def get(self, request: Any, user: Any) -> Any:
        raise HTTPError(404, "not-found", "There is no such page.")

    def _methodNotAllowed(self, request: Any) -> bytes:
        request.setResponseCode(405)
        request.setHeader(b"Allow", b"GET, HEAD")
        return errorPage(request, 405, "This page takes no form.")

    def _serve(self, request: Any, handler: Handler) -> Any:
        gone: list[bool] = []
        request.notifyFinish().addErrback(lambda _: gone.append(True))

        def authorized(user: Any) -> Any:
            if user is None:
                loginRedirect(request)
                return None
            if self.admin and not user.admin:
                raise HTTPError(403, "forbidden", "Only the administrators may see this page.")
            if request.method == b"POST":
                checkCSRF(request)
            request.pageUser = user
            return handler(request, user)

        def answer(body: Any) -> None:
            if body is not None and not gone:
                writePage(request, body)

        def failed(failure: Failure) -> None:
            if gone:
                return
            if failure.check(HTTPError):
                error = failure.value
                status, message = error.status, error.message
                for name, value in error.headers.items():
                    request.setHeader(name, value)
            else:
                self.log.failure("Page {path} failed", failure, path=request.path)
                status, message = 500, "Something went wrong on the server; try again later."
            writePage(request, errorPage(request, status, message), status)

        d: Deferred = currentUser(request)
        d.addCallback(authorized)
        d.addCallback(answer)
        d.addErrback(failed)
        return NOT_DONE_YET


def errorPage(request: Any, status: int, message: str) -> bytes:
    """
    The page of an error: its status and what to do.
    """
    body = (f'<h1>{status}</h1><p class="error" role="alert">{esc(message)}</p>'
            f'<p><a href="/inbox">Back to the inbox</a></p>')
    return layout(request, f"Error {status}", body, getattr(request, "pageUser", None))


class StyledLoginPage(LoginPage):
    """
    The login form of L{twisted_mail_suite.http.login} (its fields, its
    CSRF cookie, its error messages), in the pages' layout.
    """

    @staticmethod
    def page(request: Any, title: str, body: str, status: int = 200) -> None:
        writePage(request, layout(request, title, f'<div class="login">{body}</div>'), status)


class Home(Resource):
    """
    C{/}: to the inbox (which sends a stranger on to the login form).
    """

    isLeaf = True

    def render_GET(self, request: Any) -> Any:
        if request.postpath not in ([], [b""]):
            writePage(request, errorPage(request, 404, "There is no such page."), 404)
        else:
            redirect(request, "/inbox")
        return NOT_DONE_YET


class ChatPage(Page):
    """
    C{/chat} without the WebSocket upgrade: the chat in the browser
    (C{static/chat.js} speaks one line per text frame on C{/chat}).
    """

    def get(self, request: Any, user: Any) -> bytes:
        body = ('<h1>Chat</h1>'
                '<p class="hint">The same rooms as the chat\'s TCP clients. '
                'Commands: <code>/help</code>, <code>/join ROOM</code>, <code>/who</code>, '
                '<code>/msg NAME TEXT</code>.</p>'
                '<div id="chat-status" class="status" aria-live="polite">connecting...</div>'
                '<ol id="chat-lines" class="chat-lines" aria-live="polite"></ol>'
                '<form id="chat-form" class="chat-form" autocomplete="off">'
                '<input id="chat-input" name="line" type="text" maxlength="4000" '
                'placeholder="Say something, or /help" aria-label="Chat line" autofocus>'
                '<button type="submit">Send</button></form>')
        return layout(request, "Chat", body, user, scripts=("chat.js",), current="/chat")


class StaticFiles(Resource):
    """
    C{/static/NAME}: the files of the package's C{static} folder, read
    once into memory; any other name is a 404.
    """

    isLeaf = True

    def __init__(self) -> None:
        super().__init__()
        self.files: dict[bytes, tuple[bytes, bytes]] = {}
        folder = resources.files(__package__).joinpath("static")
        for entry in folder.iterdir():
            suffix = "." + entry.name.rpartition(".")[2]
            if entry.is_file() and suffix in STATIC_TYPES:
                self.files[entry.name.encode("ascii")] = (STATIC_TYPES[suffix], entry.read_bytes())

    def render_GET(self, request: Any) -> bytes:
        found = self.files.get(b"/".join(request.postpath))
        if found is None:
            request.setResponseCode(404)
            request.setHeader(b"Content-Type", b"text/plain; charset=utf-8")
            return b"not found\n"
        contentType, data = found
        request.setHeader(b"Content-Type", contentType)
        request.setHeader(b"Cache-Control", b"max-age=3600")
        return data

