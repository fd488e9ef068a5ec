# -*- test-case-name: tests.relay.test_session -*-
"""
Tests for L{twisted_mail_suite.relay.session}: the client's logic
without I/O.
"""
from __future__ import annotations

from hypothesis import given, settings, strategies as st
from twisted.trial.unittest import SynchronousTestCase

from twisted_mail_suite.relay.entry import DEFERRED, FAILED, SENT
from twisted_mail_suite.relay.session import (BadReply, Capabilities, Reply, ReplyParser, Transaction, authPlain,
                                              dotStuffed, mailCommand, needsSMTPUTF8, rcptCommand)


class ReplyParserTests(SynchronousTestCase):
    def test_multiLineSplitAnywhere(self) -> None:
        """
        A multi-line reply split at any offset comes out as one L{Reply}.
        """
        data = b"250-mx.test greets you\r\n250-PIPELINING\r\n250 SIZE 1000\r\n220 next\r\n"
        for cut in range(len(data)):
            parser = ReplyParser()
            replies = parser.feed(data[:cut]) + parser.feed(data[cut:])
            self.assertEqual(replies, [Reply(250, (b"mx.test greets you", b"PIPELINING", b"SIZE 1000")),
                                       Reply(220, (b"next",))])

    def test_bareLFAndCodeOnly(self) -> None:
        """
        LF-only line ends and a bare code are accepted.
        """
        self.assertEqual(ReplyParser().feed(b"250\n354 go\n"), [Reply(250, (b"",)), Reply(354, (b"go",))])

    def test_garbage(self) -> None:
        """
        Lines that are not replies, changing codes and endless lines raise L{BadReply}.
        """
        for data in (b"hello\r\n", b"250-a\r\n251 b\r\n", b"650 x\r\n", b"25\r\n", b"2500 x\r\n", b"x" * 5000):
            self.assertRaises(BadReply, ReplyParser().feed, data)

    def test_text(self) -> None:
        """
        C{text} joins the lines; C{status} is the enhanced code or one of the class.
        """
        reply = Reply(550, (b"5.1.1 <b@x>: no such user", b"try again"))
        self.assertEqual(reply.text, "550 5.1.1 <b@x>: no such user try again")
        self.assertEqual((reply.status, Reply(451, (b"later",)).status, Reply(550, (b"4.1.1 x",)).status),
                         ("5.1.1", "4.0.0", "5.0.0"))


class CommandTests(SynchronousTestCase):
    def test_capabilities(self) -> None:
        """
        EHLO keywords are read without case; SIZE and AUTH parameters parsed.
        """
        caps = Capabilities.fromReply(Reply(250, (b"mx", b"pipelining", b"SIZE 2048", b"AUTH PLAIN login", b"8BITMIME")))
        self.assertTrue(caps.has(b"PIPELINING"))
        self.assertEqual((caps.sizeLimit, caps.authMechanisms), (2048, {b"PLAIN", b"LOGIN"}))

    def test_mailParameters(self) -> None:
        """
        SIZE, BODY=8BITMIME and SMTPUTF8 are declared only where the server offers them and the message needs them.
        """
        caps = Capabilities({b"SIZE": b"0", b"8BITMIME": b"", b"SMTPUTF8": b""})
        self.assertEqual(mailCommand("a@b", 10, caps, True, True), b"MAIL FROM:<a@b> SIZE=10 BODY=8BITMIME SMTPUTF8")
        self.assertEqual(mailCommand("", 10, Capabilities(), True, False), b"MAIL FROM:<>")
        self.assertEqual(rcptCommand("\u00e9@b"), "RCPT TO:<\u00e9@b>".encode())

    def test_authPlain(self) -> None:
        """
        AUTH PLAIN carries the initial response.
        """
        self.assertEqual(authPlain("u", "p"), b"AUTH PLAIN AHUAcA==")

    def test_needsUTF8(self) -> None:
        """
        Non-ASCII addresses or header fields need SMTPUTF8; an 8-bit body does not.
        """
        self.assertFalse(needsSMTPUTF8("a@b", ["c@d"], b"Subject: x"))
        self.assertTrue(needsSMTPUTF8("a@b", ["j\u00f6@d"], b"Subject: x"))
        self.assertTrue(needsSMTPUTF8("a@b", ["c@d"], "Subject: \u00e9".encode()))


class DotStuffTests(SynchronousTestCase):
    def stuffed(self, *chunks: bytes) -> bytes:
        return b"".join(dotStuffed(chunks))

    def test_cases(self) -> None:
        """
        Leading dots are doubled (also across chunk ends), a missing last CRLF added, the end marked.
        """
        self.assertEqual(self.stuffed(b".a\r\n.b\r\nc\r\n"), b"..a\r\n..b\r\nc\r\n.\r\n")
        self.assertEqual(self.stuffed(b"a\r\n", b".b\r\n"), b"a\r\n..b\r\n.\r\n")
        self.assertEqual(self.stuffed(b"a\r", b"\n.b"), b"a\r\n..b\r\n.\r\n")
        self.assertEqual(self.stuffed(b"a\r\n.", b"b\r\n"), b"a\r\n..b\r\n.\r\n")
        self.assertEqual(self.stuffed(), b".\r\n")

    @settings(max_examples=200, deadline=None)
    @given(st.lists(st.sampled_from([b"a", b".", b"\r\n", b"x.y"]), max_size=30), st.lists(st.integers(0, 40)))
    def test_roundTrip(self, pieces: list[bytes], cuts: list[int]) -> None:
        """
        Unstuffing what was stuffed, chunked anyhow, gives the text back (with its final CRLF).
        """
        text = b"".join(pieces).replace(b"\r\n", b"\n").replace(b"\r", b"").replace(b"\n", b"\r\n")
        points = sorted({min(c, len(text)) for c in cuts} | {0, len(text)})
        chunks = [text[a:b] for a, b in zip(points, points[1:])]
        wire = b"".join(dotStuffed(chunks))
        self.assertTrue(wire.endswith(b"\r\n.\r\n") or wire == b".\r\n")
        body = wire[:-3]
        lines = body.split(b"\r\n")
        unstuffed = b"\r\n".join(line[1:] if line.startswith(b".") else line for line in lines)
        expected = text if not text or text.endswith(b"\r\n") else text + b"\r\n"
        self.assertEqual(unstuffed, expected)


