# -*- test-case-name: tests.http.test_auth -*-
"""
Who is logged in, for the API and the web pages: the one portal and the
one failed-login policy (L{twisted_mail_suite.identity.policy.AuthSession},
one per connection), through HTTP Basic (the API; no CSRF token needed)
or the session cookie the login form sets (then every state-changing
request carries the session's CSRF token).

The API the web pages use (stable; each takes the twisted.web request)::

    d = currentUser(request)       # Deferred -> IWebUser or None (no credentials);
                                   #   fails with HTTPError (wrong password: 401,
                                   #   refused: 429, plaintext: 403)
    d = requireUser(request, admin=False)   # Deferred -> IWebUser, or HTTPError 401 / 403
    token = csrfToken(request)     # the session's CSRF token (after currentUser),
                                   #   for <input type="hidden" name="csrf_token">
                                   #   or the X-CSRF-Token header
    checkCSRF(request)             # raise HTTPError 403 unless a cookie-authenticated
                                   #   POST/PUT/PATCH/DELETE carries the token
    loginRedirect(request)         # 303 to /login?next=<this path>, finishes the request

A user is an L{twisted_mail_suite.http.avatars.IWebUser} (C{name},
C{admin}).  Errors are L{twisted_mail_suite.http.replies.HTTPError}.
"""
from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
from collections import OrderedDict
from typing import Any
from urllib.parse import quote

from twisted.cred.credentials import UsernamePassword
from twisted.internet.defer import Deferred, succeed

from ..identity.policy import LoginOutcome, LoginResult
from .avatars import IWebUser
from .replies import HTTPError, writeBody
from .sessions import COOKIE, Session, SessionStore, sameToken

__all__ = ["Authenticator", "CSRF_FIELD", "CSRF_HEADER", "checkCSRF", "csrfToken", "currentUser",
           "loginRedirect", "requireUser"]

CSRF_FIELD = b"csrf_token"
CSRF_HEADER = b"X-CSRF-Token"
SAFE_METHODS = frozenset({b"GET", b"HEAD", b"OPTIONS"})
CHALLENGE = {b"WWW-Authenticate": b'Basic realm="mailsuite", charset="UTF-8"'}

# outcome of a failed login -> (status, error, message, close the connection)
LOGIN_ERRORS: dict[LoginOutcome, tuple[int, str, str, bool]] = {
    LoginOutcome.FAILED: (401, "unauthorized", "Wrong user name or password.", False),
    LoginOutcome.FAILED_DISCONNECT: (401, "unauthorized", "Wrong user name or password.", True),
    LoginOutcome.REFUSED: (429, "too-many-failures", "Too many failed logins; try again later.", True),
    LoginOutcome.PLAINTEXT_REFUSED: (403, "plaintext-refused",
                                     "Passwords are accepted only over TLS (https) or from loopback.", False),
    LoginOutcome.IN_USE: (503, "in-use", "The account is busy; try again later.", False),
    LoginOutcome.TEMPORARY: (503, "temporary", "Temporary server failure; try again later.", False),
}


def loginError(outcome: LoginOutcome) -> HTTPError:
    """
    The L{HTTPError} of a failed login's C{outcome}.
    """
    status, error, message, close = LOGIN_ERRORS[outcome]
    return HTTPError(status, error, message, CHALLENGE if status == 401 else None, close)


def basicCredentials(request: Any) -> UsernamePassword | None:
    """
    The user name and password of C{request}'s C{Authorization: Basic}
    header, or L{None} if it has none.

    @raise HTTPError: 400 for a malformed header.
    """
    header = request.getHeader(b"Authorization")
    if header is None:
        return None
    scheme, _, value = header.strip().partition(b" ")
    if scheme.lower() != b"basic":
        raise HTTPError(401, "unauthorized", "Only HTTP Basic authentication is supported.", CHALLENGE)
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        raise HTTPError(400, "bad-request", "The Authorization header is not valid Basic credentials.") from None
    user, colon, password = decoded.partition(":")
    if not colon:
        raise HTTPError(400, "bad-request", "The Authorization header is not valid Basic credentials.")
    return UsernamePassword(user.encode("utf-8"), password.encode("utf-8"))


class CredentialCache:
    """
    Basic credentials that logged in lately, so that an API client sending
    them with every request pays the slow password check once a minute,
    not every time (as Dovecot's auth cache does).  Keys are an HMAC of the
    user name and password under a secret of this process: the cache holds
    no password.  Only successes are kept; a user deleted or given a new
    password through the API is forgotten at once, a change made elsewhere
    (the users file) holds after at most C{ttl} seconds.
    """

    def __init__(self, clock: Any, ttl: float = 60.0, size: int = 1000) -> None:
        self.clock = clock
        self.ttl = ttl
        self.size = size
        self._secret = os.urandom(32)
        self._entries: OrderedDict[bytes, tuple[Any, float]] = OrderedDict()

    def _key(self, credentials: Any) -> bytes:
        return hmac.new(self._secret, credentials.username + b"\0" + credentials.password, hashlib.sha256).digest()

    def get(self, credentials: Any) -> Any:
        """
        The avatar C{credentials} logged in as within C{ttl}, or L{None}.
        """
        key = self._key(credentials)
        entry = self._entries.get(key)
        if entry is None:
            return None
        if self.clock.seconds() >= entry[1]:
            del self._entries[key]
            return None
        return entry[0]

    def put(self, credentials: Any, avatar: Any) -> None:
        self._entries[self._key(credentials)] = (avatar, self.clock.seconds() + self.ttl)
        while len(self._entries) > self.size:
            self._entries.popitem(last=False)

    def forget(self, name: str) -> None:
        """
        Forget every entry of user C{name}.
        """
        for key in [k for k, (avatar, _) in self._entries.items() if avatar.name == name]:
            del self._entries[key]


