# -*- test-case-name: tests.proxy.test_authhttp -*-
"""
nginx's auth_http protocol answered through the suite's checker, policy
and router (L{AuthHTTP}), without HTTP.
"""
from __future__ import annotations

from typing import Any

from twisted.trial.unittest import SynchronousTestCase

from twisted_mail_suite.proxy.authhttp import AuthHTTP
from twisted_mail_suite.proxy.avatars import register

from ..fakes import makeSuite

BACKENDS = [{"name": "a", "host": "10.0.0.1", "smtp": 25, "submission": 587, "pop3": 110, "imap": 143},
            {"name": "b", "host": "10.0.0.2", "smtp": 2525, "submission": 2587, "pop3": 1110, "imap": 1143}]


def login(user: str = "alice", password: str = "secret", protocol: str = "imap", attempt: int = 1,
          client: str = "192.0.2.7", method: str = "plain") -> dict[str, str]:
    return {"Auth-Method": method, "Auth-User": user, "Auth-Pass": password, "Auth-Protocol": protocol,
            "Auth-Login-Attempt": str(attempt), "Client-IP": client}


class AuthHTTPTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.suite = makeSuite(self, users={"alice": "secret", "bob": "p%ss word"},
                               **{"proxy.backends": BACKENDS, "auth.max_failures_per_connection": 3})
        register(self.suite.portal.realm, self.suite.parts)
        self.auth = self.make()

    def make(self, **kwargs: Any) -> AuthHTTP:
        return AuthHTTP(self.suite.config.proxy, 3, self.suite.portal, self.suite.parts.router, "s3cret", **kwargs)

    def ask(self, headers: dict[str, str], auth: AuthHTTP | None = None) -> dict[str, str]:
        lowered = {k.lower(): v for k, v in headers.items()}
        d = (auth or self.auth).answer(lambda name: lowered.get(name.lower()), "127.0.0.1")
        self.suite.reactor.advance(self.suite.config.auth.max_delay)   # the policy's delay after a failure
        return dict(self.successResultOf(d))

    def test_secret(self) -> None:
        """
        Only the shared secret opens the door.
        """
        self.assertTrue(self.auth.authorized("s3cret"))
        for key in (None, "", "s3cre", "s3cret "):
            self.assertFalse(self.auth.authorized(key))

    def test_ok(self) -> None:
        """
        The right password: OK, and the user's node with the port of the
        protocol (smtp logins go to submission); the same node every time.
        """
        answer = self.ask(login())
        self.assertEqual(answer["Auth-Status"], "OK")
        node = {b["host"]: b for b in BACKENDS}[answer["Auth-Server"]]
        self.assertEqual(answer["Auth-Port"], str(node["imap"]))
        for protocol, role in [("pop3", "pop3"), ("smtp", "submission")]:
            again = self.ask(login(protocol=protocol))
            self.assertEqual((again["Auth-Server"], again["Auth-Port"]), (node["host"], str(node[role])))

    def test_escaped(self) -> None:
        """
        nginx URL-escapes Auth-User and Auth-Pass.
        """
        self.assertEqual(self.ask(login("bob", "p%25ss%20word"))["Auth-Status"], "OK")
        self.assertEqual(self.ask(login("alice%40example.test", "secret"))["Auth-Status"], "OK")

    def test_wrongPassword(self) -> None:
        """
        A wrong password: the reason, Auth-Wait (try again), and for SMTP
        the reply code; from the connection's last allowed attempt on, no
        Auth-Wait (nginx closes).
        """
        self.assertEqual(self.ask(login(password="nope")),
                         {"Auth-Status": "Invalid login or password", "Auth-Wait": "1"})
        self.assertEqual(self.ask(login(password="nope", protocol="smtp", attempt=2)),
                         {"Auth-Status": "Invalid login or password", "Auth-Error-Code": "535 5.7.8",
                          "Auth-Wait": "1"})
        self.assertNotIn("Auth-Wait", self.ask(login(password="nope", attempt=3)))

    def test_policyCountsClientIP(self) -> None:
        """
        Failures count against Client-IP (not nginx's address): past
        auth.max_failures that address is refused, another is not.
        """
        limit = self.suite.config.auth.max_failures
        for _ in range(limit):
            self.ask(login(password="nope"))
        refused = self.ask(login())
        self.assertEqual(refused["Auth-Status"], "Too many failed logins")
        self.assertNotIn("Auth-Wait", refused)
        self.assertEqual(self.ask(login(client="192.0.2.8"))["Auth-Status"], "OK")

    def test_unsupportedMethod(self) -> None:
        """
        APOP, CRAM-MD5 and EXTERNAL are not offered: refused, no retry.
        """
        self.assertEqual(self.ask(login(method="cram-md5")),
                         {"Auth-Status": "Unsupported authentication method"})

    def test_mxLocal(self) -> None:
        """
        Auth-Method none (MX): a local first recipient goes to its user's
        node's MX port.
        """
        headers = {"Auth-Method": "none", "Auth-Protocol": "smtp", "Client-IP": "192.0.2.9",
                   "Auth-SMTP-From": "MAIL FROM:<x@remote.test>", "Auth-SMTP-To": "RCPT TO:<Bob@Example.TEST>"}
        answer = self.ask(headers)
        self.assertEqual(answer["Auth-Status"], "OK")
        node = {b["host"]: b for b in BACKENDS}[answer["Auth-Server"]]
        self.assertEqual(answer["Auth-Port"], str(node["smtp"]))
        self.assertEqual(answer["Auth-Server"], self.ask(login("bob", "p%25ss%20word"))["Auth-Server"])

    def test_mxNotLocal(self) -> None:
        """
        MX for another domain or an unknown local user: refused 550, no
        retry.
        """
        for to in ("RCPT TO:<x@elsewhere.test>", "RCPT TO:<nobody@example.test>"):
            answer = self.ask({"Auth-Method": "none", "Auth-Protocol": "smtp", "Auth-SMTP-To": to})
            self.assertEqual(answer, {"Auth-Status": "Recipient address rejected", "Auth-Error-Code": "550 5.1.1"})

    def test_downNodeSkipped(self) -> None:
        """
        A node the cluster says is down gets nobody.
        """
        first = self.ask(login())["Auth-Server"]
        name = {b["host"]: b["name"] for b in BACKENDS}[first]
        other = self.ask(login(), auth=self.make(down=lambda: {name}))["Auth-Server"]
        self.assertNotEqual(other, first)

    def test_thisNode(self) -> None:
        """
        Without backends, this node is the backend: the address nginx
        reached us on and our own listening port.
        """
        suite = makeSuite(self)
        register(suite.portal.realm, suite.parts)
        auth = AuthHTTP(suite.config.proxy, 3, suite.portal, suite.parts.router, "s",
                        portsFor=lambda role: {"imap": [1143]}.get(role, []))
        self.suite = suite
        self.assertEqual(self.ask(login(), auth), {"Auth-Status": "OK", "Auth-Server": "127.0.0.1",
                                                   "Auth-Port": "1143"})
        answer = self.ask(login(protocol="pop3"), auth)
        self.assertEqual((answer["Auth-Status"], answer["Auth-Wait"]), ("No server available, try again later", "1"))
