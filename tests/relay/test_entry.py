# -*- test-case-name: tests.relay.test_entry -*-
"""
Tests for L{twisted_mail_suite.relay.entry}: the file encodings, the
journal replay and the retry schedule.
"""
from __future__ import annotations

from twisted.trial.unittest import SynchronousTestCase

from twisted_mail_suite.relay.entry import (BOUNCED, FAILED, PENDING, SENT, CorruptEntry, QueueEntry,
                                            decodeHeader, decodeTrailer, encodeHeader, encodeRecord,
                                            encodeTrailer, nextDelay, replay)


class EncodingTests(SynchronousTestCase):
    def test_headerRoundTrip(self) -> None:
        """
        A header line gives back the id, sender, recipients and date.
        """
        entry = QueueEntry.new("ABC", "a@x.test", ["b@y.test", "c@z.test", "b@y.test"], 12.5)
        back = decodeHeader(encodeHeader(entry))
        self.assertEqual((back.queueID, back.sender, [r.address for r in back.recipients], back.created),
                         ("ABC", "a@x.test", ["b@y.test", "c@z.test"], 12.5))

    def test_badHeader(self) -> None:
        """
        Anything but a header line is a L{CorruptEntry}.
        """
        for line in (b"", b"MSQ1 {\n", b"garbage\n", b'MSQ1 {"id": 1}\n', b'MSQ1 {"id":"a","sender":"",'
                     b'"created":1,"recipients":[]}'):
            self.assertRaises(CorruptEntry, decodeHeader, line)

    def test_trailer(self) -> None:
        """
        The trailer carries the size; a cut one is corrupt.
        """
        self.assertEqual(decodeTrailer(encodeTrailer(1234)), 1234)
        self.assertRaises(CorruptEntry, decodeTrailer, encodeTrailer(1234)[:-1])
        self.assertRaises(CorruptEntry, decodeTrailer, b"x" * len(encodeTrailer(0)))


class ReplayTests(SynchronousTestCase):
    def entry(self) -> QueueEntry:
        return QueueEntry.new("Q", "s@x.test", ["a@y.test", "b@y.test"], 0.0)

    def test_records(self) -> None:
        """
        Outcome, attempt and held records change the entry in order.
        """
        journal = (encodeRecord(kind="outcome", address="a@y.test", status=SENT, reply="250 ok", host="mx")
                   + encodeRecord(kind="attempt", attempts=1, next=60.0, error="451 later")
                   + encodeRecord(kind="held", held=True)
                   + encodeRecord(kind="outcome", address="b@y.test", status=FAILED, reply="550 no", host="mx"))
        entry = replay(self.entry(), journal)
        self.assertEqual([(r.status, r.reply) for r in entry.recipients], [(SENT, "250 ok"), (FAILED, "550 no")])
        self.assertEqual((entry.attempts, entry.nextAttempt, entry.lastError, entry.held), (1, 60.0, "451 later", True))
        self.assertFalse(entry.finished)

    def test_tornLastLine(self) -> None:
        """
        A last line without its newline (a crash mid-append) is ignored.
        """
        journal = encodeRecord(kind="outcome", address="a@y.test", status=SENT, reply="", host="")
        entry = replay(self.entry(), journal + b'{"kind":"outcome","address":"b@y.te')
        self.assertEqual([r.status for r in entry.recipients], [SENT, PENDING])

    def test_corruptLine(self) -> None:
        """
        A complete line that is not a record is a L{CorruptEntry}.
        """
        self.assertRaises(CorruptEntry, replay, self.entry(), b"{not json\n")
        self.assertRaises(CorruptEntry, replay, self.entry(), b'{"kind":"what"}\n')

    def test_finished(self) -> None:
        """
        An entry is finished when nobody is pending or owed a bounce.
        """
        entry = self.entry()
        entry.recipients[0].status, entry.recipients[1].status = SENT, BOUNCED
        self.assertTrue(entry.finished)


class ScheduleTests(SynchronousTestCase):
    def test_nextDelay(self) -> None:
        """
        The waits are taken in turn and the last one repeats.
        """
        schedule = (60.0, 300.0, 900.0)
        self.assertEqual([nextDelay(schedule, n) for n in range(1, 6)], [60.0, 300.0, 900.0, 900.0, 900.0])