class TransactionTests(SynchronousTestCase):
    def test_outcomes(self) -> None:
        """
        RCPT refusals settle those recipients; the final reply settles the accepted ones.
        """
        t = Transaction("s@x", ["a@y", "b@y", "c@y"], "mx[1.2.3.4]:25")
        self.assertTrue(t.mailReply(Reply(250, (b"ok",))))
        t.rcptReply("a@y", Reply(250, (b"ok",)))
        t.rcptReply("b@y", Reply(550, (b"5.1.1 unknown",)))
        t.rcptReply("c@y", Reply(451, (b"4.3.0 later",)))
        self.assertTrue(t.dataReply(Reply(354, (b"go",))))
        t.endReply(Reply(250, (b"2.0.0 queued",)))
        self.assertEqual([(o.address, o.status) for o in t.outcomes()],
                         [("a@y", SENT), ("b@y", FAILED), ("c@y", DEFERRED)])
        self.assertEqual(t.outcomes()[1].reply, "RCPT TO: 550 5.1.1 unknown")
        self.assertEqual(t.outcomes()[0].remoteHost, "mx[1.2.3.4]:25")

    def test_tooManyRecipients(self) -> None:
        """
        A 452 after an accepted recipient leaves the rest for another
        round on the same connection (RFC 5321 4.5.3.1.10), which settles
        them in turn.
        """
        t = Transaction("s@x", ["a@y", "b@y", "c@y"], "mx")
        t.mailReply(Reply(250, (b"ok",)))
        t.rcptReply("a@y", Reply(250, (b"ok",)))
        t.rcptReply("b@y", Reply(452, (b"4.5.3 too many recipients",)))
        t.rcptReply("c@y", Reply(452, (b"4.5.3 too many recipients",)))
        self.assertTrue(t.dataReply(Reply(354, (b"go",))))
        t.endReply(Reply(250, (b"ok",)))
        self.assertFalse(t.settled)
        self.assertEqual(t.nextRound(), ["b@y", "c@y"])
        t.mailReply(Reply(250, (b"ok",)))
        t.rcptReply("b@y", Reply(250, (b"ok",)))
        t.rcptReply("c@y", Reply(250, (b"ok",)))
        t.dataReply(Reply(354, (b"go",)))
        t.endReply(Reply(250, (b"ok",)))
        self.assertEqual(([o.status for o in t.outcomes()], t.nextRound()), ([SENT] * 3, []))

    def test_tooManyWithoutProgress(self) -> None:
        """
        A 452 to the first recipient, or a round whose text was refused,
        defers the rest: no endless rounds.
        """
        t = Transaction("s@x", ["a@y", "b@y"], "mx")
        t.mailReply(Reply(250, (b"ok",)))
        t.rcptReply("a@y", Reply(452, (b"4.5.3 too many",)))
        self.assertEqual(t.outcomes()[0].status, DEFERRED)
        t.rcptReply("b@y", Reply(250, (b"ok",)))
        t.dataReply(Reply(354, (b"go",)))
        t.endReply(Reply(451, (b"later",)))
        self.assertEqual((t.nextRound(), [o.status for o in t.outcomes()]), ([], [DEFERRED, DEFERRED]))
        u = Transaction("s@x", ["a@y", "b@y"], "mx")
        u.mailReply(Reply(250, (b"ok",)))
        u.rcptReply("a@y", Reply(250, (b"ok",)))
        u.rcptReply("b@y", Reply(452, (b"4.5.3 too many",)))
        u.dataReply(Reply(354, (b"go",)))
        u.endReply(Reply(554, (b"no",)))
        self.assertEqual((u.nextRound(), [o.status for o in u.outcomes()]), ([], [FAILED, DEFERRED]))

    def test_mailRefused(self) -> None:
        """
        A refused MAIL settles everyone: 5xx failed, 4xx deferred.
        """
        t = Transaction("s@x", ["a@y"], "")
        self.assertFalse(t.mailReply(Reply(451, (b"later",))))
        self.assertEqual(t.outcomes()[0].status, DEFERRED)

    def test_interrupted(self) -> None:
        """
        A connection lost after DATA defers the accepted recipients.
        """
        t = Transaction("s@x", ["a@y", "b@y"], "")
        t.mailReply(Reply(250))
        t.rcptReply("a@y", Reply(250))
        t.rcptReply("b@y", Reply(550))
        t.dataReply(Reply(354))
        t.interrupted("lost connection")
        self.assertEqual([o.status for o in t.outcomes()], [DEFERRED, FAILED])
