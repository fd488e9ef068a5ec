# -*- test-case-name: tests.imap.test_async -*-
"""
IMAP over a folder store that answers later (as PostgreSQL does, from its
threads): logins, commands and pipelined commands wait for the folders
and are answered in order, and a connection lost meanwhile drops the
command.  The folders are the Maildir ones, each answer held until the
test releases it.
"""
from __future__ import annotations

from typing import Any

from twisted.internet.defer import Deferred
from twisted.trial.unittest import SynchronousTestCase

from twisted_mail_suite.store.maildir.mailboxes import MaildirMailFolders

from .support import MESSAGE, Client, deliver, newSuite, split


class Held:
    """
    Answers of the wrapped folder objects, kept until L{release}.
    """

    def __init__(self) -> None:
        self.waiting: list[tuple[Deferred, Deferred]] = []

    def wrap(self, target: Any) -> Any:
        return _Later(target, self)

    def hold(self, answer: Deferred) -> Deferred:
        later: Deferred = Deferred()
        self.waiting.append((answer, later))
        return later

    def release(self) -> int:
        """
        Fire every held answer (and those they lead to); how many there were.
        """
        count = 0
        while self.waiting:
            answer, later = self.waiting.pop(0)
            answer.addCallback(lambda value: self.wrap(value) if _isFolder(value) else value)
            answer.chainDeferred(later)
            count += 1
        return count


def _isFolder(value: Any) -> bool:
    return hasattr(value, "refresh") or hasattr(value, "subscriptions")


class _Later:
    """
    A folder object whose Deferred answers are held.
    """

    def __init__(self, target: Any, held: Held) -> None:
        self._target = target
        self._held = held

    def __getattr__(self, name: str) -> Any:
        value = getattr(self._target, name)
        if not callable(value):
            return value

        def call(*args: Any, **kwargs: Any) -> Any:
            args = tuple(a._target if isinstance(a, _Later) else a for a in args)
            result = value(*args, **kwargs)
            return self._held.hold(result) if isinstance(result, Deferred) else result
        return call


class LaterTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.held = Held()
        folders = self.held.wrap(None)
        self.suite = newSuite(self, folders=folders)
        folders._target = MaildirMailFolders(self.suite.config.mailDir)
        for _ in range(2):
            deliver(self.suite, "alice", MESSAGE)
        self.client = Client(self.suite)

    def settle(self) -> bytes:
        while self.held.release():
            pass
        return self.client.take()

    def test_loginWaitsForTheFolders(self) -> None:
        self.assertEqual(self.client.send(b"a1 LOGIN alice secret"), b"")
        self.assertTrue(self.settle().startswith(b"a1 OK [CAPABILITY "))

    def test_pipelinedInOrder(self) -> None:
        """
        Commands sent together are answered in order, each after the
        folder answered, none overtaking the one before.
        """
        self.client.send(b"a1 LOGIN alice secret")
        self.settle()
        sent = self.client.raw(b"a2 SELECT INBOX\r\na3 FETCH 1:2 (FLAGS)\r\na4 STORE 1 +FLAGS (\\Seen)\r\n"
                               b"a5 NOOP\r\n")
        self.assertEqual(sent, b"")
        out = self.settle()
        tags = [line.split(b" ", 1)[0] for line in out.split(b"\r\n") if line and not line.startswith(b"*")]
        self.assertEqual(tags, [b"a2", b"a3", b"a4", b"a5"])
        lines, status = split(out, b"a4")
        self.assertIn(b"* 1 FETCH (FLAGS (\\Seen \\Recent))", lines)
        self.assertEqual(status, b"OK Store completed.")
        self.assertLess(out.index(b"* 2 EXISTS"), out.index(b"a2 OK"))

    def test_searchReadsWhatItNeeds(self) -> None:
        """
        SEARCH keys on headers and text wait for the folder to read each
        message, then test it again.
        """
        deliver(self.suite, "alice", MESSAGE.replace(b"Hi Alice!", b"Hello there"))
        self.client.send(b"a1 LOGIN alice secret")
        self.client.send(b"a2 SELECT INBOX")
        self.settle()
        self.client.send(b"a3 SEARCH BODY there FROM bob")
        lines, status = split(self.settle(), b"a3")
        self.assertEqual((lines, status), ([b"* SEARCH 3"], b"OK Search completed."))
        self.client.send(b"a4 UID SEARCH SUBJECT hello NOT TEXT there")
        self.assertEqual(split(self.settle(), b"a4")[0], [b"* SEARCH 1 2"])

    def test_idleUpdateBeforeItsReply(self) -> None:
        """
        An IDLE update still being looked up when the client says DONE goes
        out before IDLE's tagged reply, not lost and not after it.
        """
        self.client.send(b"a1 LOGIN alice secret")
        self.client.send(b"a2 SELECT INBOX")
        self.settle()
        self.assertEqual(self.client.send(b"a3 IDLE"), b"+ idling\r\n")
        self.assertEqual(self.settle(), b"")
        deliver(self.suite, "alice", MESSAGE)         # the look it starts waits for the folder
        self.client.send(b"DONE")
        self.assertEqual(self.client.take(), b"")
        self.assertEqual(self.settle(), b"* 3 EXISTS\r\n* 3 RECENT\r\na3 OK IDLE terminated.\r\n")

    def test_lostWhileWaiting(self) -> None:
        """
        A connection lost while its command waits for the folder drops the
        command; the late answer writes nothing.
        """
        self.client.send(b"a1 LOGIN alice secret")
        self.settle()
        self.client.send(b"a2 SELECT INBOX")
        self.client.drop()
        self.assertEqual(self.settle(), b"")
