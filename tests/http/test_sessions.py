# -*- test-case-name: tests.http.test_sessions -*-
"""
Login sessions: random tokens, a lifetime on the clock, logout, the end
of every session of a user, a bound on their number, and tokens compared
in constant time.
"""
from __future__ import annotations

from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase

from twisted_mail_suite.http.avatars import WebUser
from twisted_mail_suite.http.sessions import SessionStore, sameToken


class SessionStoreTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.clock = Clock()
        self.store = SessionStore(self.clock, 100.0, maxSessions=3)

    def test_createAndGet(self) -> None:
        """
        A session is found by its token (text or bytes), with distinct
        secret session and CSRF tokens.
        """
        session = self.store.create(WebUser("alice"))
        self.assertIs(self.store.get(session.token), session)
        self.assertIs(self.store.get(session.token.encode()), session)
        self.assertNotEqual(session.token, session.csrf)
        self.assertGreaterEqual(len(session.token), 40)
        self.assertIsNone(self.store.get("forged"))
        self.assertIsNone(self.store.get(None))

    def test_expires(self) -> None:
        """
        After its lifetime a session is gone.
        """
        session = self.store.create(WebUser("alice"))
        self.clock.advance(99)
        self.assertIsNotNone(self.store.get(session.token))
        self.clock.advance(1)
        self.assertIsNone(self.store.get(session.token))
        self.assertEqual(len(self.store), 0)

    def test_endAndEndUser(self) -> None:
        """
        end forgets one session; endUser every session of one user.
        """
        a1, a2, b = (self.store.create(WebUser(name)) for name in ("alice", "alice", "bob"))
        self.store.end(b.token)
        self.assertIsNone(self.store.get(b.token))
        self.assertEqual(self.store.endUser("alice"), 2)
        self.assertEqual(len(self.store), 0)

    def test_bounded(self) -> None:
        """
        Past maxSessions the oldest session goes.
        """
        sessions = [self.store.create(WebUser("alice")) for _ in range(4)]
        self.assertIsNone(self.store.get(sessions[0].token))
        self.assertEqual(len(self.store), 3)

    def test_sameToken(self) -> None:
        """
        Tokens are equal only when given and identical.
        """
        self.assertTrue(sameToken("abc", "abc"))
        self.assertTrue(sameToken(b"abc", "abc"))
        self.assertFalse(sameToken("abd", "abc"))
        self.assertFalse(sameToken(None, "abc"))
        self.assertFalse(sameToken("", ""))
