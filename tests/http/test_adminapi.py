# -*- test-case-name: tests.http.test_adminapi -*-
"""
The admin endpoints over a real port: users through the operations
C{mailsuite-admin} uses (the new password works at once, over POP3 too),
who is online (a POP3 session shows with its user), and the outbound
queue of a real relay (list, show, hold, release, flush, delete; 409
when there is no queue); 403 for a user not in http.admins.
"""
from __future__ import annotations

import poplib
import smtplib
from typing import Any

from twisted.internet import reactor
from twisted.internet.defer import inlineCallbacks
from twisted.internet.protocol import Protocol, ServerFactory
from twisted.internet.threads import deferToThread
from twisted.trial.unittest import TestCase

from twisted_mail_suite.testing import startHarness

from .support import Client

USERS = {"alice": "secret", "bob": "hunter2"}
ALICE = ("alice", "secret")
BOB = ("bob", "hunter2")


class UsersAndOnlineTests(TestCase):
    timeout = 60

    @inlineCallbacks
    def setUp(self) -> Any:
        self.harness = yield startHarness(self, users=USERS, overrides={"http.admins": ["alice"]})
        self.client = Client(self.harness.httpPort)

    def test_users(self) -> Any:
        """
        Add, change the password of and delete a user; each change holds
        at once for every protocol; errors are JSON.
        """
        def scenario() -> None:
            c = self.client
            self.assertEqual(c.request("GET", "/api/v1/admin/users", auth=ALICE).json(), {"users": ["alice", "bob"]})
            added = c.request("POST", "/api/v1/admin/users", {"name": "Carol", "password": "pw1"}, auth=ALICE)
            self.assertEqual((added.status, added.json()), (201, {"added": "carol"}))
            self.assertEqual(c.request("GET", "/api/v1/me", auth=("carol", "pw1")).status, 200)
            again = c.request("POST", "/api/v1/admin/users", {"name": "carol", "password": "x"}, auth=ALICE)
            self.assertEqual((again.status, again.json()["error"]), (409, "exists"))
            bad = c.request("POST", "/api/v1/admin/users", {"name": "a/b", "password": "x"}, auth=ALICE)
            self.assertEqual((bad.status, bad.json()["error"]), (400, "bad-request"))
            changed = c.request("PUT", "/api/v1/admin/users/carol/password", {"password": "pw2"}, auth=ALICE)
            self.assertEqual(changed.json(), {"password_set": "carol"})
            pop = poplib.POP3("127.0.0.1", self.harness.pop3Port, timeout=10)
            pop.user("carol")
            self.assertTrue(pop.pass_("pw2").startswith(b"+OK"))
            pop.quit()
            self.assertEqual(c.request("DELETE", "/api/v1/admin/users/carol", auth=ALICE).json(), {"deleted": "carol"})
            self.assertEqual(c.request("DELETE", "/api/v1/admin/users/carol", auth=ALICE).status, 404)
            self.assertEqual(c.request("GET", "/api/v1/me", auth=("carol", "pw2")).status, 401)
            self.assertEqual(c.request("GET", "/api/v1/admin/users", auth=BOB).status, 403)
            self.assertEqual(c.request("POST", "/api/v1/admin/users", {"name": "eve", "password": "x"},
                                       auth=BOB).status, 403)

        return deferToThread(scenario)

    def test_online(self) -> Any:
        """
        Who is online lists a logged-in POP3 session with its user, and
        an SMTP connection without one.
        """
        def scenario() -> None:
            pop = poplib.POP3("127.0.0.1", self.harness.pop3Port, timeout=10)
            pop.user("bob")
            pop.pass_("hunter2")
            smtp = smtplib.SMTP("127.0.0.1", self.harness.smtpPort, timeout=10)
            smtp.ehlo()
            try:
                online = self.client.request("GET", "/api/v1/admin/online", auth=ALICE).json()["online"]
            finally:
                pop.quit()
                smtp.quit()
            self.assertEqual(online["pop3"], [{"address": "127.0.0.1", "user": "bob", "secure": False}])
            self.assertEqual(online["smtp"], [{"address": "127.0.0.1", "user": None, "secure": False}])
            self.assertEqual(online["imap"], [])
            self.assertEqual(self.client.request("GET", "/api/v1/admin/online", auth=BOB).status, 403)

        return deferToThread(scenario)

    def test_noQueue(self) -> Any:
        """
        The harness keeps outbound mail in memory: the queue endpoints say
        there is no queue (409), clearly.
        """
        def scenario() -> None:
            response = self.client.request("GET", "/api/v1/admin/queue", auth=ALICE)
            self.assertEqual(response.status, 409)
            self.assertIn("no outbound queue", response.json()["message"])

        return deferToThread(scenario)


class QueueTests(TestCase):
    timeout = 60

    @inlineCallbacks
    def setUp(self) -> Any:
        port = reactor.listenTCP(0, ServerFactory.forProtocol(Protocol), interface="127.0.0.1")
        closed = port.getHost().port
        yield port.stopListening()           # nothing listens there: each attempt is refused, retried in 1h
        relay = {"mode": "smarthost", "smarthost": f"127.0.0.1:{closed}", "smarthost_tls": "none",
                 "retry_schedule": ["1h"]}
        self.harness = yield startHarness(self, users=USERS, relay=relay, overrides={"http.admins": ["alice"]})
        self.client = Client(self.harness.httpPort)

    def test_queue(self) -> Any:
        """
        A message to another domain is queued; the API lists and shows it,
        holds and releases it, flushes, and deletes it; unknown ids are 404.
        """
        def scenario() -> None:
            with smtplib.SMTP("127.0.0.1", self.harness.submissionPort, timeout=10) as smtp:
                smtp.login("alice", "secret")
                smtp.sendmail("alice@example.test", ["dave@elsewhere.example"],
                              b"From: alice@example.test\r\nTo: dave@elsewhere.example\r\nSubject: out\r\n\r\nHi\r\n")
            c = self.client
            listed = c.request("GET", "/api/v1/admin/queue", auth=ALICE).json()
            self.assertEqual(len(listed), 1)
            queueID = listed[0]["id"]
            self.assertEqual(listed[0]["recipients"][0]["address"], "dave@elsewhere.example")
            shown = c.request("GET", f"/api/v1/admin/queue/{queueID}", auth=ALICE).json()
            self.assertIn("Subject: out", shown["headers"])
            self.assertEqual(c.request("POST", f"/api/v1/admin/queue/{queueID}/hold", auth=ALICE).json(),
                             {"hold": queueID})
            self.assertTrue(c.request("GET", "/api/v1/admin/queue", auth=ALICE).json()[0]["held"])
            c.request("POST", f"/api/v1/admin/queue/{queueID}/release", auth=ALICE)
            self.assertFalse(c.request("GET", "/api/v1/admin/queue", auth=ALICE).json()[0]["held"])
            self.assertEqual(c.request("POST", "/api/v1/admin/queue/flush", auth=ALICE).json(),
                             {"flushed": [queueID]})
            self.assertEqual(c.request("DELETE", f"/api/v1/admin/queue/{queueID}", auth=ALICE).json(),
                             {"delete": queueID})
            self.assertEqual(c.request("GET", "/api/v1/admin/queue", auth=ALICE).json(), [])
            missing = c.request("GET", f"/api/v1/admin/queue/{queueID}", auth=ALICE)
            self.assertEqual((missing.status, missing.json()["error"]), (404, "not-found"))
            self.assertEqual(c.request("GET", "/api/v1/admin/queue", auth=BOB).status, 403)

        return deferToThread(scenario)
