# -*- test-case-name: tests.smtp.test_data -*-
"""
The DATA phase in whole chunks (RFC 5321 §4.1.1.4, §4.5.2, §4.5.3.1.6).

L{DataScanner} finds the end of the text (only C{<CRLF>.<CRLF>}), removes
dot-stuffing in bulk, checks line lengths, bare CR/LF and the size, and hands
the text on in blocks of whole lines.  L{MessageWriter} adds the trace
headers, learns the Subject from the first block of headers and streams the
rest into the store's pending delivery.  No I/O of their own.
"""
from __future__ import annotations

import re
from email.header import decode_header, make_header
from typing import Callable

from twisted.internet.defer import Deferred, fail

from ..errors import DeliveryFailed, ProtocolError
from ..interfaces import IPendingDelivery

__all__ = ["DataScanner", "MessageWriter", "subjectOf", "deliveryFailure", "MAX_TEXT_LINE"]

MAX_TEXT_LINE = 1000        # octets, with the CRLF (RFC 5321 §4.5.3.1.6)

LINE_TOO_LONG = ProtocolError(b"500 5.5.2", b"Line too long (over 1000 octets); message rejected",
                              "text line over 1000 octets")
BARE_NEWLINE = ProtocolError(b"550 5.6.0", b"Bare CR or LF in message text; message rejected",
                             "bare CR or LF in DATA")
TOO_BIG = ProtocolError(b"552 5.3.4", b"Message size exceeds fixed maximum message size",
                        "message too big")


def deliveryFailure(error: DeliveryFailed) -> ProtocolError:
    """
    SMTP's reply to a store that could not keep a message: C{451 4.3.0}
    when temporary, C{554 5.3.0} when permanent (or the status a fault
    injector asked for, with the enhanced code of its class).
    """
    status = error.status if error.status is not None else 554 if error.permanent else 451
    if status >= 500:
        return ProtocolError(b"%d 5.3.0" % status, b"Delivery failed", error.reason)
    return ProtocolError(b"%d 4.3.0" % status, b"Temporary local problem, try again later", error.reason)


class DataScanner:
    """
    Consumes the text after C{354} until C{<CRLF>.<CRLF>}.

    @ivar size: octets of message text so far (dots unstuffed).
    @ivar rejection: the reply for a message that will not be kept, or
        L{None}; once set, nothing more is written but the scan goes on to
        the end of the text so the session stays in step with the client.
    """

    def __init__(self, write: Callable[[bytes], object], maxSize: int, normalize: bool) -> None:
        self._write = write
        self._maxSize = maxSize
        self._normalize = normalize
        self._carry = b""           # an unfinished line (no CRLF in it)
        self._lineStart = True      # does _carry begin a line?
        self.size = 0
        self.rejection: ProtocolError | None = None

    def feed(self, data: bytes) -> bytes | None:
        """
        @return: L{None} while the text goes on; once the end was seen, the
            bytes that followed it (the next commands, possibly C{b""}).
        """
        buf = self._carry + data if self._carry else data
        if self._lineStart and buf[:3] == b".\r\n":
            self._carry = b""
            return buf[3:]
        # One pass finds both the end and any dot-stuffed line: each is a
        # CRLF followed by a dot.
        stuffed = False
        dot = buf.find(b"\r\n.")
        while dot >= 0:
            if buf[dot + 3:dot + 5] == b"\r\n":
                self._carry = b""
                self._consume(buf[:dot + 2], stuffed)
                return buf[dot + 5:]
            stuffed = True
            dot = buf.find(b"\r\n.", dot + 3)
        cut = buf.rfind(b"\r\n")
        if cut < 0:
            self._carry = buf
        else:
            self._carry = buf[cut + 2:]
            self._consume(buf[:cut + 2], stuffed)
            self._lineStart = True
        if len(self._carry) >= MAX_TEXT_LINE:
            self._reject(LINE_TOO_LONG)
            self._carry = self._carry[-1:]      # a CR that may start the terminator
            self._lineStart = False
        return None

    def _reject(self, reason: ProtocolError) -> None:
        if self.rejection is None:
            self.rejection = reason

    def _consume(self, block: bytes, stuffed: bool) -> None:
        """
        C{block} is whole lines, the last one ending in CRLF; C{stuffed}:
        some line after the first starts with a dot.
        """
        if self.rejection is not None or not block:
            return
        if len(block) > MAX_TEXT_LINE and hasLongLine(block):
            self._reject(LINE_TOO_LONG)
            return
        if self._lineStart and block[:1] == b".":
            block = block[1:]
        if stuffed:
            block = block.replace(b"\r\n.", b"\r\n")
        if hasBareNewline(block):
            if not self._normalize:
                self._reject(BARE_NEWLINE)
                return
            block = block.replace(b"\r\n", b"\n").replace(b"\r", b"\n").replace(b"\n", b"\r\n")
        self.size += len(block)
        if self._maxSize and self.size > self._maxSize:
            self._reject(TOO_BIG)
            return
        self._write(block)


