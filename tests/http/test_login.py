# -*- test-case-name: tests.http.test_login -*-
"""
The login form and its cookies: the form (fields C{username},
C{password}, its CSRF token), a wrong password shown on the page (401,
counted by the policy), a right one setting an C{HttpOnly},
C{SameSite=Strict} session cookie (C{Secure} over TLS) and redirecting to
a local C{next} only; the index page; TLS listeners (C{ssl:}).
"""
from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from twisted.internet.defer import inlineCallbacks
from twisted.internet.threads import deferToThread
from twisted.trial.unittest import SynchronousTestCase, TestCase

from twisted_mail_suite.http.login import safeNext
from twisted_mail_suite.testing import startHarness

from .support import Client, Connection, Response, unitSuite

FORM = {"Content-Type": "application/x-www-form-urlencoded"}


def formToken(response: Response) -> str:
    return response.cookies["mailsuite_login"]


class FormTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.suite = unitSuite(self)
        self.factory = self.suite.factories["http"]
        self.clock = self.suite.clock

    def post(self, fields: dict[str, str], next: str = "") -> Response:
        connection = Connection(self.factory)
        connection.request("GET", "/login" + (f"?next={next}" if next else ""))
        token = formToken(connection.response())
        body = urlencode({**fields, "csrf_token": token}).encode()
        connection.request("POST", "/login", {**FORM, "Cookie": f"mailsuite_login={token}"}, body)
        self.clock.advance(10)                  # past the failure delay
        return connection.response()

    def test_form(self) -> None:
        """
        GET /login is an HTML form with username, password and the CSRF
        token, whose cookie is HttpOnly and SameSite=Strict; no inline script.
        """
        connection = Connection(self.factory)
        connection.request("GET", "/login")
        response = connection.response()
        page = response.body.decode()
        for needle in ('name="username"', 'name="password"', 'type="password"', 'action="/login"',
                       f'name="csrf_token" value="{formToken(response)}"'):
            self.assertIn(needle, page)
        self.assertNotIn("<script", page)
        cookie = response.header("Set-Cookie")
        self.assertIn("HttpOnly", cookie)
        self.assertIn("samesite=strict", cookie.lower())
        self.assertNotIn("Secure", cookie)

    def test_wrongPassword(self) -> None:
        """
        A wrong password shows the form again with the error, status 401,
        and the policy counts the failure; no session cookie.
        """
        response = self.post({"username": "alice", "password": "nope"})
        self.assertEqual(response.status, 401)
        self.assertIn("Wrong user name or password.", response.body.decode())
        self.assertIn('value="alice"', response.body.decode())
        self.assertNotIn("mailsuite_session", response.cookies)
        policy = self.suite.portal.policy
        self.assertEqual(policy._current(policy._byUser, "alice"), 1)

    def test_rightPassword(self) -> None:
        """
        The right password sets the session cookie (HttpOnly,
        SameSite=Strict) and redirects to next; the session names the user.
        """
        response = self.post({"username": "alice", "password": "secret", "next": "/inbox"})
        self.assertEqual((response.status, response.header("Location")), (303, "/inbox"))
        session = [c for c in response.headers["set-cookie"] if c.startswith("mailsuite_session=")][0]
        self.assertIn("HttpOnly", session)
        self.assertIn("samesite=strict", session.lower())
        connection = Connection(self.factory)
        connection.request("GET", "/api/v1/me", {"Cookie": f"mailsuite_session={response.cookies['mailsuite_session']}"})
        self.assertIn('"user":"alice"', connection.response().body.decode())

    def test_nextStaysHere(self) -> None:
        """
        next may only name a path on this site.
        """
        self.assertEqual(safeNext("/inbox?x=1"), "/inbox?x=1")
        for target in ("//evil.example/", "https://evil.example/", "javascript:alert(1)", "", None, "/\\evil"):
            self.assertEqual(safeNext(target), "/", target)

    def test_missingFields(self) -> None:
        """
        An empty user name or password is a 400 on the form.
        """
        self.assertEqual(self.post({"username": "alice", "password": ""}).status, 400)


class TLSTests(TestCase):
    timeout = 60

    @inlineCallbacks
    def setUp(self) -> Any:
        self.harness = yield startHarness(self, tls=True, users={"alice": "secret"})

    def test_httpsLogin(self) -> Any:
        """
        Over an ssl: listener the session cookie is Secure and responses
        carry HSTS; Basic works from anywhere over TLS.
        """
        def scenario() -> None:
            client = Client(self.harness.httpsPort, self.harness.sslContext())
            client.context.check_hostname = False
            form = client.request("GET", "/login")
            self.assertIn("Secure", form.header("Set-Cookie"))
            self.assertEqual(form.header("Strict-Transport-Security"), "max-age=31536000")
            token = formToken(form)
            body = urlencode({"username": "alice", "password": "secret", "csrf_token": token}).encode()
            response = client.request("POST", "/login", body, {**FORM}, cookie=f"mailsuite_login={token}")
            self.assertEqual(response.status, 303)
            session = [c for c in response.headers["set-cookie"] if c.startswith("mailsuite_session=")][0]
            self.assertIn("Secure", session)
            self.assertEqual(client.request("GET", "/api/v1/me", auth=("alice", "secret")).status, 200)

        return deferToThread(scenario)
