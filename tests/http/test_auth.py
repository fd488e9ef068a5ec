# -*- test-case-name: tests.http.test_auth -*-
"""
Logging in over HTTP through the one portal and failed-login policy:
HTTP Basic (wrong password: 401 after the policy's delay, counted;
lockout: 429; plaintext from afar: 403), the cookie session of the login
form and its CSRF token, admin-only endpoints (403 for others), and the
realm's C{IWebUser} avatar.
"""
from __future__ import annotations

from twisted.trial.unittest import SynchronousTestCase
from zope.interface.verify import verifyObject

from twisted_mail_suite.http.auth import basicCredentials
from twisted_mail_suite.http.avatars import IWebUser, WebUser
from twisted_mail_suite.http.replies import HTTPError

from .support import Connection, basic, unitSuite


class BasicTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.suite = unitSuite(self, **{"auth.max_failures": 3, "auth.max_failures_per_connection": 10})
        self.factory = self.suite.factories["http"]
        self.clock = self.suite.clock

    def get(self, path: str, user: str = "alice", password: str = "secret", host: str = "127.0.0.1") -> object:
        connection = Connection(self.factory, host)
        connection.request("GET", path, {"Authorization": basic(user, password)})
        return connection

    def test_rightPassword(self) -> None:
        """
        Basic credentials log in: /api/v1/me names the user.
        """
        response = self.get("/api/v1/me").response()
        self.assertEqual(response.status, 200)
        self.assertEqual(response.json(), {"user": "alice", "admin": True, "csrf_token": ""})

    def test_noCredentials(self) -> None:
        """
        An API call without credentials gets 401 with a Basic challenge.
        """
        connection = Connection(self.factory)
        connection.request("GET", "/api/v1/messages")
        response = connection.response()
        self.assertEqual((response.status, response.json()["error"]), (401, "unauthorized"))
        self.assertIn("Basic", response.header("WWW-Authenticate"))

    def test_wrongPasswordDelayedAndCounted(self) -> None:
        """
        A wrong password is answered 401 only after the policy's delay,
        and the policy counts it.
        """
        connection = self.get("/api/v1/messages", password="wrong")
        self.assertEqual(connection.responses(), [])
        self.clock.advance(1.0)
        response = connection.response()
        self.assertEqual((response.status, response.json()["error"]), (401, "unauthorized"))
        policy = self.suite.portal.policy
        self.assertEqual(policy._current(policy._byUser, "alice"), 1)

    def test_lockout(self) -> None:
        """
        Past auth.max_failures from one address, even the right password
        is refused unchecked: 429, and the connection closes.
        """
        for _ in range(3):
            self.get("/api/v1/messages", password="wrong")
            self.clock.advance(10)
        connection = self.get("/api/v1/messages")
        response = connection.response()
        self.assertEqual((response.status, response.json()["error"]), (429, "too-many-failures"))
        self.assertTrue(connection.transport.disconnecting)

    def test_cachedCredentials(self) -> None:
        """
        Basic credentials that logged in are not checked again for a
        minute: a password changed behind the API's back holds after it.
        """
        self.assertEqual(self.get("/api/v1/me").response().status, 200)
        self.suite.users.setPassword("alice", "changed")
        self.assertEqual(self.get("/api/v1/me").response().status, 200)
        self.clock.advance(60)
        connection = self.get("/api/v1/me")
        self.clock.advance(10)
        self.assertEqual(connection.response().status, 401)
        self.assertEqual(self.get("/api/v1/me", password="changed").response().status, 200)

    def test_cacheForgetsChangedUser(self) -> None:
        """
        A user whose password is set through the API is forgotten by the
        cache at once.
        """
        self.assertEqual(self.get("/api/v1/me", "bob", "hunter2").response().status, 200)
        connection = Connection(self.factory)
        connection.request("PUT", "/api/v1/admin/users/bob/password",
                           {"Authorization": basic("alice", "secret"), "Content-Type": "application/json"},
                           b'{"password": "new"}')
        self.assertEqual(connection.response().status, 200)
        connection = self.get("/api/v1/me", "bob", "hunter2")
        self.clock.advance(10)
        self.assertEqual(connection.response().status, 401)

    def test_lockoutBeatsCache(self) -> None:
        """
        Once the address is locked out, even cached credentials are refused.
        """
        self.assertEqual(self.get("/api/v1/me").response().status, 200)
        for _ in range(3):
            self.get("/api/v1/messages", "bob", "wrong")
            self.clock.advance(10)
        self.assertEqual(self.get("/api/v1/me").response().status, 429)

    def test_plaintextRefusedFromAfar(self) -> None:
        """
        A password in the clear from a non-loopback address is refused
        (DESIGN "Passwords on the wire"): 403.
        """
        response = self.get("/api/v1/messages", host="192.0.2.7").response()
        self.assertEqual((response.status, response.json()["error"]), (403, "plaintext-refused"))

    def test_adminOnly(self) -> None:
        """
        A user not in http.admins gets 403 from the admin endpoints.
        """
        response = self.get("/api/v1/admin/users", "bob", "hunter2").response()
        self.assertEqual((response.status, response.json()["error"]), (403, "forbidden"))
        self.assertEqual(self.get("/api/v1/admin/users").response().status, 200)

    def test_malformedHeader(self) -> None:
        """
        Basic credentials that are not base64 of user:password get a 400.
        """
        connection = Connection(self.factory)
        connection.request("GET", "/api/v1/me", {"Authorization": "Basic !!!"})
        self.assertEqual(connection.response().status, 400)

    def test_basicCredentials(self) -> None:
        """
        The header is parsed as UTF-8 user:password (the password may hold colons).
        """
        class Request:
            def getHeader(self, name: bytes) -> bytes:
                return basic("zoë", "a:b").encode("ascii")

        credentials = basicCredentials(Request())
        self.assertEqual((credentials.username, credentials.password), ("zoë".encode(), b"a:b"))

    def test_otherScheme(self) -> None:
        """
        Another scheme than Basic gets a 401 challenge.
        """
        class Request:
            def getHeader(self, name: bytes) -> bytes:
                return b"Bearer xyz"

        error = self.assertRaises(HTTPError, basicCredentials, Request())
        self.assertEqual(error.status, 401)


class SessionTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.suite = unitSuite(self)
        self.factory = self.suite.factories["http"]

    def login(self, user: str = "alice", password: str = "secret") -> tuple[str, str]:
        """
        Log in through the form; return the session cookie and its CSRF token.
        """
        connection = Connection(self.factory)
        connection.request("GET", "/login")
        form = connection.response()
        token = form.cookies["mailsuite_login"]
        self.assertIn(f'name="csrf_token" value="{token}"', form.body.decode())
        body = f"username={user}&password={password}&csrf_token={token}".encode()
        connection.request("POST", "/login", {"Cookie": f"mailsuite_login={token}", "Accept": "application/json",
                                              "Content-Type": "application/x-www-form-urlencoded"}, body)
        response = connection.response()
        self.assertEqual(response.status, 200)
        return response.cookies["mailsuite_session"], response.json()["csrf_token"]

    def test_cookieLogsIn(self) -> None:
        """
        The session cookie of the login form logs the API in.
        """
        cookie, csrf = self.login()
        connection = Connection(self.factory)
        connection.request("GET", "/api/v1/me", {"Cookie": f"mailsuite_session={cookie}"})
        self.assertEqual(connection.response().json(), {"user": "alice", "admin": True, "csrf_token": csrf})

    def test_stateChangeNeedsToken(self) -> None:
        """
        With the cookie, a DELETE without the CSRF token is refused (403
        csrf); with it, it goes through (here to a 404: no such message).
        """
        cookie, csrf = self.login()
        connection = Connection(self.factory)
        connection.request("DELETE", "/api/v1/messages/1.M1.x", {"Cookie": f"mailsuite_session={cookie}"})
        response = connection.response()
        self.assertEqual((response.status, response.json()["error"]), (403, "csrf"))
        connection.request("DELETE", "/api/v1/messages/1.M1.x", {"Cookie": f"mailsuite_session={cookie}",
                                                                  "X-CSRF-Token": "wrong"})
        self.assertEqual(connection.response().status, 403)
        connection.request("DELETE", "/api/v1/messages/1.M1.x", {"Cookie": f"mailsuite_session={cookie}",
                                                                  "X-CSRF-Token": csrf})
        self.assertEqual(connection.response().status, 404)

    def test_foreignOrigin(self) -> None:
        """
        A state-changing request from another site's page is refused even
        with the token.
        """
        cookie, csrf = self.login()
        connection = Connection(self.factory)
        connection.request("DELETE", "/api/v1/messages/1.M1.x", {"Cookie": f"mailsuite_session={cookie}",
                                                                  "X-CSRF-Token": csrf,
                                                                  "Origin": "https://evil.example"})
        self.assertEqual(connection.response().json()["error"], "csrf")

    def test_basicNeedsNoToken(self) -> None:
        """
        HTTP Basic calls carry no ambient credential: no CSRF token needed.
        """
        connection = Connection(self.factory)
        connection.request("DELETE", "/api/v1/messages/1.M1.x", {"Authorization": basic("alice", "secret")})
        self.assertEqual(connection.response().status, 404)

    def test_loginFormNeedsItsToken(self) -> None:
        """
        A login POST without the form's double-submit token is refused:
        no login CSRF.
        """
        connection = Connection(self.factory)
        connection.request("POST", "/login", {"Content-Type": "application/x-www-form-urlencoded",
                                              "Accept": "application/json"},
                           b"username=alice&password=secret&csrf_token=forged")
        response = connection.response()
        self.assertEqual((response.status, response.json()["error"]), (403, "csrf"))
        self.assertNotIn("mailsuite_session", response.cookies)

    def test_logout(self) -> None:
        """
        POST /logout with the token ends the session.
        """
        cookie, csrf = self.login()
        connection = Connection(self.factory)
        connection.request("POST", "/logout", {"Cookie": f"mailsuite_session={cookie}", "X-CSRF-Token": csrf,
                                               "Accept": "application/json"})
        self.assertEqual(connection.response().status, 200)
        connection.request("GET", "/api/v1/me", {"Cookie": f"mailsuite_session={cookie}"})
        self.assertEqual(connection.response().status, 401)


