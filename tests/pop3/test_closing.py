# -*- test-case-name: tests.pop3.test_closing -*-
"""
How a POP3 connection ends and gives back what it holds: a client that
stops reading is aborted after a short grace past its timeout, and the
maildrop lock is freed on every path out of a session (the review's
items 2 and 8 of issue 12).
"""
from __future__ import annotations

from typing import Any

from twisted.internet.defer import fail
from twisted.trial.unittest import SynchronousTestCase

from twisted_mail_suite.interfaces import StoredMessage
from twisted_mail_suite.pop3.connection import CLOSE_GRACE

from ..fakes import makeSuiteAround
from .support import Client, deliver, newSuite

BIG = b"Subject: big\r\n\r\n" + b"".join(b"line %d\r\n" % i for i in range(100_000))


def stopReading(client: Client) -> None:
    """
    From now on the client reads nothing: every write finds the
    transport's buffer full (the transport pauses its producer).
    """
    transport, protocol = client.transport, client.protocol
    original = transport.write

    def write(data: bytes) -> None:
        original(data)
        protocol.pauseProducing()

    transport.write = write  # type: ignore[method-assign]


class NonReadingClientTests(SynchronousTestCase):
    """
    A client that asks for a message and stops reading keeps neither its
    connection nor its maildrop past the idle timeout and a short grace.
    """

    def setUp(self) -> None:
        self.suite = newSuite(self)
        deliver(self.suite, "alice", BIG)
        self.client = Client(self.suite)
        self.client.login()
        stopReading(self.client)
        self.client.send(b"RETR 1")
        self.timeout = self.suite.config.pop3.idle_timeout

    def test_maildropFreedAtTimeout(self) -> None:
        """
        At the idle timeout the maildrop is free for the next session, though
        the transport still holds unsent data.
        """
        self.assertTrue(self.suite.maildropLocks.isHeld("alice"))
        self.suite.reactor.advance(self.timeout)
        self.assertTrue(self.client.closed)
        self.assertFalse(self.suite.maildropLocks.isHeld("alice"))
        other = Client(self.suite)
        self.assertEqual(other.login(), b"+OK Send your password.\r\n+OK Logged in: 1 messages (%d octets).\r\n"
                         % len(BIG))

    def test_abortedAfterGrace(self) -> None:
        """
        A connection closed at its timeout whose client still does not read
        is aborted L{CLOSE_GRACE} seconds later (not left waiting for ever
        to flush), and its place is given back.
        """
        self.suite.reactor.advance(self.timeout)
        self.assertFalse(self.client.transport.disconnected)
        self.suite.reactor.advance(CLOSE_GRACE - 1)
        self.assertFalse(self.client.transport.disconnected)
        self.suite.reactor.advance(1)
        self.assertTrue(self.client.transport.disconnected)
        self.client.drop()              # what the abort leads to
        self.assertEqual(self.suite.factories["pop3"].connections, 0)

    def test_quitReplyNotTakenAborted(self) -> None:
        """
        After QUIT too, a client that does not take the last reply is
        aborted after the grace.
        """
        client = Client(self.suite)
        stopReading(client)
        client.send(b"QUIT")
        self.assertTrue(client.closed)
        self.suite.reactor.advance(CLOSE_GRACE)
        self.assertTrue(client.transport.disconnected)


class Unlisted:
    """
    A store double whose listing of alice's maildrop fails as C{how} says.
    """

    how = "raises"

    def __init__(self, inner: Any) -> None:
        self.inner = inner

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def listMessages(self, user: str) -> Any:
        if self.how == "raises":
            raise OSError("no such folder")
        if self.how == "fails":
            return fail(OSError("no such folder"))
        # A listing the protocol cannot make sense of (no sizes): an
        # unexpected error half-way through opening the session.
        d = self.inner.listMessages(user)
        return d.addCallback(lambda messages: [StoredMessage(m.uid, None, m.flags, m.internalDate)  # type: ignore
                                               for m in messages])


class MaildropReleaseTests(SynchronousTestCase):
    """
    However opening the maildrop fails, the lock is free at once: the user
    gets no C{[IN-USE]} on the next try.
    """

    def check(self, how: str, reply: bytes) -> None:
        suite, store = makeSuiteAround(self, Unlisted)
        store.how = how
        deliver(suite, "alice", b"Subject: one\r\n\r\ntext\r\n")
        client = Client(suite)
        self.assertEqual(client.login(), b"+OK Send your password.\r\n" + reply)
        self.assertFalse(suite.maildropLocks.isHeld("alice"))
        self.flushLoggedErrors()

    def test_listingRaises(self) -> None:
        """
        The store's listing raises.
        """
        self.check("raises", b"-ERR [SYS/TEMP] Temporary server failure, try again later.\r\n")

    def test_listingFails(self) -> None:
        """
        The store's listing fails asynchronously.
        """
        self.check("fails", b"-ERR [SYS/TEMP] Temporary server failure, try again later.\r\n")

    def test_unexpectedErrorOpeningMaildrop(self) -> None:
        """
        An unexpected error while the session opens the maildrop closes the
        connection and frees the maildrop at once, not when the transport
        finally goes (a client that does not read could keep it for ever).
        """
        self.check("garbled", b"-ERR [SYS/TEMP] Temporary server failure, try again later.\r\n")

    def test_updateHoldsMaildropUntilDone(self) -> None:
        """
        A connection lost during the UPDATE state's deletions keeps the
        maildrop locked until they are done: no other session sees it
        half-updated.
        """
        from twisted.internet.defer import Deferred

        suite = newSuite(self)
        deliver(suite, "alice", b"Subject: one\r\n\r\ntext\r\n")
        client = Client(suite)
        client.login()
        mailbox = client.protocol._mailbox
        syncing: Deferred = Deferred()
        mailbox.sync = lambda: syncing
        client.send(b"DELE 1", b"QUIT")
        client.drop()
        self.assertTrue(suite.maildropLocks.isHeld("alice"))
        syncing.callback(None)
        self.assertFalse(suite.maildropLocks.isHeld("alice"))
