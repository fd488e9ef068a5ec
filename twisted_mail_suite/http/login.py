# -*- test-case-name: tests.http.test_login -*-
"""
The login form (C{GET /login}), its C{POST} (fields C{username},
C{password}, C{csrf_token}, optional C{next}), C{POST /logout} and a
small index page: server-rendered, no script, no style of their own (the
web pages mount prettier ones over the index; the form's contract stays).

A login form cannot carry a session's CSRF token (there is no session
yet), so it carries a double-submit token: C{GET /login} sets it in a
C{mailsuite_login} cookie (C{HttpOnly}, C{SameSite=Strict}) and in the
form; the C{POST} must bring both, equal.  A client asking for
C{Accept: application/json} gets JSON answers (C{{"user", "csrf_token"}}
on success) instead of pages and redirects.
"""
from __future__ import annotations

import html
import secrets
from typing import Any

from twisted.cred.credentials import UsernamePassword
from twisted.internet.defer import Deferred
from twisted.logger import Logger
from twisted.python.failure import Failure
from twisted.web.resource import Resource
from twisted.web.server import NOT_DONE_YET

from ..identity.policy import LoginOutcome, LoginResult
from .auth import CSRF_FIELD, csrfToken, loginError
from .endpoint import queryArgument
from .replies import HTTPError, writeBody, writeError, writeJSON
from .sessions import COOKIE, sameToken

__all__ = ["IndexPage", "LoginPage", "LogoutPage", "LOGIN_COOKIE", "safeNext"]

LOGIN_COOKIE = b"mailsuite_login"


def safeNext(target: str | None) -> str:
    """
    Where to go after logging in: C{target} if it is a path on this site
    (C{/inbox}), else C{/} (never another site: C{//evil}, C{https://...}).
    """
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target


def wantsJSON(request: Any) -> bool:
    return b"application/json" in (request.getHeader(b"Accept") or b"")


