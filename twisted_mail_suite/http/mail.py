# -*- test-case-name: tests.http.test_api -*-
"""
A user's messages as the JSON API shows them, read through the suite's
store (L{twisted_mail_suite.interfaces.IMailStore}): the summary of a
message (C{id, from, to, subject, date, size, seen}, from its header
only, cached by id: a message never changes), its parts (headers, text,
html, attachments) and its raw octets.

An id from a URL is checked against L{VALID_ID} before the store sees it
(a Maildir unique name: no C{/}, no leading dot), and the store looks it
up among the user's messages: no URL names a file.
"""
from __future__ import annotations

import email.policy
import re
from collections import OrderedDict
from datetime import datetime, timezone
from email.errors import HeaderParseError
from email.header import decode_header, make_header
from email.parser import BytesHeaderParser, BytesParser
from email.utils import parsedate_to_datetime
from typing import Any

from twisted.internet.defer import Deferred, maybeDeferred

from ..interfaces import IMailStore, StoredMessage
from .replies import HTTPError

__all__ = ["MessageReader", "VALID_ID", "checkID"]

VALID_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._,=+-]{0,254}$")
HEAD_LIMIT = 256 * 1024          # octets of header read for a summary
CACHE_SIZE = 50_000


def checkID(messageID: str) -> str:
    """
    @raise HTTPError: 404 unless C{messageID} may be a message id.
    """
    if not VALID_ID.match(messageID):
        raise HTTPError(404, "not-found", "No such message.")
    return messageID


def _isoDate(value: str | None, fallback: float) -> str:
    if value:
        try:
            parsed = parsedate_to_datetime(value)
            if parsed.tzinfo is None:
                parsed = parsed.replace(tzinfo=timezone.utc)
            return parsed.isoformat()
        except (TypeError, ValueError, IndexError):
            pass
    return datetime.fromtimestamp(fallback, timezone.utc).isoformat()


def _text(header: Any) -> str:
    """
    A header's value as text, RFC 2047 words decoded (parsed with the
    fast compat32 policy: the default policy costs ~1 ms a message).
    """
    if header is None:
        return ""
    try:
        return str(make_header(decode_header(str(header)))).strip()
    except (HeaderParseError, LookupError, ValueError):
        return str(header).strip()


def _read(content: Any, limit: int | None = None) -> bytes:
    """
    The octets of C{content} (up to the end of the header if C{limit} is
    given, reading at most C{limit} octets); closes it.
    """
    chunks: list[bytes] = []
    size = 0
    try:
        for chunk in content.chunks():
            chunks.append(chunk)
            size += len(chunk)
            if limit is not None and (b"\r\n\r\n" in b"".join(chunks[-2:]) or size >= limit):
                break
    finally:
        content.close()
    data = b"".join(chunks)
    if limit is not None:
        end = data.find(b"\r\n\r\n")
        data = data[:end + 4] if end >= 0 else data[:limit]
    return data


class MessageReader:
    """
    Reads messages of the store for the API.
    """

    def __init__(self, store: IMailStore) -> None:
        self.store = store
        self._summaries: OrderedDict[tuple[str, str], dict[str, Any]] = OrderedDict()

    def list(self, user: str) -> Deferred[list[StoredMessage]]:
        """
        C{user}'s messages, newest first.
        """
        return self.store.listMessages(user).addCallback(lambda stored: stored[::-1])   # listed oldest first

    def find(self, user: str, messageID: str) -> Deferred[StoredMessage]:
        """
        The listing entry of C{messageID}.

        @raise HTTPError: 404 if C{user} has no such message.
        """
        checkID(messageID)

        def found(stored: list[StoredMessage]) -> StoredMessage:
            for message in stored:
                if message.uid == messageID:
                    return message
            raise HTTPError(404, "not-found", "No such message.")

        return self.store.listMessages(user).addCallback(found)

    def summary(self, user: str, stored: StoredMessage) -> Deferred[dict[str, Any]]:
        """
        The list entry of C{stored}.
        """
        key = (user, stored.uid)
        cached = self._summaries.get(key)
        if cached is not None:
            self._summaries.move_to_end(key)
            return maybeDeferred(lambda: {**cached, "seen": stored.seen})
        d = self.store.readMessage(user, stored.uid).addCallback(_read, HEAD_LIMIT)

        def parsed(head: bytes) -> dict[str, Any]:
            headers = BytesHeaderParser().parsebytes(head)
            summary = {"id": stored.uid, "from": _text(headers.get("From")), "to": _text(headers.get("To")),
                       "subject": _text(headers.get("Subject")),
                       "date": _isoDate(_text(headers.get("Date")), stored.internalDate), "size": stored.size}
            self._summaries[key] = summary
            if len(self._summaries) > CACHE_SIZE:
                self._summaries.popitem(last=False)
            return {**summary, "seen": stored.seen}

        return d.addCallback(parsed)

    def raw(self, user: str, messageID: str) -> Deferred[bytes]:
        """
        The message as stored (CRLF line ends).

        @raise HTTPError: 404 if there is no such message.
        """
        checkID(messageID)
        d = self.store.readMessage(user, messageID).addCallback(_read)
        return d.addErrback(_missing)

    def detail(self, user: str, stored: StoredMessage) -> Deferred[dict[str, Any]]:
        """
        The message's summary, all its headers, its text and HTML parts and
        its attachments (name, type, size).
        """
        d = self.raw(user, stored.uid)

        def parsed(raw: bytes) -> Deferred[dict[str, Any]]:
            message = BytesParser(policy=email.policy.default).parsebytes(raw)
            text = message.get_body(("plain",))
            markup = message.get_body(("html",))
            attachments = [{"filename": part.get_filename() or "", "content_type": part.get_content_type(),
                            "size": len(part.get_payload(decode=True) or b"")}
                           for part in message.iter_attachments()] if message.is_multipart() else []
            extra = {"headers": [[name, str(value)] for name, value in message.items()],
                     "text": _content(text), "html": _content(markup), "attachments": attachments}
            return self.summary(user, stored).addCallback(lambda summary: {**summary, **extra})

        return d.addCallback(parsed)


def _content(part: Any) -> str | None:
    if part is None:
        return None
    try:
        return str(part.get_content())
    except (LookupError, ValueError, AssertionError):
        payload = part.get_payload(decode=True) or b""
        return payload.decode("utf-8", "replace")  # type: ignore[no-any-return]


def _missing(failure: Any) -> Any:
    if failure.check(KeyError, FileNotFoundError):
        raise HTTPError(404, "not-found", "No such message.")
    return failure
