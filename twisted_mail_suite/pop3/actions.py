# -*- test-case-name: tests.pop3.test_session -*-
"""
What the POP3 session machine (L{twisted_mail_suite.pop3.session}) hands
the protocol: the actions (a L{Reply} to send, or work that needs I/O:
L{Login}, L{SendMessage}, L{StartTLS}, L{Update}), the L{Maildrop} a
logged-in session works on, L{POP3Error} (a C{-ERR} reply) and the reply
formats.  Values only: no I/O, nothing from Twisted.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Sequence, Union

from ..errors import ProtocolError

__all__ = [
    "Action", "CRLF", "Challenge", "Login", "Maildrop", "POP3Error", "Reply", "SendMessage",
    "StartTLS", "Update", "multiline", "ok",
]

CRLF = b"\r\n"


class POP3Error(ProtocolError):
    """
    A C{-ERR} reply: C{publicText} goes to the client, C{reason} to the log.
    """

    def __init__(self, publicText: bytes, reason: str = "") -> None:
        super().__init__(b"-ERR", publicText, reason)

    @property
    def reply(self) -> bytes:
        return b"-ERR " + self.publicText + CRLF


def ok(text: bytes = b"") -> bytes:
    return (b"+OK " + text if text else b"+OK") + CRLF


def multiline(status: bytes, lines: Iterable[bytes]) -> bytes:
    """
    A multi-line response: the C{+OK} line, each line dot-stuffed, C{.}.
    """
    parts = [ok(status)]
    for line in lines:
        parts.append((b"." + line if line[:1] == b"." else line) + CRLF)
    parts.append(b"." + CRLF)
    return b"".join(parts)


# Actions: what the protocol is asked to do.

@dataclass(frozen=True, slots=True)
class Reply:
    """
    Send C{data} (complete lines); close the connection afterwards if
    C{close}.
    """

    data: bytes
    close: bool = False


@dataclass(frozen=True, slots=True)
class Challenge:
    """
    Send C{data} (a SASL continuation); the next line is the client's
    response, not a command.
    """

    data: bytes


@dataclass(frozen=True, slots=True)
class Login:
    """
    Check these credentials through the portal: a password (USER/PASS,
    AUTH PLAIN) or an APOP digest; then feed C{loginSucceeded},
    C{loginFailed} or C{loginRefused}.
    """

    user: bytes
    password: bytes | None = None
    digest: bytes | None = None


@dataclass(frozen=True, slots=True)
class StartTLS:
    """
    Send C{data}, discard whatever the client sent after the STLS line,
    and start TLS.
    """

    data: bytes


@dataclass(frozen=True, slots=True)
class SendMessage:
    """
    Send message C{index} (0-based) after the status line C{status}:
    all of it (RETR, C{bodyLines is None}) or its header and C{bodyLines}
    body lines (TOP, which does not count as reading the message).
    """

    index: int
    status: bytes
    bodyLines: int | None = None


@dataclass(frozen=True, slots=True)
class Update:
    """
    The UPDATE state: remove the messages at C{deleted} (0-based indices)
    for good, then feed C{updated}.
    """

    deleted: tuple[int, ...]


Action = Union[Reply, Challenge, Login, StartTLS, SendMessage, Update]


class Maildrop:
    """
    The maildrop as this session sees it: fixed at login (RFC 1939 §5),
    with the deletion marks of this session.

    @ivar sizes: octets per message, CRLF line ends, before dot-stuffing.
    @ivar uids: the unique-id of each message (RFC 1939 §7).
    @ivar deleted: 0-based indices marked by DELE.
    """

    __slots__ = ("sizes", "uids", "deleted")

    def __init__(self, sizes: Sequence[int], uids: Sequence[bytes]) -> None:
        if len(sizes) != len(uids):
            raise ValueError("one size and one unique-id per message")
        self.sizes = list(sizes)
        self.uids = list(uids)
        self.deleted: set[int] = set()

    def index(self, number: int) -> int:
        """
        @return: the 0-based index of message C{number}.
        @raise POP3Error: no such message, or it is marked deleted.
        """
        if not 1 <= number <= len(self.sizes):
            raise POP3Error(b"There's no message %d." % number)
        index = number - 1
        if index in self.deleted:
            raise POP3Error(b"Message %d is deleted." % number)
        return index

    def live(self) -> list[int]:
        return [i for i in range(len(self.sizes)) if i not in self.deleted]

    def summary(self) -> tuple[int, int]:
        """
        @return: how many messages are not marked deleted, and their octets.
        """
        live = self.live()
        return len(live), sum(self.sizes[i] for i in live)
