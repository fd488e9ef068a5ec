# -*- test-case-name: tests.http.test_pages_admin -*-
"""
The admin pages without a browser (L{twisted_mail_suite.http.pages_admin}):
a suite on loopback whose outbound queue cannot deliver (its smarthost
port has no listener), read with C{http.client}.
"""
from __future__ import annotations

import html
import re
import socket

from twisted.trial.unittest import SynchronousTestCase

from tests.http.test_pages import WebClient
from twisted_mail_suite.testing.threaded import ThreadedHarness

REMOTE = (b"From: alice@example.test\r\nTo: someone@remote.example\r\nSubject: Quarterly report\r\n\r\n"
          b"Attached.\r\n")


class AdminPagesTests(SynchronousTestCase):
    """
    C{/admin...} for alice (in C{http.admins}) and bob (not).
    """

    def setUp(self) -> None:
        self.harness = ThreadedHarness(overrides={"http.admins": ["alice"]},
                                       relay={"mode": "smarthost", "smarthost": "127.0.0.1:9",
                                              "smarthost_tls": "none"})
        self.harness.start()
        self.addCleanup(self.harness.stop)
        self.web = WebClient(self.harness.ports()["http"])
        self.web.login("alice", self.harness.users["alice"])

    def queue(self) -> None:
        suite = self.harness.harness.suite  # type: ignore[union-attr]
        self.harness.callInReactor(lambda: suite.sendMail("alice@example.test", "someone@remote.example", REMOTE))

    def test_notForOthers(self) -> None:
        """
        A user who is not an admin gets a 403 page, and no Admin link.
        """
        bob = WebClient(self.web.port)
        bob.login("bob", self.harness.users["bob"])
        response = bob.get("/admin/queue")
        self.assertEqual(response.status, 403)
        self.assertIn("Only the administrators", response.text)
        self.assertNotIn('href="/admin"', bob.get("/inbox").text)

    def test_overview(self) -> None:
        """
        C{/admin} links the three pages, with their counts.
        """
        self.queue()
        page = self.web.get("/admin").text
        self.assertIn('<a href="/admin/queue">Outbound queue</a> <span class="muted">1 queued</span>', page)
        self.assertIn("2 users", page)

    def test_queueListed(self) -> None:
        """
        The queue page lists a waiting message, with Retry and Delete
        forms for the admin API (carrying the session's CSRF token).
        """
        self.queue()
        page = self.web.get("/admin/queue").text
        self.assertIn('<script src="/static/admin.js" defer></script>', page)
        row = re.search(r'<tr data-id="([^"]+)">(.*?)</tr>', page, re.S)
        assert row is not None, page
        queueID, cells = html.unescape(row.group(1)), row.group(2)
        self.assertIn("someone@remote.example", cells)
        self.assertIn(f'data-method="POST" data-url="/api/v1/admin/queue/{queueID}/flush"', cells)
        self.assertIn(f'data-method="DELETE" data-url="/api/v1/admin/queue/{queueID}"', cells)
        self.assertIn('name="csrf_token"', cells)

    def test_queueEmpty(self) -> None:
        """
        An empty queue says so.
        """
        self.assertIn("The queue is empty.", self.web.get("/admin/queue").text)

    def test_users(self) -> None:
        """
        The users page lists the users with their forms, and the form to add one.
        """
        page = self.web.get("/admin/users").text
        self.assertIn('<tr data-user="alice">', page)
        self.assertIn('<tr data-user="bob">', page)
        self.assertIn('data-method="PUT" data-url="/api/v1/admin/users/bob/password"', page)
        self.assertIn('data-method="POST" data-url="/api/v1/admin/users"', page)

    def test_online(self) -> None:
        """
        Who is online shows a chat client's connection.
        """
        chat = socket.create_connection(("127.0.0.1", self.harness.ports()["chat"]), timeout=10)
        self.addCleanup(chat.close)
        chat.recv(1024)                      # the greeting: admitted
        page = self.web.get("/admin/online").text
        self.assertIn('<table class="online" data-role="chat">', page)
        self.assertIn("127.0.0.1", page)

    def test_unknownPage(self) -> None:
        """
        Another page below C{/admin} is a 404.
        """
        self.assertEqual(self.web.get("/admin/nothing").status, 404)
