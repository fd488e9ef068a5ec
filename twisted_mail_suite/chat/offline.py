# -*- test-case-name: tests.chat.test_offline -*-
"""
A private message to a user who is offline becomes a short mail.

(Moved here from the realm, which no longer knows the chat; the delivery
seam's C{delivery.compose} is its final home.)
"""
from __future__ import annotations

from email.message import EmailMessage
from email.utils import formatdate, make_msgid

from twisted.internet.defer import Deferred, maybeDeferred

from ..config import Config
from ..interfaces import IMailStore

__all__ = ["deliverChatMail"]


def deliverChatMail(config: Config, store: IMailStore, sender: str, recipient: str, text: str) -> Deferred:
    """
    Deliver a short mail from C{chat@<hostname>} carrying C{text} to C{recipient}.
    """
    message = EmailMessage()
    message["From"] = f"{sender} via chat <chat@{config.hostname}>"
    message["To"] = f"{recipient}@{config.domains[0] if config.domains else config.hostname}"
    message["Subject"] = f"Chat message from {sender}"
    message["Date"] = formatdate(localtime=False)
    message["Message-ID"] = make_msgid(domain=config.hostname)
    message.set_content(text + "\n")
    data = message.as_bytes(policy=message.policy.clone(linesep="\r\n"))

    def write() -> Deferred:
        delivery = store.beginDelivery([recipient], f"chat@{config.hostname}", str(message["Subject"]))
        try:
            delivery.write(data)
        except BaseException:
            delivery.abort()
            raise
        return delivery.commit()

    return maybeDeferred(write)
