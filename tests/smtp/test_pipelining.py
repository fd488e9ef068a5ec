# -*- test-case-name: tests.smtp.test_pipelining -*-
"""
PIPELINING (RFC 2920): replies in command order, however the input is cut
and however long a step takes.
"""
from __future__ import annotations

from twisted.trial.unittest import SynchronousTestCase

from ..fakes import makeSuiteAround
from .helpers import Client, ManualCommitStore, TLSStringTransport, newSuite, storedMessages

BATCH = (b"EHLO client.test\r\n"
         b"MAIL FROM:<bob@example.test>\r\nRCPT TO:<alice@example.test>\r\nRCPT TO:<nobody@example.test>\r\n"
         b"RCPT TO:<x@elsewhere.test>\r\nDATA\r\nSubject: pipelined\r\n\r\nline\r\n..dot\r\n.\r\n"
         b"RSET\r\nNOOP\r\nQUIT\r\n")
CODES = [b"250", b"250 2.1.0", b"250 2.1.5", b"550 5.1.1", b"550 5.7.1", b"354", b"250 2.0.0",
         b"250 2.0.0", b"250 2.0.0", b"221 2.0.0"]


def finalCodes(lines: list[bytes]) -> list[bytes]:
    return [b" ".join(line.split(b" ")[:2]) if line[4:5].isdigit() else line[:3]
            for line in lines if line[3:4] != b"-"]


class SplitTests(SynchronousTestCase):
    def test_everyOffset(self) -> None:
        """
        The batch cut in two at every byte offset gives the same replies
        and exactly one stored message each time.
        """
        suite = newSuite(self)
        for offset in range(len(BATCH) + 1):
            client = Client(suite)
            client.replies()
            lines = client.send(BATCH[:offset]) + client.send(BATCH[offset:])
            self.assertEqual(finalCodes(lines), CODES, offset)
            stored = storedMessages(suite, "alice")
            self.assertEqual(len(stored), offset + 1)
            self.assertTrue(all(m.endswith(b"\nline\n.dot\n") for m in stored), offset)
            client.protocol.connectionLost(None)

    def test_byteByByte(self) -> None:
        """
        One byte at a time gives the same replies.
        """
        suite = newSuite(self)
        client = Client(suite)
        client.replies()
        lines = []
        for index in range(len(BATCH)):
            lines += client.send(BATCH[index:index + 1])
        self.assertEqual(finalCodes(lines), CODES)


class OrderTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.suite, self.store = makeSuiteAround(self, ManualCommitStore, **{"smtp.junk_command_limit": 0})
        self.client = Client(self.suite)
        self.client.greet()

    def test_slowDeliveryHoldsLaterReplies(self) -> None:
        """
        While a commit is outstanding, the commands pipelined after the
        message are not answered; when it fires, all replies come in order.
        """
        lines = self.client.send(b"MAIL FROM:<a@b.test>\r\nRCPT TO:<alice@example.test>\r\nDATA\r\n"
                                 b"Subject: one\r\n\r\nx\r\n.\r\nMAIL FROM:<c@d.test>\r\nNOOP\r\n")
        self.assertEqual(finalCodes(lines), [b"250 2.1.0", b"250 2.1.5", b"354"])
        self.assertEqual(self.client.send(b"RCPT TO:<bob@example.test>\r\n"), [])
        self.store.release()
        self.assertEqual(finalCodes(self.client.replies()), [b"250 2.0.0", b"250 2.1.0", b"250 2.0.0", b"250 2.1.5"])

    def test_nothingBeforeDurable(self) -> None:
        """
        No 250 for the message goes out before its commit fired.
        """
        self.client.send(b"MAIL FROM:<a@b.test>\r\nRCPT TO:<alice@example.test>\r\nDATA\r\nx\r\n.\r\n")
        self.assertEqual(storedMessages(self.suite, "alice"), [])
        self.store.release()
        self.assertEqual(finalCodes(self.client.replies()), [b"250 2.0.0"])
        self.assertEqual(len(storedMessages(self.suite, "alice")), 1)

    def test_connectionLostWhileWaiting(self) -> None:
        """
        A client that leaves while its commit is outstanding gets nothing
        written after it left, and the server does not fail.
        """
        self.client.send(b"MAIL FROM:<a@b.test>\r\nRCPT TO:<alice@example.test>\r\nDATA\r\nx\r\n.\r\nNOOP\r\n")
        self.client.replies()
        self.client.protocol.connectionLost(None)
        self.store.release()
        self.assertEqual(self.client.replies(), [])

    def test_pausesWhenFlooded(self) -> None:
        """
        Input piling up behind an outstanding step pauses the transport
        until the step is done.
        """
        self.client.send(b"MAIL FROM:<a@b.test>\r\nRCPT TO:<alice@example.test>\r\nDATA\r\nx\r\n.\r\n")
        self.client.send(b"NOOP\r\n" * 50000)  # junk limit off in setUp
        self.assertEqual(self.client.transport.producerState, "paused")
        self.store.release()
        self.assertEqual(self.client.transport.producerState, "producing")


class CountingTransport(TLSStringTransport):
    """
    Counts the writes made to it.
    """

    writes = 0

    def write(self, data: bytes) -> None:
        self.writes += 1
        super().write(data)


class CoalescingTests(SynchronousTestCase):
    """
    The replies to the commands of one read go out in one write (one
    send), as a transport's own buffering would send them; a flood of them
    is not held back from the transport's backpressure (L{HOLD_REPLIES}).
    """

    def setUp(self) -> None:
        self.suite = newSuite(self, **{"smtp.junk_command_limit": 0})
        self.transport = CountingTransport()
        self.client = Client(self.suite, transport=self.transport)
        self.client.greet()

    def test_oneWritePerRead(self) -> None:
        self.transport.writes = 0
        codes = self.client.codes(b"MAIL FROM:<bob@example.test>\r\nRCPT TO:<alice@example.test>\r\n"
                                  b"RCPT TO:<nobody@example.test>\r\nDATA\r\n")
        self.assertEqual(codes, [b"250 2.1.0", b"250 2.1.5", b"550 5.1.1", b"354"])
        self.assertEqual(self.transport.writes, 1)

    def test_lockstep(self) -> None:
        self.transport.writes = 0
        self.client.send(b"NOOP\r\n")
        self.client.send(b"NOOP\r\n")
        self.assertEqual(self.transport.writes, 2)

    def test_floodNotHeld(self) -> None:
        from twisted_mail_suite.smtp.connection import HOLD_REPLIES

        self.transport.writes = 0
        replies = self.client.send(b"NOOP\r\n" * 200)
        self.assertEqual(len(replies), 200)
        self.assertGreater(self.transport.writes, 200 * len(replies[0]) // HOLD_REPLIES - 1)
