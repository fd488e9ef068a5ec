# -*- test-case-name: tests.cluster.test_resp -*-
"""
RESP2 without I/O: commands encoded, replies parsed byte by byte.
"""
from __future__ import annotations

from twisted.trial.unittest import SynchronousTestCase

from twisted_mail_suite.cluster.resp import ProtocolViolation, ReplyParser, ResponseError, encode


class EncodeTests(SynchronousTestCase):
    def test_arguments(self) -> None:
        self.assertEqual(encode(b"SET", "k\u00e9", 5, b""),
                         b"*4\r\n$3\r\nSET\r\n$3\r\nk\xc3\xa9\r\n$1\r\n5\r\n$0\r\n\r\n")

    def test_refusesOthers(self) -> None:
        self.assertRaises(TypeError, encode, b"SET", None)


class ParserTests(SynchronousTestCase):
    WIRE = (b"+OK\r\n-ERR wrong\r\n:42\r\n$3\r\n\xff\r\n\r\n$-1\r\n*-1\r\n"
            b"*3\r\n$7\r\nmessage\r\n$1\r\nc\r\n*1\r\n:1\r\n")

    def test_everyKind(self) -> None:
        replies = ReplyParser().feed(self.WIRE)
        self.assertEqual(replies[0], b"OK")
        self.assertIsInstance(replies[1], ResponseError)
        self.assertEqual(str(replies[1]), "ERR wrong")
        self.assertEqual(replies[2:], [42, b"\xff\r\n", None, None, [b"message", b"c", [1]]])

    def test_byteByByte(self) -> None:
        parser = ReplyParser()
        replies = []
        for index in range(len(self.WIRE)):
            replies.extend(parser.feed(self.WIRE[index:index + 1]))
        self.assertEqual(len(replies), 7)
        self.assertEqual(replies[-1], [b"message", b"c", [1]])

    def test_violation(self) -> None:
        self.assertRaises(ProtocolViolation, ReplyParser().feed, b"?what\r\n")