class Authenticator:
    """
    Logins and sessions of one suite.

    @param portal: the suite's portal (C{session(address, secure)}).
    @param sessions: the cookie sessions.
    @param admins: the names of C{http.admins}.
    """

    def __init__(self, portal: Any, sessions: SessionStore, admins: Any) -> None:
        self.portal = portal
        self.sessions = sessions
        self.admins = frozenset(admins)
        self.cache = CredentialCache(sessions.clock)

    def forgetUser(self, name: str) -> None:
        """
        User C{name} was deleted or has a new password: end their sessions
        and forget their cached credentials.
        """
        self.sessions.endUser(name)
        self.cache.forget(name)

    def _session(self, request: Any) -> Any:
        channel = request.channel
        if channel.authSession is None:
            channel.authSession = self.portal.session(channel.peerHost, channel.secure)
        return channel.authSession

    def login(self, request: Any, credentials: Any) -> Deferred[LoginResult]:
        """
        Check C{credentials} for the connection of C{request}, through the
        one failed-login policy (the connection's L{AuthSession}).
        """
        return self._session(request).login(credentials, IWebUser)

    def currentUser(self, request: Any) -> Deferred[Any]:
        """
        See the module docstring.
        """
        if hasattr(request, "webUser"):
            return succeed(request.webUser)
        session = self.sessions.get(request.getCookie(COOKIE))
        if session is not None:
            request.webSession = session
            request.webUser = session.user
            return succeed(session.user)
        try:
            credentials = basicCredentials(request)
        except HTTPError as e:
            return _failed(e)
        if credentials is None:
            return succeed(None)
        authSession = self._session(request)
        if authSession.plaintextAllowed and not self.portal.policy.isRefused(authSession.address):
            cached = self.cache.get(credentials)
            if cached is not None:
                request.webUser = cached
                return succeed(cached)

        def checked(result: LoginResult) -> Any:
            if result.outcome is not LoginOutcome.SUCCEEDED:
                raise loginError(result.outcome)
            if result.logout is not None:
                result.logout()          # the avatar holds nothing
            self.cache.put(credentials, result.avatar)
            request.webUser = result.avatar
            return result.avatar

        return self.login(request, credentials).addCallback(checked)

    def requireUser(self, request: Any, admin: bool = False) -> Deferred[Any]:
        """
        See the module docstring.
        """
        def check(user: Any) -> Any:
            if user is None:
                raise HTTPError(401, "unauthorized", "Log in (HTTP Basic or the login form) first.", CHALLENGE)
            if admin and not user.admin:
                raise HTTPError(403, "forbidden", "Only the users of http.admins may do this.")
            if request.method not in SAFE_METHODS:
                self.checkCSRF(request)
            return user

        return self.currentUser(request).addCallback(check)

    def startSession(self, request: Any, user: Any) -> Session:
        """
        Log C{request}'s browser in as C{user}: a new session and its cookie.
        """
        session = self.sessions.create(user)
        request.addCookie(COOKIE, session.token.encode("ascii"), path=b"/", httpOnly=True,
                          secure=request.isSecure(), sameSite="strict",
                          max_age=str(int(self.sessions.lifetime)).encode("ascii"))
        request.webSession = session
        request.webUser = user
        return session

    def endSession(self, request: Any) -> None:
        """
        Log C{request}'s browser out: forget its session, expire its cookie.
        """
        self.sessions.end(request.getCookie(COOKIE))
        request.addCookie(COOKIE, b"", path=b"/", httpOnly=True, secure=request.isSecure(),
                          sameSite="strict", max_age=b"0")

    def checkCSRF(self, request: Any) -> None:
        """
        See the module docstring: a request authenticated by the session
        cookie must carry the session's token (the C{X-CSRF-Token} header
        or the C{csrf_token} form field), and an C{Origin} header, when
        sent, must be this server's.
        """
        session: Session | None = getattr(request, "webSession", None)
        if session is None:
            return                         # HTTP Basic: no ambient credential to forge with
        origin = request.getHeader(b"Origin")
        if origin is not None and origin.split(b"//", 1)[-1] != (request.getHeader(b"Host") or b""):
            raise HTTPError(403, "csrf", "The request comes from another site.")
        given = request.getHeader(CSRF_HEADER)
        if given is None:
            given = (request.args.get(CSRF_FIELD) or [None])[0]
        if not sameToken(given, session.csrf):
            raise HTTPError(403, "csrf", "The CSRF token is missing or wrong; reload the page.")


def _failed(error: Exception) -> Deferred[Any]:
    d: Deferred[Any] = Deferred()
    d.errback(error)
    return d


def _authenticator(request: Any) -> Authenticator:
    return request.site.auth  # type: ignore[no-any-return]


def currentUser(request: Any) -> Deferred[Any]:
    return _authenticator(request).currentUser(request)


def requireUser(request: Any, admin: bool = False) -> Deferred[Any]:
    return _authenticator(request).requireUser(request, admin)


def csrfToken(request: Any) -> str:
    """
    The CSRF token of C{request}'s session (after L{currentUser}); C{""}
    without a session (HTTP Basic needs none).
    """
    session = getattr(request, "webSession", None)
    return session.csrf if session is not None else ""


def checkCSRF(request: Any) -> None:
    _authenticator(request).checkCSRF(request)


def loginRedirect(request: Any) -> None:
    """
    Send the browser to the login form, coming back here after it.
    """
    target = b"/login?next=" + quote(request.uri.decode("latin-1"), safe="/").encode("ascii")
    request.setHeader(b"Location", target)
    writeBody(request, 303, b"text/plain; charset=utf-8", b"Log in first.\n")
