# -*- test-case-name: tests.smtp.test_wire -*-
"""
SMTP's wire framing on its own: lines, bad lines, the DATA handoff,
pipelining order, pause/resume of reading, and the chassis bookkeeping
(lifecycle busy/idle, the two idle lanes) it does once per run of input.
"""
from __future__ import annotations

from typing import Any, Callable

from twisted.internet.task import Clock
from twisted.internet.testing import StringTransport
from twisted.trial.unittest import SynchronousTestCase

from twisted_mail_suite.net.idle import IdleTracker
from twisted_mail_suite.net.lifecycle import Lifecycle, Phase
from twisted_mail_suite.smtp.data import DataScanner
from twisted_mail_suite.smtp.wire import MAX_AUTH_LINE, MAX_COMMAND_LINE, PAUSE_BUFFER, SMTPWire

COMMAND_TIMEOUT, DATA_TIMEOUT = 300.0, 600.0


class Receiver:
    """
    Records what the wire hands over; C{onLine[line]} runs for that line.
    """

    def __init__(self, transport: StringTransport) -> None:
        self.transport = transport
        self.events: list[tuple[str, Any]] = []
        self.onLine: dict[bytes, Callable[[], object]] = {}
        self.text: list[bytes] = []
        self.limit = MAX_COMMAND_LINE

    def lineReceived(self, line: bytes) -> None:
        self.events.append(("line", line))
        action = self.onLine.get(line)
        if action is not None:
            action()

    def badLine(self) -> None:
        self.events.append(("bad", None))

    def longLine(self) -> None:
        self.events.append(("long", None))

    def lineLimit(self, partial: bytes) -> int:
        return self.limit

    def textReceived(self, scanner: DataScanner) -> None:
        self.events.append(("text", b"".join(self.text)))
        self.text = []

    def drained(self) -> None:
        self.events.append(("drained", None))

    def discarded(self, count: int) -> None:
        self.events.append(("discarded", count))

    def idleExpired(self) -> None:
        self.events.append(("expired", None))


class WireTestCase(SynchronousTestCase):
    def setUp(self) -> None:
        self.clock = Clock()
        self.transport = StringTransport()
        self.lifecycle = Lifecycle()
        self.idle = IdleTracker(self.clock, COMMAND_TIMEOUT, lambda key: key.idleExpired())
        self.receiver = Receiver(self.transport)
        self.wire = SMTPWire(self.receiver, self.lifecycle, self.idle, DATA_TIMEOUT)

    def startText(self) -> None:
        self.wire.readText(DataScanner(self.receiver.text.append, 0, True))

    def wait(self) -> None:
        self.wire.replyPending()

    def answer(self) -> None:
        """
        What the protocol does when a pending reply is out.
        """
        self.wire.replied()
        self.wire.process()


class LineTests(WireTestCase):
    def test_linesInOrder(self) -> None:
        """
        Complete lines are handed over without their CRLF, in order; a
        partial line waits for its end.
        """
        self.wire.dataReceived(b"EHLO a\r\nNOOP\r\nQU")
        self.wire.dataReceived(b"IT\r\n")
        self.assertEqual(self.receiver.events, [("line", b"EHLO a"), ("line", b"NOOP"), ("line", b"QUIT")])

    def test_everyCut(self) -> None:
        """
        The same lines come out wherever the input is cut.
        """
        data = b"EHLO a\r\nMAIL FROM:<a@b>\r\n\r\nNOOP\r\n"
        for cut in range(len(data) + 1):
            self.setUp()
            self.wire.dataReceived(data[:cut])
            self.wire.dataReceived(data[cut:])
            self.assertEqual([line for _, line in self.receiver.events],
                             [b"EHLO a", b"MAIL FROM:<a@b>", b"", b"NOOP"], cut)

    def test_bareNewlines(self) -> None:
        """
        A line ending in a bare LF, or holding a bare CR, is refused; the next one is fine.
        """
        self.wire.dataReceived(b"NOOP\nNO\rOP\r\n\nNOOP\r\n")
        self.assertEqual(self.receiver.events, [("bad", None), ("bad", None), ("bad", None), ("line", b"NOOP")])

    def test_longLineSkippedToItsEnd(self) -> None:
        """
        A line growing past the limit is refused once and skipped up to its LF.
        """
        self.wire.dataReceived(b"x" * (MAX_COMMAND_LINE + 1))
        self.wire.dataReceived(b"y" * 5000)
        self.wire.dataReceived(b"z\r\nNOOP\r\n")
        self.assertEqual(self.receiver.events, [("long", None), ("line", b"NOOP")])

    def test_receiverSetsTheLimit(self) -> None:
        """
        Past the command-line length, the receiver's limit (AUTH's, say) decides.
        """
        self.receiver.limit = MAX_AUTH_LINE
        self.wire.dataReceived(b"AUTH PLAIN " + b"x" * 2000)
        self.assertEqual(self.receiver.events, [])
        self.wire.dataReceived(b"\r\n")
        self.assertEqual(self.receiver.events, [("line", b"AUTH PLAIN " + b"x" * 2000)])

    def test_discard(self) -> None:
        """
        C{discard} drops what was pipelined after the current line and says how much.
        """
        self.receiver.onLine[b"STARTTLS"] = self.wire.discard
        self.wire.dataReceived(b"STARTTLS\r\nMAIL FROM:<a@b>\r\n")
        self.assertEqual(self.receiver.events, [("line", b"STARTTLS"), ("discarded", 17)])

    def test_discardNothing(self) -> None:
        """
        With nothing pipelined after the line, nothing is reported discarded.
        """
        self.receiver.onLine[b"STARTTLS"] = self.wire.discard
        self.wire.dataReceived(b"STARTTLS\r\n")
        self.wire.dataReceived(b"EHLO a\r\n")
        self.assertEqual(self.receiver.events, [("line", b"STARTTLS"), ("line", b"EHLO a")])

    def test_stop(self) -> None:
        """
        After C{stop} (the connection is closing) nothing more is handed over.
        """
        def close() -> None:
            self.lifecycle.close()
            self.wire.stop()

        self.receiver.onLine[b"QUIT"] = close
        self.wire.dataReceived(b"QUIT\r\nNOOP\r\n")
        self.wire.dataReceived(b"NOOP\r\n")
        self.assertEqual(self.receiver.events, [("line", b"QUIT")])


