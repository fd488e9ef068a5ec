# -*- test-case-name: tests.http.test_wait -*-
"""
The long poll C{GET /api/v1/wait}: 200 with a message already there or
delivered while waiting (heard on the event bus, no polling), 408 after
the timeout on the suite's clock, 403 for someone else's mail unless
admin, 400 for bad arguments; a client that leaves stops the wait.
"""
from __future__ import annotations

from twisted.trial.unittest import SynchronousTestCase

from twisted_mail_suite.events import NewMailEvent

from .support import Connection, basic, deliver, unitSuite

HELLO = b"From: bob@example.test\r\nTo: alice@example.test\r\nSubject: Hello\r\n\r\nHi.\r\n"
OTHER = b"From: bob@example.test\r\nTo: alice@example.test\r\nSubject: Other\r\n\r\nNo.\r\n"


class WaitTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.suite = unitSuite(self, **{"http.max_wait": 120})
        self.factory = self.suite.factories["http"]
        self.clock = self.suite.clock

    def wait(self, query: str, user: str = "alice", password: str = "secret") -> Connection:
        connection = Connection(self.factory)
        connection.request("GET", "/api/v1/wait?" + query, {"Authorization": basic(user, password)})
        return connection

    def subscribers(self) -> int:
        return len(self.suite.bus._subscribers.get(NewMailEvent, ()))

    def test_alreadyThere(self) -> None:
        """
        A matching message already in the mailbox answers at once.
        """
        self.successResultOf(deliver(self.suite, "alice", HELLO))
        response = self.wait("subject=Hello&timeout=5").response()
        self.assertEqual(response.status, 200)
        self.assertEqual(response.json()["message"]["subject"], "Hello")
        self.assertEqual(response.json()["user"], "alice")

    def test_deliveredWhileWaiting(self) -> None:
        """
        The poll waits; a non-matching delivery does not end it; the
        matching one does, with the message's summary.
        """
        before = self.subscribers()
        connection = self.wait("to=alice%40example.test&subject=Hello&timeout=60")
        self.assertEqual(connection.responses(), [])
        self.assertEqual(self.subscribers(), before + 1)
        self.successResultOf(deliver(self.suite, "alice", OTHER))
        self.assertEqual(connection.responses(), [])
        self.successResultOf(deliver(self.suite, "alice", HELLO))
        response = connection.response()
        self.assertEqual((response.status, response.json()["message"]["subject"]), (200, "Hello"))
        self.assertEqual(self.subscribers(), before)
        self.clock.advance(120)                     # the timer was cancelled: nothing more is written
        self.assertEqual(connection.responses(), [])

    def test_timeout(self) -> None:
        """
        Nothing arrives: 408 after the timeout, on the suite's clock.
        """
        connection = self.wait("subject=Hello&timeout=30")
        self.clock.advance(29)
        self.assertEqual(connection.responses(), [])
        self.clock.advance(1)
        response = connection.response()
        self.assertEqual((response.status, response.json()["error"]), (408, "timeout"))
        self.assertFalse(connection.transport.disconnecting)

    def test_othersMailForbidden(self) -> None:
        """
        Bob may not wait for Alice's mail; Alice (an admin) may wait for Bob's.
        """
        response = self.wait("to=alice&timeout=1", "bob", "hunter2").response()
        self.assertEqual((response.status, response.json()["error"]), (403, "forbidden"))
        connection = self.wait("to=bob&timeout=1")
        self.clock.advance(1)
        self.assertEqual(connection.response().status, 408)

    def test_badArguments(self) -> None:
        """
        A timeout past http.max_wait, an unknown user, a foreign address: 400/404.
        """
        self.assertEqual(self.wait("timeout=121").response().status, 400)
        self.assertEqual(self.wait("timeout=soon").response().status, 400)
        self.assertEqual(self.wait("to=nobody&timeout=1").response().status, 404)
        self.assertEqual(self.wait("to=x%40elsewhere.example&timeout=1").response().status, 400)

    def test_clientLeaves(self) -> None:
        """
        A client that disconnects stops its wait: unsubscribed, timer gone.
        """
        before = self.subscribers()
        connection = self.wait("subject=Hello&timeout=60")
        self.assertEqual(self.subscribers(), before + 1)
        connection.transport.loseConnection()
        connection.closeIfAsked()
        self.assertEqual(self.subscribers(), before)
        self.assertEqual([call for call in self.clock.getDelayedCalls() if call.getTime() >= 60], [])
