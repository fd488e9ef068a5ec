# -*- test-case-name: tests.imap.test_session -*-
"""
Tests for L{twisted_mail_suite.imap.session}: which command classes each
state takes, and the data the handlers get.
"""
from __future__ import annotations

from twisted.trial.unittest import SynchronousTestCase

from twisted_mail_suite.imap.session import NoTransition, Perform, SessionCore, SessionMachine


def machine() -> tuple[SessionCore, object]:
    core = SessionCore()
    return core, SessionMachine(core)


def loggedIn() -> tuple[SessionCore, object]:
    core, session = machine()
    session.login()
    session.loginSucceeded("alice", "account")
    return core, session


class NotAuthenticatedTests(SynchronousTestCase):
    def test_beforeLoginCommands(self) -> None:
        """
        Any-state and before-login commands are performed, without account.
        """
        core, session = machine()
        self.assertEqual(session.anyState("c"), Perform("c"))
        self.assertEqual(session.notAuthenticated("c"), Perform("c"))

    def test_noMailboxCommands(self) -> None:
        """
        Commands needing a login or a mailbox are not valid yet.
        """
        core, session = machine()
        self.assertRaises(NoTransition, session.authenticated, "c")
        self.assertRaises(NoTransition, session.selected, "c")
        self.assertRaises(NoTransition, session.select, "box")

    def test_loginFailed(self) -> None:
        """
        A failed login goes back to the start; nothing is performed while
        the check runs.
        """
        core, session = machine()
        session.login()
        self.assertRaises(NoTransition, session.anyState, "c")
        self.assertRaises(NoTransition, session.notAuthenticated, "c")
        session.loginFailed()
        self.assertEqual(session.notAuthenticated("c"), Perform("c"))

    def test_loginSucceeded(self) -> None:
        """
        A successful login keeps the user and account; before-login
        commands are then invalid.
        """
        core, session = loggedIn()
        self.assertEqual((core.user, core.account), ("alice", "account"))
        self.assertEqual(session.authenticated("c"), Perform("c", "account"))
        self.assertRaises(NoTransition, session.notAuthenticated, "c")
        self.assertRaises(NoTransition, session.login)


class SelectedTests(SynchronousTestCase):
    def test_select(self) -> None:
        """
        Selecting gives selected commands the mailbox; selecting another
        replaces it.
        """
        core, session = loggedIn()
        self.assertRaises(NoTransition, session.selected, "c")
        session.select("inbox")
        self.assertEqual(session.selected("c"), Perform("c", "account", "inbox"))
        self.assertEqual(session.authenticated("c"), Perform("c", "account", "inbox"))
        session.select("sent")
        self.assertEqual(session.selected("c").mailbox, "sent")

    def test_deselect(self) -> None:
        """
        Deselecting leaves the authenticated state; deselecting there
        (a failed SELECT) changes nothing.
        """
        core, session = loggedIn()
        session.select("inbox")
        session.deselect()
        self.assertIsNone(core.mailbox)
        self.assertRaises(NoTransition, session.selected, "c")
        session.deselect()
        self.assertEqual(session.authenticated("c"), Perform("c", "account"))


class LogoutTests(SynchronousTestCase):
    def test_logoutFromEveryState(self) -> None:
        """
        Logout is possible from every state, twice too, and nothing is
        valid after it.
        """
        for prepare in (lambda s: None, lambda s: s.login(),
                        lambda s: (s.login(), s.loginSucceeded("a", "x")),
                        lambda s: (s.login(), s.loginSucceeded("a", "x"), s.select("m"))):
            core, session = machine()
            prepare(session)
            session.logout()
            session.logout()
            self.assertIsNone(core.mailbox)
            self.assertIsNone(core.account)
            self.assertRaises(NoTransition, session.anyState, "c")
            self.assertRaises(NoTransition, session.authenticated, "c")