class AvatarTests(SynchronousTestCase):
    def test_interface(self) -> None:
        """
        WebUser provides IWebUser.
        """
        self.assertTrue(verifyObject(IWebUser, WebUser("alice", True)))


class PageAPITests(SynchronousTestCase):
    """
    The functions the web pages use (module docstring of http/auth.py).
    """

    def setUp(self) -> None:
        from twisted.web.resource import Resource
        from twisted.web.server import NOT_DONE_YET

        from twisted_mail_suite.http import auth
        from twisted_mail_suite.http.replies import writeBody

        class Inbox(Resource):
            isLeaf = True

            def render_GET(self, request: object) -> object:
                def shown(user: object) -> None:
                    if user is None:
                        auth.loginRedirect(request)
                        return
                    writeBody(request, 200, b"text/plain", f"{user.name} {auth.csrfToken(request)}".encode())

                auth.currentUser(request).addCallback(shown)
                return NOT_DONE_YET

        self.suite = unitSuite(self)
        self.factory = self.suite.factories["http"]
        self.factory.mount(b"inbox", Inbox())

    def test_redirectWhenLoggedOut(self) -> None:
        """
        Without a login, loginRedirect sends the browser to /login?next=...
        """
        connection = Connection(self.factory)
        connection.request("GET", "/inbox?page=2")
        response = connection.response()
        self.assertEqual((response.status, response.header("Location")), (303, "/login?next=/inbox%3Fpage%3D2"))

    def test_userAndToken(self) -> None:
        """
        With the session cookie, currentUser gives the user and csrfToken
        the session's token, which checkCSRF then accepts.
        """
        session = self.factory.auth.sessions.create(WebUser("bob"))
        connection = Connection(self.factory)
        connection.request("GET", "/inbox", {"Cookie": f"mailsuite_session={session.token}"})
        self.assertEqual(connection.response().body.decode(), f"bob {session.csrf}")


class LogoutTests(SynchronousTestCase):
    def test_logoutWithoutToken(self) -> None:
        """
        POST /logout without the session's CSRF token is refused (403) and
        the session goes on.
        """
        suite = unitSuite(self)
        factory = suite.factories["http"]
        session = factory.auth.sessions.create(WebUser("alice"))
        connection = Connection(factory)
        connection.request("POST", "/logout", {"Cookie": f"mailsuite_session={session.token}"})
        self.assertEqual(connection.response().json()["error"], "csrf")
        self.assertIs(factory.auth.sessions.get(session.token), session)