def page(request: Any, title: str, body: str, status: int = 200) -> None:
    """
    Answer with a minimal HTML page and finish.
    """
    text = (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>{html.escape(title)}</title></head>\n<body>\n{body}\n</body></html>\n").encode("utf-8")
    writeBody(request, status, b"text/html; charset=utf-8", text)


def _redirect(request: Any, target: str) -> None:
    request.setHeader(b"Location", target.encode("utf-8"))
    writeBody(request, 303, b"text/plain; charset=utf-8", b"See " + target.encode("utf-8") + b"\n")


class LoginPage(Resource):
    """
    C{/login}.  C{page} renders the form (the web pages mount a subclass
    with their own layout).
    """

    isLeaf = True
    page = staticmethod(page)

    def _form(self, request: Any, error: str = "", status: int = 200, username: str = "") -> None:
        token = secrets.token_urlsafe(32)
        request.addCookie(LOGIN_COOKIE, token.encode("ascii"), path=b"/login", httpOnly=True,
                          secure=request.isSecure(), sameSite="strict")
        target = safeNext(queryArgument(request, b"next"))
        shown = f'<p role="alert" class="error">{html.escape(error)}</p>\n' if error else ""
        self.page(request, "Log in", f"""<h1>Log in</h1>
{shown}<form method="post" action="/login">
<input type="hidden" name="csrf_token" value="{token}">
<input type="hidden" name="next" value="{html.escape(target)}">
<p><label>User name <input name="username" autocomplete="username" required value="{html.escape(username)}"></label></p>
<p><label>Password <input name="password" type="password" autocomplete="current-password" required></label></p>
<p><button type="submit">Log in</button></p>
</form>""", status)

    def render_GET(self, request: Any) -> Any:
        self._form(request)
        return NOT_DONE_YET

    def render_HEAD(self, request: Any) -> Any:
        return self.render_GET(request)

    def render_POST(self, request: Any) -> Any:
        try:
            username = queryArgument(request, b"username", "") or ""
            password = queryArgument(request, b"password", "") or ""
            target = safeNext(queryArgument(request, b"next"))
        except HTTPError as e:
            writeError(request, e)
            return NOT_DONE_YET
        given = (request.args.get(CSRF_FIELD) or [None])[0]
        cookie = request.getCookie(LOGIN_COOKIE)
        if cookie is None or not sameToken(given, cookie.decode("ascii", "replace")):
            self._refuse(request, HTTPError(403, "csrf", "The login form expired; try again."), username)
            return NOT_DONE_YET
        if not username or not password:
            self._refuse(request, HTTPError(400, "bad-request", "Give a user name and a password."), username)
            return NOT_DONE_YET
        auth = request.site.auth
        d: Deferred = auth.login(request, UsernamePassword(username.encode("utf-8"), password.encode("utf-8")))
        d.addCallback(self._checked, request, username, target)
        d.addErrback(self._broken, request)
        return NOT_DONE_YET

    def _checked(self, result: LoginResult, request: Any, username: str, target: str) -> None:
        if request.finished or getattr(request, "webGone", False):
            return
        if result.outcome is not LoginOutcome.SUCCEEDED:
            self._refuse(request, loginError(result.outcome), username)
            return
        if result.logout is not None:
            result.logout()
        session = request.site.auth.startSession(request, result.avatar)
        request.addCookie(LOGIN_COOKIE, b"", path=b"/login", httpOnly=True, secure=request.isSecure(),
                          sameSite="strict", max_age=b"0")
        if wantsJSON(request):
            writeJSON(request, {"user": result.avatar.name, "admin": result.avatar.admin,
                                "csrf_token": session.csrf})
        else:
            _redirect(request, target)

    def _refuse(self, request: Any, error: HTTPError, username: str) -> None:
        if error.close:
            request.setHeader(b"Connection", b"close")
            request.channel.persistent = False
        if wantsJSON(request):
            writeError(request, error)
        else:
            self._form(request, error.message, error.status, username)

    def _broken(self, failure: Failure, request: Any) -> None:
        if not (request.finished or getattr(request, "webGone", False)):
            self._refuse(request, loginError(LoginOutcome.TEMPORARY), "")
        return None


class LogoutPage(Resource):
    """
    C{POST /logout} (with the session's CSRF token): end the session.
    """

    isLeaf = True
    log = Logger()

    def render_POST(self, request: Any) -> Any:
        auth = request.site.auth
        d = auth.currentUser(request)

        def out(user: Any) -> None:
            auth.checkCSRF(request)
            auth.endSession(request)
            if wantsJSON(request):
                writeJSON(request, {"logged_out": True})
            else:
                _redirect(request, "/login")

        d.addCallback(out)
        d.addErrback(self._failed, request)
        return NOT_DONE_YET

    def _failed(self, failure: Failure, request: Any) -> None:
        if request.finished or getattr(request, "webGone", False):
            return
        if failure.check(HTTPError):
            writeError(request, failure.value)
            return
        self.log.failure("Logout failed", failure)
        writeError(request, HTTPError(500, "internal", "Internal server error; it was logged."))


class IndexPage(Resource):
    """
    C{/}: who is logged in (session cookie), with a logout button; or a
    link to the login form.
    """

    isLeaf = True

    def render_GET(self, request: Any) -> Any:
        auth = request.site.auth
        session = auth.sessions.get(request.getCookie(COOKIE))
        if session is None:
            page(request, "twisted-mail-suite", '<h1>twisted-mail-suite</h1>\n<p><a href="/login">Log in</a></p>')
            return NOT_DONE_YET
        request.webSession = session
        name = html.escape(session.user.name)
        page(request, "twisted-mail-suite", f"""<h1>twisted-mail-suite</h1>
<p>Logged in as <strong id="user">{name}</strong>.</p>
<form method="post" action="/logout"><input type="hidden" name="csrf_token" value="{csrfToken(request)}">
<button type="submit">Log out</button></form>""")
        return NOT_DONE_YET


