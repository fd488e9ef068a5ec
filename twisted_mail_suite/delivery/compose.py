# -*- test-case-name: tests.delivery.test_compose -*-
"""
Messages the suite writes itself, delivered through the one
L{DeliveryTarget}: today the chat's offline mail (a private message to a
user who is not connected); later the relay's delivery status
notifications.
"""
from __future__ import annotations

from dataclasses import dataclass
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from typing import Iterable

from twisted.internet.defer import Deferred, maybeDeferred

from ..config import Config
from .router import LocalRoute, Route
from .target import DeliveryTarget

__all__ = ["ComposedMessage", "chatMail", "deliverComposed", "deliverChatMail"]


@dataclass(frozen=True)
class ComposedMessage:
    """
    A message ready to deliver.

    @ivar sender: the reverse path.
    @ivar subject: for the new-mail event.
    @ivar data: the whole message, CRLF lines.
    """

    sender: str
    subject: str
    data: bytes


def _phrase(text: str) -> str:
    """
    C{text} made safe as the words of a header: every run of white space or
    control characters is one space, and C{=?} (which a mail reader would
    decode as an RFC 2047 encoded word, in a quoted string too) is broken.
    """
    text = " ".join("".join(" " if not c.isprintable() else c for c in text).split())
    return text.replace("=?", "= ?")


def chatMail(config: Config, sender: str, recipient: str, text: str) -> ComposedMessage:
    """
    The mail carrying chat user C{sender}'s C{text} to local user
    C{recipient}: from C{chat@<hostname>} with C{"SENDER via chat"} as the
    display name (quoted or encoded as the name requires: never more
    than the one address), to C{recipient} at the first local domain.
    """
    name = _phrase(sender)
    message = EmailMessage()
    message["From"] = Address(display_name=f"{name} via chat", username="chat", domain=config.hostname)
    message["To"] = Address(username=recipient,
                            domain=config.domains[0] if config.domains else config.hostname)
    message["Subject"] = f"Chat message from {name}"
    message["Date"] = formatdate(localtime=False)
    message["Message-ID"] = make_msgid(domain=config.hostname)
    message.set_content(text + "\n")
    data = message.as_bytes(policy=message.policy.clone(linesep="\r\n"))
    return ComposedMessage(f"chat@{config.hostname}", str(message["Subject"]), data)


def deliverComposed(target: DeliveryTarget, message: ComposedMessage, routes: Iterable[Route]) -> Deferred:
    """
    Deliver C{message} to C{routes} in one transaction.

    @return: a Deferred firing with the new UIDs, or failing with nothing kept.
    """

    def deliver() -> Deferred:
        delivery = target.start(message.sender, message.subject)
        try:
            for route in routes:
                delivery.addRecipient(route)
            delivery.write(message.data)
        except BaseException:
            delivery.abort()
            raise
        return delivery.commit()

    return maybeDeferred(deliver)


def deliverChatMail(config: Config, target: DeliveryTarget, sender: str, recipient: str, text: str) -> Deferred:
    """
    Mail C{text} from chat user C{sender} to local user C{recipient}.

    @return: a Deferred firing with the new UIDs once the mail is durable.
    """
    return maybeDeferred(lambda: deliverComposed(
        target, chatMail(config, sender, recipient, text), [LocalRoute((recipient,))]))