def hasBareNewline(block: bytes) -> bool:
    """
    Is there a CR or LF in C{block} that is not part of a CRLF?  (Every
    CRLF accounts for one CR and one LF: three C-level counts.)
    """
    lineEnds = block.count(b"\r\n")
    return lineEnds != block.count(b"\n") or lineEnds != block.count(b"\r")


def hasLongLine(block: bytes, limit: int = MAX_TEXT_LINE) -> bool:
    """
    Is a line of C{block} (which ends with LF) longer than C{limit} octets
    with its line end?  Steps from window to window with C{rfind}: every
    line inside a window of C{limit} octets is short enough.
    """
    position, end = 0, len(block)
    while end - position > limit:
        lastLF = block.rfind(b"\n", position, position + limit)
        if lastLF < 0:
            return True
        position = lastLF + 1
    return False


_SUBJECT = re.compile(rb"^subject[ \t]*:[ \t]*((?:[^\r\n]|\r\n[ \t])*)", re.IGNORECASE | re.MULTILINE)


def subjectOf(head: bytes) -> str:
    """
    The Subject of a message from the start of its text (CRLF lines),
    unfolded and with RFC 2047 encoded words decoded; C{""} if none.
    """
    end = head.find(b"\r\n\r\n")
    if head[:2] == b"\r\n":
        return ""
    header = head if end < 0 else head[:end + 2]
    match = _SUBJECT.search(header)
    if match is None:
        return ""
    raw = match.group(1).replace(b"\r\n", b"").strip()
    text = raw.decode("utf-8", "replace")
    if "=?" in text:
        try:
            text = str(make_header(decode_header(text)))
        except Exception:
            pass
    return text[:200]


class MessageWriter:
    """
    The message text on its way into the store: the first
    L{HEADER_WINDOW} octets are held to read the Subject, then the pending
    delivery is begun with the trace headers and everything is streamed.

    @param prefix: the trace fields (C{Return-Path:}, C{Received:}), CRLF ended.
    @param begin: C{begin(subject)} -> the L{IPendingDelivery}.
    """

    HEADER_WINDOW = 64 * 1024

    def __init__(self, prefix: bytes, begin: Callable[[str], IPendingDelivery]) -> None:
        self._prefix = prefix
        self._begin = begin
        self._head: list[bytes] | None = []
        self._held = 0
        self._pending: IPendingDelivery | None = None
        self._error: BaseException | None = None

    def write(self, data: bytes) -> None:
        if self._error is not None:
            return
        try:
            if self._pending is not None:
                self._pending.write(data)
                return
            assert self._head is not None
            self._head.append(data)
            self._held += len(data)
            if self._held >= self.HEADER_WINDOW:
                self._start()
        except Exception as e:
            self._error = e
            self.abort()

    def _start(self) -> None:
        assert self._head is not None
        head = b"".join(self._head)
        self._head = None
        self._pending = self._begin(subjectOf(head))
        self._pending.write(self._prefix + head)

    def commit(self) -> Deferred:
        """
        @return: the store's commit Deferred (a list of UIDs), or a failure
            with L{DeliveryFailed} if anything went wrong before.
        """
        if self._error is None and self._pending is None:
            try:
                self._start()
            except Exception as e:
                self._error = e
                self.abort()
        if self._error is not None:
            error = self._error
            if not isinstance(error, (ProtocolError, DeliveryFailed)):
                error = DeliveryFailed(f"writing the message failed: {error!r}")
            return fail(error)
        assert self._pending is not None
        pending, self._pending = self._pending, None
        return pending.commit()

    def abort(self) -> None:
        """
        Forget the message (idempotent).
        """
        self._head = None
        if self._pending is not None:
            pending, self._pending = self._pending, None
            pending.abort()
