# -*- test-case-name: tests.relay.test_dsn -*-
"""
Bounces: RFC 3464 delivery status notifications, as Postfix writes them.

    From: Mail Delivery System <MAILER-DAEMON@<hostname>>
    Content-Type: multipart/report; report-type=delivery-status; boundary=...

    1. text/plain: what happened, for people, one line per recipient
    2. message/delivery-status: the per-message fields (Reporting-MTA,
       Arrival-Date), then one block per failed recipient
       (Final-Recipient, Action: failed, Status: 5.x.x, Remote-MTA,
       Diagnostic-Code: smtp; <the reply>, Last-Attempt-Date)
    3. text/rfc822-headers: the original message's header section

The envelope sender of a bounce is null (C{<>}), so that a bounce never
bounces: one that fails is dropped and logged.  Pure: no I/O.
"""
from __future__ import annotations

import re
from email.utils import formatdate, make_msgid
from typing import Sequence
from uuid import uuid4

from .entry import QueueEntry, Recipient

__all__ = ["composeBounce", "dsnStatus", "BOUNCE_SUBJECT"]

BOUNCE_SUBJECT = "Undelivered Mail Returned to Sender"
_STATUS = re.compile(r"\b([245])\.(\d{1,3})\.(\d{1,3})\b")
_CODE = re.compile(r"\b([245])\d\d\b")


def dsnStatus(reply: str) -> str:
    """
    The permanent RFC 3463 status for a failure whose last reply was
    C{reply}: its own enhanced code if it is a 5.x.x, 5.4.7 (delivery time
    expired) for a message that only ever met temporary failures, else
    5.0.0.
    """
    match = _STATUS.search(reply)
    if match is not None and match.group(1) == "5":
        return match.group(0)
    if "expired" in reply or (match is not None and match.group(1) == "4"):
        return "5.4.7"
    code = _CODE.search(reply)
    if code is not None and code.group(1) == "4":
        return "5.4.7"
    return "5.0.0"


def _diagnostic(reply: str) -> str:
    """
    The remote reply without our own prefixes, on one line.
    """
    text = re.sub(r"^(MAIL FROM|RCPT TO|DATA|end of DATA): ", "", reply)
    return re.sub(r"[\r\n]+", " ", text).strip() or "unknown error"


def _remoteMTA(remoteHost: str) -> str:
    return remoteHost.split("[", 1)[0]


def _field(name: str, value: str) -> str:
    return f"{name}: {value}\r\n"


def composeBounce(hostname: str, entry: QueueEntry, failed: Sequence[Recipient], originalHead: bytes,
                  now: float) -> tuple[str, bytes]:
    """
    The DSN telling C{entry}'s sender that C{failed} could not be
    delivered.

    @param originalHead: the original message's header section (CRLF lines).
    @return: C{(subject, message)}, the message in wire form (CRLF lines).
    """
    boundary = f"{entry.queueID}.{uuid4().hex}/{hostname}"
    lines = [
        _field("From", f"Mail Delivery System <MAILER-DAEMON@{hostname}>"),
        _field("To", f"<{entry.sender}>"),
        _field("Subject", BOUNCE_SUBJECT),
        _field("Date", formatdate(now)),
        _field("Message-ID", make_msgid("bounce", domain=hostname)),
        _field("Auto-Submitted", "auto-replied"),
        _field("MIME-Version", "1.0"),
        _field("Content-Type", f'multipart/report; report-type=delivery-status;\r\n\tboundary="{boundary}"'),
        "\r\n",
        "This is a MIME-encapsulated message.\r\n\r\n",
        f"--{boundary}\r\n",
        _field("Content-Description", "Notification"),
        _field("Content-Type", "text/plain; charset=utf-8"),
        "\r\n",
        f"This is the mail system at host {hostname}.\r\n\r\n",
        "I'm sorry to have to inform you that your message could not\r\n",
        "be delivered to one or more recipients. It's attached below.\r\n\r\n",
        "The mail system\r\n\r\n",
    ]
    for recipient in failed:
        where = f" (host {_remoteMTA(recipient.remoteHost)} said)" if recipient.remoteHost else ""
        lines.append(f"<{recipient.address}>:{where} {_diagnostic(recipient.reply)}\r\n")
    lines += [
        "\r\n",
        f"--{boundary}\r\n",
        _field("Content-Description", "Delivery report"),
        _field("Content-Type", "message/delivery-status"),
        "\r\n",
        _field("Reporting-MTA", f"dns; {hostname}"),
        _field("X-Queue-ID", entry.queueID),
        _field("X-Original-Envelope-From", f"<{entry.sender}>"),
        _field("Arrival-Date", formatdate(entry.created)),
    ]
    for recipient in failed:
        lines += ["\r\n", _field("Final-Recipient", f"rfc822; {recipient.address}"),
                  _field("Action", "failed"), _field("Status", dsnStatus(recipient.reply))]
        if recipient.remoteHost:
            lines.append(_field("Remote-MTA", f"dns; {_remoteMTA(recipient.remoteHost)}"))
        lines += [_field("Diagnostic-Code", f"smtp; {_diagnostic(recipient.reply)}"),
                  _field("Last-Attempt-Date", formatdate(now))]
    lines += [
        "\r\n",
        f"--{boundary}\r\n",
        _field("Content-Description", "Undelivered Message Headers"),
        _field("Content-Type", "text/rfc822-headers"),
        "\r\n",
    ]
    head = originalHead if originalHead.endswith(b"\r\n") or not originalHead else originalHead + b"\r\n"
    text = "".join(lines).encode("utf-8") + head + f"\r\n--{boundary}--\r\n".encode("ascii")
    return BOUNCE_SUBJECT, text
