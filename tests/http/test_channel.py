# -*- test-case-name: tests.http.test_channel -*-
"""
The HTTP connection's limits and chassis, driven over a
C{StringTransport} on the suite's clock: header and body size, slow
clients, idle connections, admission and the drain; security headers on
every response, refusals included.
"""
from __future__ import annotations

from twisted.trial.unittest import SynchronousTestCase

from twisted_mail_suite.http.replies import CSP

from .support import Connection, unitSuite


class LimitTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.suite = unitSuite(self, **{"http.max_header_size": 2048, "http.max_body_size": 1024,
                                        "http.request_timeout": 10, "http.idle_timeout": 30})
        self.factory = self.suite.factories["http"]
        self.clock = self.suite.clock

    def test_unknownPathJSON404(self) -> None:
        """
        A path nothing serves gets a JSON 404 with the security headers,
        and the connection stays open.
        """
        connection = Connection(self.factory)
        connection.request("GET", "/no/such/thing")
        response = connection.response()
        self.assertEqual((response.status, response.json()["error"]), (404, "not-found"))
        self.assertEqual(response.header("Content-Security-Policy"), CSP)
        self.assertEqual(response.header("X-Frame-Options"), "DENY")
        self.assertEqual(response.header("X-Content-Type-Options"), "nosniff")
        self.assertFalse(connection.transport.disconnecting)

    def test_headersTooLarge(self) -> None:
        """
        Headers past max_header_size get a 431 JSON error and the
        connection closes.
        """
        connection = Connection(self.factory)
        connection.send(b"GET / HTTP/1.1\r\nHost: x\r\n" + b"X-Junk: " + b"a" * 500 + b"\r\n" * 1)
        for _ in range(5):
            connection.send(b"X-More: " + b"b" * 500 + b"\r\n")
        response = connection.response()
        self.assertEqual((response.status, response.json()["error"]), (431, "headers-too-large"))
        self.assertEqual(response.header("Content-Security-Policy"), CSP)
        self.assertTrue(connection.transport.disconnecting)

    def test_lineTooLong(self) -> None:
        """
        One line longer than max_header_size gets a 431 too.
        """
        connection = Connection(self.factory)
        connection.send(b"GET /" + b"a" * 3000)
        self.assertEqual(connection.response().status, 431)
        self.assertTrue(connection.transport.disconnecting)

    def test_declaredBodyTooLarge(self) -> None:
        """
        A Content-Length past max_body_size gets a 413 before the body is read.
        """
        connection = Connection(self.factory)
        connection.send(b"POST /api/v1/admin/users HTTP/1.1\r\nHost: x\r\nContent-Length: 5000\r\n\r\n")
        response = connection.response()
        self.assertEqual((response.status, response.json()["error"]), (413, "body-too-large"))
        self.assertTrue(connection.transport.disconnecting)

    def test_chunkedBodyTooLarge(self) -> None:
        """
        A chunked body is counted as it comes: past max_body_size, 413.
        """
        connection = Connection(self.factory)
        connection.send(b"POST /login HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n")
        connection.send(b"400\r\n" + b"x" * 1024 + b"\r\n")
        self.assertEqual(connection.responses(), [])
        connection.send(b"400\r\n" + b"x" * 1024 + b"\r\n")
        self.assertEqual(connection.response().status, 413)
        self.assertTrue(connection.transport.disconnecting)

    def test_slowClientCut(self) -> None:
        """
        A request dripping in (each octet resetting any idle timer) is cut
        with a 408 request_timeout after its first octet.
        """
        connection = Connection(self.factory)
        for octet in b"GET / HTTP/1.1\r\nHost: x\r\nX-Slow: ":
            connection.send(bytes([octet]))
            self.clock.advance(0.2)
        self.assertEqual(connection.responses(), [])
        self.clock.advance(10)
        response = connection.response()
        self.assertEqual((response.status, response.json()["error"]), (408, "request-timeout"))
        self.assertTrue(connection.transport.disconnecting)

    def test_slowBodyCut(self) -> None:
        """
        A body that does not arrive within request_timeout is cut too.
        """
        connection = Connection(self.factory)
        connection.send(b"POST /login HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nabc")
        self.clock.advance(10)
        self.assertEqual(connection.response().status, 408)

    def test_idleConnectionClosed(self) -> None:
        """
        A kept-alive connection with no request is closed after
        idle_timeout; one answered request does not count as a slow one.
        """
        connection = Connection(self.factory)
        connection.request("GET", "/nothing")
        self.assertEqual(connection.response().status, 404)
        self.clock.advance(29)
        self.assertFalse(connection.transport.disconnecting)
        self.clock.advance(2)
        self.assertTrue(connection.transport.disconnecting)

    def test_keepAlive(self) -> None:
        """
        Two requests on one connection get two answers.
        """
        connection = Connection(self.factory)
        connection.request("GET", "/nothing")
        connection.request("GET", "/metrics")
        self.assertEqual([r.status for r in connection.responses()], [404, 200])


class AdmissionTests(SynchronousTestCase):
    def test_perAddressLimit(self) -> None:
        """
        Past max_connections_per_ip, a connection gets a 503 JSON error and
        is closed; it takes no place.
        """
        suite = unitSuite(self, **{"http.max_connections_per_ip": 1})
        factory = suite.factories["http"]
        first = Connection(factory)
        second = Connection(factory)
        response = second.response()
        self.assertEqual((response.status, response.json()["error"]), (503, "busy"))
        self.assertTrue(second.transport.disconnecting)
        second.closeIfAsked()
        self.assertEqual(factory.connections, 1)
        self.assertFalse(first.transport.disconnecting)

    def test_drainClosesIdle(self) -> None:
        """
        The drain closes idle connections at once, refuses new ones, and
        fires once they are gone.
        """
        suite = unitSuite(self)
        factory = suite.factories["http"]
        connection = Connection(factory)
        drained = factory.drain(5)
        self.assertTrue(connection.transport.disconnecting)
        self.assertNoResult(drained)
        connection.closeIfAsked()
        self.successResultOf(drained)
        late = Connection(factory)
        self.assertEqual(late.response().json()["error"], "shutting-down")

    def test_drainAnswersLongPoll(self) -> None:
        """
        A long poll waiting at shutdown gets a 503 at once, then the
        connection closes.
        """
        from .support import basic
        suite = unitSuite(self)
        factory = suite.factories["http"]
        connection = Connection(factory)
        connection.request("GET", "/api/v1/wait?timeout=60", {"Authorization": basic("alice", "secret")})
        self.assertEqual(connection.responses(), [])
        drained = factory.drain(5)
        response = connection.response()
        self.assertEqual((response.status, response.json()["error"]), (503, "shutting-down"))
        self.assertTrue(connection.transport.disconnecting)
        connection.closeIfAsked()
        self.successResultOf(drained)
