# -*- test-case-name: tests.http.test_sessions -*-
"""
Login sessions of the web pages: a random token in a cookie
(C{mailsuite_session}, C{HttpOnly}, C{SameSite=Strict}, C{Secure} over
TLS) names a L{Session} held in memory, with its user and its CSRF token.
A session ends at logout, after C{http.session_lifetime}, or when the
process stops; the store is bounded (the oldest sessions go first).
"""
from __future__ import annotations

import hmac
import secrets
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

__all__ = ["COOKIE", "MAX_SESSIONS", "Session", "SessionStore"]

COOKIE = b"mailsuite_session"
MAX_SESSIONS = 10_000


@dataclass
class Session:
    """
    One login.

    @ivar token: the cookie's value (secret).
    @ivar user: the logged-in user (an L{IWebUser} avatar).
    @ivar csrf: the token every state-changing request of this session
        must carry (secret, not the cookie's).
    @ivar expires: when it ends (the clock's seconds).
    """

    token: str
    user: Any
    expires: float
    csrf: str = field(default_factory=lambda: secrets.token_urlsafe(32))


class SessionStore:
    """
    The sessions of one suite.
    """

    def __init__(self, clock: Any, lifetime: float, maxSessions: int = MAX_SESSIONS) -> None:
        self.clock = clock
        self.lifetime = lifetime
        self.maxSessions = maxSessions
        self._sessions: OrderedDict[str, Session] = OrderedDict()

    def __len__(self) -> int:
        return len(self._sessions)

    def create(self, user: Any) -> Session:
        """
        A new session for C{user}.
        """
        session = Session(secrets.token_urlsafe(32), user, self.clock.seconds() + self.lifetime)
        self._sessions[session.token] = session
        while len(self._sessions) > self.maxSessions:
            self._sessions.popitem(last=False)
        return session

    def get(self, token: str | bytes | None) -> Session | None:
        """
        The live session of C{token}, or L{None}.
        """
        if not token:
            return None
        if isinstance(token, bytes):
            token = token.decode("ascii", "replace")
        session = self._sessions.get(token)
        if session is None:
            return None
        if self.clock.seconds() >= session.expires:
            del self._sessions[token]
            return None
        return session

    def end(self, token: str | bytes | None) -> None:
        """
        Forget C{token}'s session (logout); unknown tokens are ignored.
        """
        if isinstance(token, bytes):
            token = token.decode("ascii", "replace")
        if token:
            self._sessions.pop(token, None)

    def endUser(self, name: str) -> int:
        """
        End every session of user C{name} (deleted, or a new password).

        @return: how many ended.
        """
        ended = [t for t, s in self._sessions.items() if getattr(s.user, "name", None) == name]
        for token in ended:
            del self._sessions[token]
        return len(ended)


def sameToken(given: str | bytes | None, expected: str) -> bool:
    """
    Does C{given} equal C{expected}, compared in constant time?
    """
    if isinstance(given, bytes):
        given = given.decode("ascii", "replace")
    return bool(given) and hmac.compare_digest(given.encode("utf-8"), expected.encode("utf-8"))  # type: ignore[union-attr]
