# -*- test-case-name: tests.pop3.test_retrieve -*-
"""
Tests for L{twisted_mail_suite.pop3.retrieve}: opening a message for RETR
and TOP.
"""
from __future__ import annotations

import io
from typing import Any

from twisted.internet.defer import succeed
from twisted.trial.unittest import SynchronousTestCase
from zope.interface import implementer

from twisted_mail_suite.pop3.actions import SendMessage
from twisted_mail_suite.pop3.mailbox import IPeekMailbox
from twisted_mail_suite.pop3.retrieve import openMessage, readerFor, unavailable
from twisted_mail_suite.store.content import FileContent

MESSAGE = b"Subject: x\n\n.dot\nline\n"


class Mailbox:
    """
    Records which call opened a message; answers with a text file.
    """

    def __init__(self) -> None:
        self.calls: list[tuple[str, int]] = []

    def getMessage(self, index: int) -> Any:
        self.calls.append(("get", index))
        return io.BytesIO(MESSAGE)


@implementer(IPeekMailbox)
class PeekingMailbox(Mailbox):
    def peekMessage(self, index: int) -> Any:
        self.calls.append(("peek", index))
        return succeed(io.BytesIO(MESSAGE))


def readAll(reader: Any) -> bytes:
    out = []
    while not reader.done:
        out.append(reader.next())
    return b"".join(out)


class OpenMessageTests(SynchronousTestCase):
    """
    L{openMessage}: which mailbox call; L{readerFor}: the response body.
    """

    def test_retrGets(self) -> None:
        """
        RETR opens the message with C{getMessage} (it counts as read), and
        the reader gives its dot-stuffed wire form.
        """
        mailbox = PeekingMailbox()
        message = self.successResultOf(openMessage(mailbox, SendMessage(1, b"+OK\r\n")))
        self.assertEqual(mailbox.calls, [("get", 1)])
        self.assertEqual(readAll(readerFor(message, None)), b"Subject: x\r\n\r\n..dot\r\nline\r\n.\r\n")

    def test_topPeeks(self) -> None:
        """
        TOP only peeks at the message when the mailbox can, and sends the
        header and the asked number of body lines.
        """
        mailbox = PeekingMailbox()
        message = self.successResultOf(openMessage(mailbox, SendMessage(0, b"+OK\r\n", 1)))
        self.assertEqual(mailbox.calls, [("peek", 0)])
        self.assertEqual(readAll(readerFor(message, 1)), b"Subject: x\r\n\r\n..dot\r\n.\r\n")

    def test_topGetsWithoutPeek(self) -> None:
        """
        A mailbox that cannot peek is asked with C{getMessage} for TOP too.
        """
        mailbox = Mailbox()
        self.successResultOf(openMessage(mailbox, SendMessage(0, b"+OK\r\n", 0)))
        self.assertEqual(mailbox.calls, [("get", 0)])

    def test_failure(self) -> None:
        """
        A mailbox that raises gives a failed Deferred, not an exception.
        """
        mailbox = Mailbox()

        def broken(index: int) -> None:
            raise OSError("gone")

        mailbox.getMessage = broken  # type: ignore[method-assign]
        self.failureResultOf(openMessage(mailbox, SendMessage(0, b"+OK\r\n")), OSError)

    def test_storeContentAsIs(self) -> None:
        """
        The store's content (already in wire form) is read as it is.
        """
        content = FileContent(io.BytesIO(b"a\r\n.b\r\n"))
        self.assertEqual(readAll(readerFor(content, None)), b"a\r\n..b\r\n.\r\n")
        self.assertTrue(content.closed)

    def test_unavailable(self) -> None:
        """
        The reply names the message by its 1-based number.
        """
        self.assertEqual(unavailable(SendMessage(2, b"+OK\r\n")),
                         b"-ERR [SYS/TEMP] Message 3 is not available.\r\n")
