# -*- test-case-name: tests.smtp.test_delivery -*-
"""
The edge where our SMTP server meets an embedder's Twisted
C{IMessageDelivery}: L{smtpDelivery} turns the avatar a login gave into
the L{ISMTPDelivery} the protocol uses, once per login.  Our own
L{LocalDelivery} provides that interface and passes through unchanged;
anything else is wrapped in L{MessageDeliveryAdapter}, which speaks
Twisted's contract (C{Address}/C{User} objects, one line-at-a-time
C{IMessage} per recipient).
"""
from __future__ import annotations

import inspect
from typing import Any, Sequence

from twisted.internet.defer import Deferred, gatherResults, maybeDeferred
from twisted.mail.smtp import Address, IMessage, User
from zope.interface import implementer

from ..delivery import DeliveryTarget
from ..errors import DeliveryFailed
from ..interfaces import IPendingDelivery
from .delivery import ISMTPDelivery

__all__ = ["smtpDelivery", "MessageDeliveryAdapter", "MessagesDelivery", "twistedAddress", "twistedUser"]


def smtpDelivery(avatar: Any, protocol: object) -> ISMTPDelivery:
    """
    What the SMTP C{protocol} delivers through for C{avatar} (the avatar a
    login returned for C{IMessageDelivery}).
    """
    delivery = ISMTPDelivery(avatar, None)
    if delivery is None:
        delivery = MessageDeliveryAdapter(avatar, protocol)
    return delivery


def twistedAddress(address: bytes) -> Address:
    """
    A C{twisted.mail.smtp.Address} for an address our parser already
    checked, built without Twisted's parser (which refuses UTF-8 and
    address literals and invents a domain for C{postmaster}).
    """
    result = Address.__new__(Address)
    local, at, domain = address.rpartition(b"@")
    if not at:
        local, domain = address, b""
    result.local, result.domain, result.addrstr = local, domain, address
    return result


def twistedUser(address: bytes, helo: tuple, protocol: object, origin: bytes) -> User:
    """
    The C{twisted.mail.smtp.User} that C{IMessageDelivery.validateTo} expects.
    """
    user = User.__new__(User)
    user.dest = twistedAddress(address)
    user.helo = helo
    user.protocol = protocol
    user.orig = twistedAddress(origin)
    return user


def _takesTraceOptions(avatar: Any) -> bool:
    """
    Does C{avatar.receivedHeader} take our C{tls=} and C{protocol=}
    keywords beyond Twisted's three arguments (as a wrapper of
    L{LocalDelivery} may)?
    """
    try:
        parameters = inspect.signature(avatar.receivedHeader).parameters
    except (TypeError, ValueError):
        return False
    return "tls" in parameters or any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values())


@implementer(ISMTPDelivery)
class MessageDeliveryAdapter:
    """
    An embedder's C{IMessageDelivery} seen as an L{ISMTPDelivery}: checks go
    to C{validateFrom}/C{validateTo} with Twisted's C{Address}/C{User}
    objects (C{User.protocol} is the SMTP protocol, as Twisted's relay
    expects); the accepted recipients are C{validateTo}'s C{IMessage}
    factories, fed through L{MessagesDelivery} (the server's delivery
    target is not used: the avatar's messages deliver themselves).

    Whether C{receivedHeader} is told about TLS and the protocol is decided
    once, here.
    """

    def __init__(self, avatar: Any, protocol: object) -> None:
        self.avatar = avatar
        self._protocol = protocol
        self._traceOptions = _takesTraceOptions(avatar)

    def checkSender(self, helo: tuple[bytes, bytes], sender: bytes) -> object:
        return self.avatar.validateFrom(helo, twistedAddress(sender))

    def checkRecipient(self, helo: tuple[bytes, bytes], sender: bytes, address: bytes) -> object:
        return self.avatar.validateTo(twistedUser(address, helo, self._protocol, sender))

    def receivedField(self, helo: tuple[bytes, bytes], sender: bytes, recipients: Sequence[bytes],
                      tls: str | None, withProtocol: str) -> bytes:
        users = [twistedUser(address, helo, self._protocol, sender) for address in recipients]
        if self._traceOptions:
            return self.avatar.receivedHeader(helo, twistedAddress(sender), users, tls=tls,  # type: ignore[no-any-return]
                                              protocol=withProtocol)
        return self.avatar.receivedHeader(helo, twistedAddress(sender), users)  # type: ignore[no-any-return]

    def beginMessage(self, target: DeliveryTarget, sender: bytes, recipients: Sequence[object],
                     subject: str) -> MessagesDelivery:
        return MessagesDelivery([recipient() for recipient in recipients])  # type: ignore[operator]


@implementer(IPendingDelivery)
class MessagesDelivery:
    """
    An L{IPendingDelivery} over Twisted's C{IMessage} objects (one per
    recipient), for an C{IMessageDelivery} that is not ours: the text is
    split into lines for C{lineReceived}; commit is C{eomReceived} on all.
    """

    def __init__(self, messages: Sequence[IMessage]) -> None:
        self._messages = list(messages)
        self._partial = b""
        self._finished = False
        self.size = 0

    def write(self, data: bytes) -> None:
        self.size += len(data)
        lines = (self._partial + data).split(b"\r\n")
        self._partial = lines.pop()
        for message in self._messages:
            for line in lines:
                message.lineReceived(line)

    def commit(self) -> Deferred:
        if self._partial:
            for message in self._messages:
                message.lineReceived(self._partial)
            self._partial = b""
        self._finished = True
        d = gatherResults([maybeDeferred(m.eomReceived) for m in self._messages], consumeErrors=True)

        def failed(failure):  # type: ignore[no-untyped-def]
            for message in self._messages:
                message.connectionLost()
            raise DeliveryFailed(f"IMessage delivery failed: {failure.value!r}")

        return d.addCallbacks(lambda results: [str(r) for r in results], failed)

    def abort(self) -> None:
        if self._finished:
            return
        self._finished = True
        for message in self._messages:
            message.connectionLost()