class TextTests(WireTestCase):
    def test_textThenCommands(self) -> None:
        """
        After C{readText} the input is message text up to its end; what
        follows the end is commands again.
        """
        self.receiver.onLine[b"DATA"] = self.startText
        self.wire.dataReceived(b"DATA\r\nline one\r\nNOOP\r\n.\r\nNOOP\r\n")
        self.assertEqual(self.receiver.events,
                         [("line", b"DATA"), ("text", b"line one\r\nNOOP\r\n"), ("line", b"NOOP")])

    def test_busyDuringText(self) -> None:
        """
        The connection is busy (work a shutdown lets finish) while a text is read.
        """
        self.receiver.onLine[b"DATA"] = self.startText
        self.wire.dataReceived(b"DATA\r\npart")
        self.assertIs(self.lifecycle.phase, Phase.BUSY)
        self.wire.dataReceived(b"\r\n.\r\n")
        self.assertIs(self.lifecycle.phase, Phase.OPEN)


class PipeliningTests(WireTestCase):
    def test_heldBehindPendingReply(self) -> None:
        """
        Lines after a step waiting for its reply are held until it is out,
        then handled in order.
        """
        self.receiver.onLine[b"MAIL"] = self.wait
        self.wire.dataReceived(b"MAIL\r\nRCPT\r\n")
        self.wire.dataReceived(b"DATA\r\n")
        self.assertEqual(self.receiver.events, [("line", b"MAIL")])
        self.assertIs(self.lifecycle.phase, Phase.BUSY)
        self.answer()
        self.assertEqual(self.receiver.events, [("line", b"MAIL"), ("line", b"RCPT"), ("line", b"DATA")])
        self.assertIs(self.lifecycle.phase, Phase.OPEN)

    def test_pauseWhenFlooded(self) -> None:
        """
        Reading pauses while more than PAUSE_BUFFER octets wait behind a
        pending reply, and resumes once it is out.
        """
        self.receiver.onLine[b"MAIL"] = self.wait
        self.wire.dataReceived(b"MAIL\r\n" + b"NOOP\r\n" * (PAUSE_BUFFER // 6))
        self.assertEqual(self.transport.producerState, "producing")
        self.wire.dataReceived(b"NOOP\r\n")
        self.assertEqual(self.transport.producerState, "paused")
        self.answer()
        self.assertEqual(self.transport.producerState, "producing")


class HoldTests(WireTestCase):
    """
    Output backpressure: L{SMTPWire.holdInput} / L{SMTPWire.releaseInput}.
    """

    def test_holdStopsLinesAndReading(self) -> None:
        """
        Held from inside a line's handler, the wire handles no further
        line of the same read, and pauses reading; released, it goes on in
        order and reads again.
        """
        self.receiver.onLine[b"B"] = self.wire.holdInput
        self.wire.dataReceived(b"A\r\nB\r\nC\r\nD\r\n")
        self.assertEqual(self.receiver.events, [("line", b"A"), ("line", b"B")])
        self.assertEqual(self.transport.producerState, "paused")
        self.assertIs(self.lifecycle.phase, Phase.OPEN)       # not work in hand: a shutdown may close it
        self.wire.dataReceived(b"E\r\n")
        self.assertEqual(len(self.receiver.events), 2)
        self.wire.releaseInput()
        self.assertEqual([line for _, line in self.receiver.events], [b"A", b"B", b"C", b"D", b"E"])
        self.assertEqual(self.transport.producerState, "producing")

    def test_idleTimerRunsWhileHeld(self) -> None:
        """
        A held connection is not paused for the idle timeout (unlike one
        waiting for its own reply): a client that never reads times out.
        """
        self.receiver.onLine[b"A"] = self.wire.holdInput
        self.wire.dataReceived(b"A\r\n")
        self.clock.advance(COMMAND_TIMEOUT)
        self.assertIn(("expired", None), self.receiver.events)

    def test_heldAndPending(self) -> None:
        """
        Held while a reply is pending: the reply may come, but nothing more
        is handled (and reading stays paused) until the output is released.
        """
        self.receiver.onLine[b"A"] = self.wait
        self.wire.dataReceived(b"A\r\nB\r\n")
        self.wire.holdInput()
        self.wire.dataReceived(b"C\r\n")
        self.assertEqual(self.transport.producerState, "paused")
        self.answer()
        self.assertEqual(self.receiver.events, [("line", b"A")])
        self.assertEqual(self.transport.producerState, "paused")
        self.wire.releaseInput()
        self.assertEqual([line for _, line in self.receiver.events], [b"A", b"B", b"C"])
        self.assertEqual(self.transport.producerState, "producing")

    def test_releaseWithoutHold(self) -> None:
        """
        A resume without a pause (the transport's pull-style call) is a
        no-op.
        """
        self.wire.releaseInput()
        self.assertEqual(self.receiver.events, [])


class DrainTests(WireTestCase):
    def test_textInHandFinished(self) -> None:
        """
        While draining, the text in hand is read to its end; then the
        receiver is asked to say goodbye, and the commands after are not handled.
        """
        self.receiver.onLine[b"DATA"] = self.startText
        self.wire.dataReceived(b"DATA\r\npart\r\n")
        self.assertFalse(self.lifecycle.drain())
        self.wire.dataReceived(b".\r\nNOOP\r\n")
        self.assertEqual(self.receiver.events, [("line", b"DATA"), ("text", b"part\r\n"), ("drained", None)])

    def test_pendingReplyFinished(self) -> None:
        """
        While draining, a pending reply is waited for, then the receiver is
        asked to say goodbye.
        """
        self.receiver.onLine[b"MAIL"] = self.wait
        self.wire.dataReceived(b"MAIL\r\nRCPT\r\n")
        self.assertFalse(self.lifecycle.drain())
        self.assertEqual(self.receiver.events, [("line", b"MAIL")])
        self.answer()
        self.assertEqual(self.receiver.events, [("line", b"MAIL"), ("drained", None)])


class IdleTests(WireTestCase):
    def test_commandTimeout(self) -> None:
        """
        Between commands the command timeout applies.
        """
        self.wire.dataReceived(b"NOOP\r\n")
        self.clock.advance(COMMAND_TIMEOUT - 1)
        self.assertEqual(self.receiver.events, [("line", b"NOOP")])
        self.clock.advance(1)
        self.assertEqual(self.receiver.events[-1], ("expired", None))

    def test_dataTimeout(self) -> None:
        """
        Inside a text the DATA timeout applies.
        """
        self.receiver.onLine[b"DATA"] = self.startText
        self.wire.dataReceived(b"DATA\r\npart")
        self.clock.advance(DATA_TIMEOUT - 1)
        self.assertNotIn(("expired", None), self.receiver.events)
        self.clock.advance(1)
        self.assertEqual(self.receiver.events[-1], ("expired", None))

    def test_notIdleWhileWaiting(self) -> None:
        """
        A connection waiting for its own pending reply is not idle; the
        timeout starts afresh once the reply is out.
        """
        self.receiver.onLine[b"MAIL"] = self.wait
        self.wire.dataReceived(b"MAIL\r\n")
        self.clock.advance(COMMAND_TIMEOUT * 3)
        self.assertNotIn(("expired", None), self.receiver.events)
        self.answer()
        self.clock.advance(COMMAND_TIMEOUT - 1)
        self.assertNotIn(("expired", None), self.receiver.events)
        self.clock.advance(1)
        self.assertEqual(self.receiver.events[-1], ("expired", None))
