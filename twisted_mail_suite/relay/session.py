# -*- test-case-name: tests.relay.test_session -*-
"""
The SMTP client's protocol logic, free of I/O (nothing from Twisted): the
reply parser (RFC 5321 §4.2), the EHLO capabilities, the commands (with
SIZE, BODY=8BITMIME and SMTPUTF8 as the server allows, RFC 1870/6152/6531),
dot-stuffing, and one L{Transaction}'s bookkeeping: which recipient got
which reply, turned into L{Outcome}s.  The I/O is
L{twisted_mail_suite.relay.client}.
"""
from __future__ import annotations

import base64
import re
from dataclasses import dataclass, field
from typing import Iterable, Iterator

from .entry import DEFERRED, FAILED, SENT, Outcome

__all__ = ["Reply", "BadReply", "ReplyParser", "Capabilities", "Transaction", "dotStuffed",
           "mailCommand", "rcptCommand", "authPlain", "needsSMTPUTF8", "MAX_REPLY_LINE"]

MAX_REPLY_LINE = 4096          # RFC 5321 says 512; servers send longer, so be lenient but bounded
MAX_REPLY_LINES = 200
_ENHANCED = re.compile(rb"^([245])\.(\d{1,3})\.(\d{1,3})\b")


class BadReply(Exception):
    """
    The server sent something that is not an SMTP reply.
    """


@dataclass(frozen=True)
class Reply:
    """
    One (possibly multi-line) reply: C{code} and the text of each line.
    """

    code: int
    lines: tuple[bytes, ...] = (b"",)

    @property
    def positive(self) -> bool:
        return 200 <= self.code < 400

    @property
    def permanent(self) -> bool:
        return self.code >= 500

    @property
    def text(self) -> str:
        """
        The whole reply on one line, for the log, the journal and a DSN.
        """
        body = " ".join(line.decode("utf-8", "replace").strip() for line in self.lines).strip()
        return f"{self.code} {body}".strip()

    @property
    def status(self) -> str:
        """
        The RFC 3463 status: the reply's enhanced code, or one of its class.
        """
        match = _ENHANCED.match(self.lines[0]) if self.lines else None
        if match is not None and int(match.group(1)) == self.code // 100:
            return match.group(0).decode("ascii")
        return f"{min(max(self.code // 100, 2), 5)}.0.0"


class ReplyParser:
    """
    Bytes from the server -> complete L{Reply}s.
    """

    def __init__(self) -> None:
        self._buffer = b""
        self._lines: list[bytes] = []
        self._code: bytes | None = None

    def feed(self, data: bytes) -> list[Reply]:
        """
        @raise BadReply: a line that is not C{ddd}, C{ddd-text} or C{ddd
            text}, a code that changes within a reply, or too long a line.
        """
        self._buffer += data
        replies = []
        while True:
            end = self._buffer.find(b"\n")
            if end < 0:
                if len(self._buffer) > MAX_REPLY_LINE:
                    raise BadReply("reply line too long")
                return replies
            line, self._buffer = self._buffer[:end].rstrip(b"\r"), self._buffer[end + 1:]
            code, separator, text = line[:3], line[3:4], line[4:]
            if len(line) > MAX_REPLY_LINE or len(code) != 3 or not code.isdigit() \
                    or code[:1] not in b"2345" or separator not in (b"", b" ", b"-"):
                raise BadReply(f"not a reply line: {line[:80]!r}")
            if self._code is not None and code != self._code:
                raise BadReply("reply code changed within a reply")
            self._code = code
            self._lines.append(text)
            if len(self._lines) > MAX_REPLY_LINES:
                raise BadReply("too many reply lines")
            if separator != b"-":
                replies.append(Reply(int(code), tuple(self._lines)))
                self._lines, self._code = [], None


@dataclass
class Capabilities:
    """
    What an EHLO reply advertised (all false after HELO).
    """

    keywords: dict[bytes, bytes] = field(default_factory=dict)

    @classmethod
    def fromReply(cls, reply: Reply) -> Capabilities:
        keywords = {}
        for line in reply.lines[1:]:
            keyword, _, parameters = line.strip().partition(b" ")
            keywords[keyword.upper()] = parameters.strip()
        return cls(keywords)

    def has(self, keyword: bytes) -> bool:
        return keyword in self.keywords

    @property
    def sizeLimit(self) -> int:
        """
        The server's SIZE limit, 0 for none.
        """
        value = self.keywords.get(b"SIZE", b"")
        return int(value) if value.isdigit() else 0

    @property
    def authMechanisms(self) -> set[bytes]:
        return set(self.keywords.get(b"AUTH", b"").upper().split())


def needsSMTPUTF8(sender: str, recipients: Iterable[str], head: bytes) -> bool:
    """
    Does the message need SMTPUTF8 (RFC 6531): an address, or a header
    field, that is not ASCII?
    """
    return not (sender.isascii() and all(r.isascii() for r in recipients) and head.isascii())


def _path(address: str) -> bytes:
    return b"<" + address.encode("utf-8") + b">"


