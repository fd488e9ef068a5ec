# -*- test-case-name: tests.cluster.test_resp -*-
"""
RESP2, the Redis protocol, without I/O: L{encode} a command, feed the
bytes a server sends to a L{ReplyParser} and take the replies it
completed.  Bulk strings stay bytes (callers decode what they know to be
text); integers are ints; a nil is L{None}; an error reply is a
L{ResponseError} value (not raised: it answers one command).
"""
from __future__ import annotations

from typing import Union

__all__ = ["ReplyParser", "ResponseError", "encode"]

Reply = Union[bytes, int, None, list, "ResponseError"]


class ResponseError(Exception):
    """
    An error reply (C{-ERR ...}) to one command.
    """


class ProtocolViolation(Exception):
    """
    The server sent something that is not RESP2.
    """


def _argument(value: bytes | str | int | float) -> bytes:
    if isinstance(value, bytes):
        return value
    if isinstance(value, str):
        return value.encode("utf-8")
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return repr(value).encode("ascii")
    raise TypeError(f"not a Redis argument: {value!r}")


def encode(*args: bytes | str | int | float) -> bytes:
    """
    One command as an array of bulk strings (text as UTF-8).
    """
    parts = [b"*%d\r\n" % len(args)]
    for arg in args:
        data = _argument(arg)
        parts.append(b"$%d\r\n%s\r\n" % (len(data), data))
    return b"".join(parts)


class ReplyParser:
    """
    Incremental RESP2 reply parser.
    """

    def __init__(self) -> None:
        self._buffer = bytearray()
        self._offset = 0

    def feed(self, data: bytes) -> list[Reply]:
        """
        @return: the replies C{data} completed, in order.
        @raise ProtocolViolation: for bytes that are not RESP2.
        """
        self._buffer += data
        replies: list[Reply] = []
        while True:
            start = self._offset
            try:
                reply = self._parse()
            except IndexError:              # incomplete: wait for more
                self._offset = start
                break
            replies.append(reply)
        if self._offset:
            del self._buffer[:self._offset]
            self._offset = 0
        return replies

    def _line(self) -> bytes:
        end = self._buffer.find(b"\r\n", self._offset)
        if end < 0:
            raise IndexError("incomplete")
        line = bytes(self._buffer[self._offset:end])
        self._offset = end + 2
        return line

    def _parse(self) -> Reply:
        line = self._line()
        kind, rest = line[:1], line[1:]
        if kind == b"+":
            return rest
        if kind == b"-":
            return ResponseError(rest.decode("utf-8", "replace"))
        if kind == b":":
            return int(rest)
        if kind == b"$":
            length = int(rest)
            if length < 0:
                return None
            end = self._offset + length
            if len(self._buffer) < end + 2:
                raise IndexError("incomplete")
            value = bytes(self._buffer[self._offset:end])
            self._offset = end + 2
            return value
        if kind == b"*":
            count = int(rest)
            if count < 0:
                return None
            return [self._parse() for _ in range(count)]
        raise ProtocolViolation(f"unexpected reply type {line[:20]!r}")
