# -*- test-case-name: tests.metrics.test_counted -*-
"""
Why SMTP refused a message, in the few words the metrics use
(C{mailsuite_smtp_messages_rejected_total{reason=...}}): each refused
sender, recipient or message text counts once, under a reason from a
fixed set; command errors (syntax, sequence, AUTH) are not rejections.
"""
from __future__ import annotations

from twisted.mail.smtp import SMTPBadRcpt, SMTPBadSender

from ..errors import DeliveryFailed, ProtocolError
from ..interfaces import IMetrics

__all__ = ["REASONS", "countRejection", "rejectionReason"]

# the reply code of a refusal -> its reason
REASONS: dict[bytes, str] = {
    b"550 5.1.1": "unknown_user",         # RCPT: no local user (UnknownUser)
    b"550 5.7.1": "relay_denied",         # RCPT: a foreign domain without relay rights
    b"553 5.7.1": "sender_not_owned",     # MAIL: not the authenticated user's address
    b"530 5.7.0": "auth_required",        # MAIL before AUTH on submission
    b"552 5.3.4": "too_big",              # MAIL SIZE=, or the text, over max_message_size
    b"550 5.6.0": "bare_newline",         # a bare CR or LF in the text
    b"500 5.5.2": "line_too_long",        # a text line over 1000 octets
}


def rejectionReason(error: object) -> str | None:
    """
    The reason C{error} (what a MAIL, RCPT or message text failed with)
    refused a message, or L{None} if it is no message rejection.
    """
    if isinstance(error, ProtocolError):
        return REASONS.get(error.code)
    if isinstance(error, DeliveryFailed):
        return "delivery_failed"
    if isinstance(error, SMTPBadRcpt):
        return "recipient_rejected"
    if isinstance(error, SMTPBadSender):
        return "sender_rejected"
    return None


def countRejection(metrics: IMetrics, error: object) -> None:
    """
    Count C{error} in C{metrics} if it refused a message.
    """
    reason = rejectionReason(error)
    if reason is not None:
        metrics.messageRejected(reason)