def mailCommand(sender: str, size: int, capabilities: Capabilities, eightBit: bool, utf8: bool) -> bytes:
    parts = [b"MAIL FROM:" + _path(sender)]
    if capabilities.has(b"SIZE"):
        parts.append(b"SIZE=%d" % size)
    if eightBit and capabilities.has(b"8BITMIME"):
        parts.append(b"BODY=8BITMIME")
    if utf8 and capabilities.has(b"SMTPUTF8"):
        parts.append(b"SMTPUTF8")
    return b" ".join(parts)


def rcptCommand(address: str) -> bytes:
    return b"RCPT TO:" + _path(address)


def authPlain(username: str, password: str) -> bytes:
    """
    C{AUTH PLAIN} with the initial response (RFC 4616).
    """
    token = b"\0" + username.encode("utf-8") + b"\0" + password.encode("utf-8")
    return b"AUTH PLAIN " + base64.b64encode(token)


def dotStuffed(chunks: Iterable[bytes]) -> Iterator[bytes]:
    """
    The message text (CRLF lines) as it goes after DATA: a dot doubled at
    the start of every line, a CRLF added if the text lacks a last one,
    and the terminating C{.CRLF}.
    """
    lineStart = True
    previous = b"\n"
    for chunk in chunks:
        if not chunk:
            continue
        if lineStart and chunk[:1] == b".":
            chunk = b"." + chunk
        elif previous == b"\r" and chunk[:2] == b"\n.":
            chunk = b"\n." + chunk[1:]
        chunk = chunk.replace(b"\r\n.", b"\r\n..")
        lineStart = (previous + chunk).endswith(b"\r\n")
        previous = chunk[-1:]
        yield chunk
    yield b".\r\n" if lineStart else b"\r\n.\r\n"


class Transaction:
    """
    One message to one server for some recipients: each reply as it comes
    (L{mailReply}, L{rcptReply}, L{dataReply}, L{endReply}) decides what
    the recipients' L{Outcome}s are; L{interrupted} settles the rest.

    A C{452} to a RCPT after the server accepted another recipient of the
    same round means "too many recipients" (RFC 5321 section 4.5.3.1.10):
    that recipient waits for the next round on the same connection
    (L{nextRound}) instead of being deferred, as Postfix does.

    @ivar accepted: the recipients the server accepted at RCPT this round.
    @ivar overflow: the recipients left for the next round.
    """

    def __init__(self, sender: str, recipients: Iterable[str], remoteHost: str) -> None:
        self.sender = sender
        self.recipients = list(recipients)
        self.remoteHost = remoteHost
        self.accepted: list[str] = []
        self.overflow: list[str] = []
        self._outcomes: dict[str, Outcome] = {}

    def _set(self, address: str, status: str, reply: str) -> None:
        if address not in self._outcomes:
            self._outcomes[address] = Outcome(address, status, reply, self.remoteHost)

    def _failAll(self, addresses: Iterable[str], reply: Reply, prefix: str) -> None:
        status = FAILED if reply.permanent else DEFERRED
        for address in addresses:
            self._set(address, status, f"{prefix}{reply.text}")

    def refuseAll(self, status: str, reply: str) -> None:
        """
        Settle every recipient without asking the server (a check before MAIL).
        """
        for address in self.recipients:
            self._set(address, status, reply)

    def mailReply(self, reply: Reply) -> bool:
        """
        @return: whether the transaction goes on.
        """
        if reply.positive:
            return True
        self._failAll(self.recipients, reply, "MAIL FROM: ")
        return False

    def rcptReply(self, address: str, reply: Reply) -> None:
        if reply.positive:
            self.accepted.append(address)
        elif reply.code == 452 and self.accepted:
            self.overflow.append(address)
        else:
            self._failAll([address], reply, "RCPT TO: ")

    def nextRound(self) -> list[str]:
        """
        The recipients for another transaction on this connection: those
        a C{452} left over, when this round delivered to someone (else
        nothing: they are deferred by L{interrupted} or the caller).
        """
        left = [address for address in self.overflow if address not in self._outcomes]
        self.overflow = []
        progressed = any(getattr(self._outcomes.get(a), "status", None) == SENT for a in self.accepted)
        self.accepted = []
        if not progressed:
            for address in left:
                self._set(address, DEFERRED, "RCPT TO: 452 too many recipients")
            return []
        return left

    def dataReply(self, reply: Reply) -> bool:
        """
        @return: whether to send the text (C{354} and someone accepted).
        """
        if reply.code == 354 and self.accepted:
            return True
        if self.accepted:
            self._failAll(self.accepted, reply, "DATA: ")
        return False

    def endReply(self, reply: Reply) -> None:
        for address in self.accepted:
            if reply.positive:
                self._set(address, SENT, reply.text)
            else:
                self._set(address, FAILED if reply.permanent else DEFERRED, f"end of DATA: {reply.text}")

    def interrupted(self, reason: str) -> None:
        """
        The connection failed: everyone not settled is deferred.
        """
        for address in self.recipients:
            self._set(address, DEFERRED, reason)

    @property
    def settled(self) -> bool:
        return all(address in self._outcomes for address in self.recipients)

    def outcomes(self) -> list[Outcome]:
        return [self._outcomes[a] for a in self.recipients if a in self._outcomes]
