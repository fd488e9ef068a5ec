# -*- test-case-name: tests.pop3.test_retrieve,tests.pop3.test_protocol -*-
"""
RETR and TOP, up to the first byte: which mailbox call opens the message
(L{openMessage}), and the L{MessageReader} that turns what it gives into
the response body (L{readerFor}).
The protocol writes the status line and the chunks, pausing with the
transport (see L{twisted_mail_suite.pop3.protocol}).
"""
from __future__ import annotations

from typing import Any

from twisted.internet.defer import Deferred, maybeDeferred

from ..interfaces import IMessageContent
from ..store.content import FileContent
from .mailbox import IPeekMailbox
from .actions import SendMessage
from .stream import MessageReader

__all__ = ["openMessage", "readerFor", "unavailable"]


def openMessage(mailbox: Any, action: SendMessage) -> Deferred[Any]:
    """
    Open the message C{action} sends.  RETR reads it (our mailbox files it
    as seen when the session QUITs); TOP only peeks, if the mailbox can
    (L{IPeekMailbox}).

    @return: a Deferred firing with the message for L{readerFor} (at once
        if C{mailbox} answers synchronously), or failing if it cannot be
        read.
    """
    peek = action.bodyLines is not None and IPeekMailbox.providedBy(mailbox)
    return maybeDeferred(mailbox.peekMessage if peek else mailbox.getMessage, action.index)


def readerFor(message: Any, bodyLines: int | None) -> MessageReader:
    """
    The reader of C{message}: the store's L{IMessageContent} (wire form),
    or the file an embedder's C{twisted.mail.pop3.IMailbox} gives (stored
    form).
    """
    content = message if IMessageContent.providedBy(message) else FileContent(message)
    return MessageReader(content, bodyLines)


def unavailable(action: SendMessage) -> bytes:
    """
    The reply when the message of C{action} cannot be read (removed by
    another program since the login, say); the session goes on.
    """
    return b"-ERR [SYS/TEMP] Message %d is not available.\r\n" % (action.index + 1)
