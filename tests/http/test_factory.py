# -*- test-case-name: tests.http.test_factory -*-
"""
The HTTP factory: made from the registry when C{http.listen} is set,
draining like every protocol, and L{HTTPFactory.mount} adding resources
(the web pages, the harness's fault switches) at any depth.
"""
from __future__ import annotations

from twisted.trial.unittest import SynchronousTestCase
from twisted.web.resource import Resource

from twisted_mail_suite.net.lifecycle import IDrainable

from .support import Connection, unitSuite


class Hello(Resource):
    isLeaf = True

    def render_GET(self, request: object) -> bytes:
        return b"hello"


class FactoryTests(SynchronousTestCase):
    def test_madeAndDrainable(self) -> None:
        """
        A suite with http.listen has an HTTP factory providing IDrainable.
        """
        factory = unitSuite(self).factories["http"]
        self.assertTrue(IDrainable.providedBy(factory))

    def test_mount(self) -> None:
        """
        mount serves a resource at a nested path; the rest stays JSON 404s.
        """
        factory = unitSuite(self).factories["http"]
        factory.mount(b"pages/hello", Hello())
        connection = Connection(factory)
        connection.request("GET", "/pages/hello")
        connection.request("GET", "/pages/other")
        hello, other = connection.responses()
        self.assertEqual((hello.status, hello.body), (200, b"hello"))
        self.assertEqual(hello.header("X-Frame-Options"), "DENY")
        self.assertEqual(other.status, 404)

    def test_mountIndex(self) -> None:
        """
        The web pages may replace the index page.
        """
        factory = unitSuite(self).factories["http"]
        factory.mount(b"", Hello())
        connection = Connection(factory)
        connection.request("GET", "/")
        self.assertEqual(connection.response().body, b"hello")
