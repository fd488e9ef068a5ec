# -*- test-case-name: tests.smtp.test_delivery -*-
"""
What the SMTP protocol delivers through: L{ISMTPDelivery}, one per session
(anonymous for MX, a user's after AUTH), and our avatar L{LocalDelivery},
which provides it directly.  Recipients are routed by the
L{twisted_mail_suite.delivery.Router} and the message goes through the one
L{twisted_mail_suite.delivery.DeliveryTarget}: one two-phase store
transaction for all local recipients.

L{LocalDelivery} also keeps Twisted's C{IMessageDelivery} contract (the
realm hands it out; embedders and Twisted's own code rely on it).  Any
other C{IMessageDelivery} is seen through the one adapter in
L{twisted_mail_suite.smtp.adapter}.
"""
from __future__ import annotations

import ipaddress
import time
from email.utils import formatdate
from typing import Any, Sequence

from twisted.mail.smtp import IMessage, IMessageDelivery, SMTPBadSender
from zope.interface import Interface, implementer

from ..config import Config
from ..delivery import Delivery, DeliveryTarget, LocalRoute, Router
from ..errors import ProtocolError, UnknownRecipient
from ..interfaces import IMailStore, IPendingDelivery, IUserDatabase
from .address import isHeloDomain, neuterHelo

_date: list = [0, ""]


def _now() -> str:
    """
    The RFC 5322 date of this second (formatted once per second).
    """
    second = int(time.time())
    if _date[0] != second:
        _date[:] = [second, formatdate(second)]
    return _date[1]  # type: ignore[no-any-return]


class RelayDenied(ProtocolError):
    def __init__(self, address: str) -> None:
        super().__init__(b"550 5.7.1", b"Relaying denied", f"foreign recipient {address}")


class UnknownUser(ProtocolError):
    def __init__(self, address: str) -> None:
        super().__init__(b"550 5.1.1", b"Mailbox unavailable", f"no local user for {address}")


NOT_OWNED = b"Sender address rejected: not owned by authenticated user"


class SenderNotOwned(ProtocolError):
    """
    An authenticated user gave a MAIL FROM that is not theirs (Postfix's
    C{reject_sender_login_mismatch}: C{553 5.7.1}).
    """

    def __init__(self, address: str, user: str) -> None:
        super().__init__(b"553 5.7.1", NOT_OWNED, f"sender {address} not owned by user {user}")


def _addressLiteral(peer: str) -> str:
    """
    The RFC 5321 address literal of the client's address (C{[192.0.2.7]},
    C{[IPv6:2001:db8::7]}); a peer without an IP address (a UNIX socket)
    as its name, made safe.
    """
    try:
        ip = ipaddress.ip_address(peer)
    except ValueError:
        return neuterHelo(peer.encode("ascii", "replace")).decode("ascii")
    return f"[IPv6:{ip.compressed}]" if ip.version == 6 else f"[{ip}]"


def _addressText(address: object) -> str:
    """
    C{twisted.mail.smtp.User}, C{Address}, bytes or str -> C{local@domain}.
    """
    dest = getattr(address, "dest", address)
    if hasattr(dest, "local"):
        local, domain = dest.local, dest.domain
        local = local.decode("utf-8") if isinstance(local, bytes) else local
        domain = domain.decode("utf-8") if isinstance(domain, bytes) else domain
        return f"{local}@{domain}" if domain else local
    if isinstance(dest, bytes):
        return dest.decode("utf-8")
    return str(dest)


def recipientText(address: bytes) -> str:
    """
    A parsed RCPT address -> C{local@domain} (C{local} alone without a
    domain), as Twisted's C{User} for it would read through L{_addressText}.
    """
    local, at, domain = address.rpartition(b"@")
    if not at:
        return address.decode("utf-8")
    localText, domainText = local.decode("utf-8"), domain.decode("utf-8")
    return f"{localText}@{domainText}" if domainText else localText


class ISMTPDelivery(Interface):
    """
    The one interface the SMTP protocol delivers through, obtained once per
    login (see L{twisted_mail_suite.smtp.adapter.smtpDelivery}).  C{helo}
    is C{(heloName, peerHost)}; addresses are the bytes our parser accepted.
    A check refuses by raising (or failing with) a C{ProtocolError} or
    Twisted's C{SMTPBadSender}/C{SMTPBadRcpt}.
    """

    def checkSender(helo: tuple[bytes, bytes], sender: bytes) -> object:  # type: ignore[misc]
        """
        MAIL FROM (C{b""} for the null sender).

        @return: anything, or a Deferred: the sender is accepted when it fires.
        """

    def checkRecipient(helo: tuple[bytes, bytes], sender: bytes, address: bytes) -> object:  # type: ignore[misc]
        """
        RCPT TO.

        @return: the accepted recipient (opaque to the protocol, handed back
            to L{beginMessage}), or a Deferred firing with it.
        """

    def receivedField(helo: tuple[bytes, bytes], sender: bytes, recipients: Sequence[bytes],  # type: ignore[misc]
                      tls: str | None, withProtocol: str) -> bytes:
        """
        The C{Received:} field (RFC 5321 §4.4), without the final CRLF.

        @param tls: how TLS is used (for the field), or L{None}.
        @param withProtocol: C{"SMTP"}, C{"ESMTP"} or C{"UTF8SMTP"}.
        """

    def beginMessage(target: DeliveryTarget, sender: bytes, recipients: Sequence[object],  # type: ignore[misc]
                     subject: str) -> IPendingDelivery:
        """
        Start the message for the accepted C{recipients}; C{target} is the
        server's delivery target.  The protocol writes the whole text
        (trace fields first) and commits (the Deferred fires with UIDs, the
        first one names the message in the reply) or aborts.
        """


@implementer(IMessage)
class StoreMessage:
    """
    Twisted's line-at-a-time C{IMessage} over one delivery: the slow path,
    for callers that speak Twisted's contract.  Our SMTP protocol writes
    whole chunks through L{ISMTPDelivery.beginMessage} instead.
    """

    def __init__(self, delivery: IPendingDelivery) -> None:
        self._delivery = delivery

    def lineReceived(self, line: bytes) -> None:
        self._delivery.write(line + b"\r\n")

    def eomReceived(self):  # type: ignore[no-untyped-def]
        return self._delivery.commit().addCallback(lambda uids: uids[0])

    def connectionLost(self) -> None:
        self._delivery.abort()


class LocalRecipient:
    """
    What C{validateTo} returns: a callable giving an C{IMessage} (Twisted's
    contract) that also names the local users (C{users}) the recipient
    resolves to.
    """

    def __init__(self, address: str, route: LocalRoute, target: DeliveryTarget) -> None:
        self.address = address
        self.route = route
        self._target = target

    @property
    def users(self) -> tuple[str, ...]:
        return self.route.users

    def __call__(self) -> StoreMessage:
        delivery = self._target.start()
        delivery.addRecipient(self.route)
        return StoreMessage(delivery)


@implementer(IMessageDelivery, ISMTPDelivery)
class LocalDelivery:
    """
    @ivar user: the authenticated user name, or L{None} (MX, anonymous).
    @ivar router: where recipients go (built from C{config} and C{users}
        unless given).
    @param target: the delivery target of Twisted's C{validateTo} path
        (one over C{store} unless given: share one between avatars).
    """

    def __init__(self, config: Config, store: IMailStore, users: IUserDatabase, user: str | None,
                 router: Router | None = None, target: DeliveryTarget | None = None) -> None:
        self.config = config
        self.store = store
        self.users = users
        self.user = user
        self.router = router if router is not None else Router.fromConfig(config, users)
        self._target = target if target is not None else DeliveryTarget(store)
        self._receivedLead: tuple[tuple, str] | None = None

    def route(self, address: str, relay: bool = False) -> Any:
        """
        The local route of C{address} (aliases, subaddress, catch-all), or
        with C{relay} its remote route for a foreign domain.

        @raise RelayDenied: for a foreign domain without C{relay}.
        @raise UnknownUser: for a local address nobody receives.
        """
        try:
            route = self.router.route(address)
        except UnknownRecipient:
            raise UnknownUser(address) from None
        if not isinstance(route, LocalRoute) and not relay:
            raise RelayDenied(address)
        return route

    def resolve(self, address: str) -> tuple[str, ...]:
        """
        The local users C{address} delivers to; see L{route}.
        """
        return self.route(address).users

    # ISMTPDelivery: what our SMTP protocol calls.

    def checkSender(self, helo: tuple[bytes, bytes], sender: bytes) -> object:
        """
        Anonymous (MX): any sender, including the null sender C{<>}.
        Authenticated: see L{ownsSender}.

        @raise SenderNotOwned: the user may not send as C{sender}.
        """
        if self.user is not None and sender:
            address = sender.decode("utf-8", "replace")
            if not self.ownsSender(address):
                raise SenderNotOwned(address, self.user)
        return sender

    def ownsSender(self, address: str) -> bool:
        """
        May this session use C{address} as its MAIL FROM?  Anyone may when
        anonymous, or when C{submission.sender_login_mismatch} is
        C{allow}.  Otherwise only an address delivered to this user
        (L{Router.route}: their name at any local domain, a subaddress of
        it, an alias listing them, and the catch-all's unclaimed local
        addresses for the catch-all user) or the null sender.
        """
        user = self.user
        if user is None or not address or self.config.submission.sender_login_mismatch == "allow":
            return True
        try:
            route = self.router.route(address)
        except UnknownRecipient:
            return False
        if not isinstance(route, LocalRoute):
            return False
        user = user.lower()
        return any(name.lower() == user for name in route.users)

    def checkRecipient(self, helo: tuple[bytes, bytes], sender: bytes, address: bytes) -> Any:
        # Outbound relay: only for an authenticated user, never for anonymous MX clients.
        return self.route(recipientText(address), relay=self.user is not None and self.config.relay.mode != "off")

    def receivedField(self, helo: tuple[bytes, bytes], sender: bytes, recipients: Sequence[bytes],
                      tls: str | None, withProtocol: str) -> bytes:
        return self.receivedHeader(helo, sender, recipients, tls=tls, protocol=withProtocol)

    def beginMessage(self, target: DeliveryTarget, sender: bytes, recipients: Sequence[object],
                     subject: str) -> Delivery:
        delivery = target.start(sender.decode("utf-8", "replace"), subject)
        for route in recipients:
            delivery.addRecipient(route)  # type: ignore[arg-type]
        return delivery

    # IMessageDelivery: Twisted's contract.

    def receivedHeader(self, helo: tuple, origin: object, recipients: Sequence[object],
                       tls: str | None = None, protocol: str = "ESMTP") -> bytes:
        """
        The C{Received:} field (RFC 5321 §4.4), noting TLS and AUTH.

        The client's EHLO name is never taken as it came: made safe
        (L{neuterHelo}: one token, no comment, no C{;}, no 8-bit), it
        stands in the C{from} clause only if it is a domain or an address
        literal (C{from mail.example.org ([192.0.2.7])}); otherwise the
        client's address literal does and the name follows in the comment
        (C{from [192.0.2.7] ([192.0.2.7] helo=x?authenticated?as?bob?)}).
        """
        heloName, peer = helo
        key = (heloName, peer, tls, protocol)
        cached = self._receivedLead
        if cached is None or cached[0] != key:
            cached = self._receivedLead = (key, self._receivedLeadFor(heloName, peer, tls, protocol))
        lead = cached[1]
        if len(recipients) == 1:
            lead += f"\r\n\tfor <{_addressText(recipients[0])}>"
        return (lead + f";\r\n\t{_now()}").encode("utf-8", "replace")

    def _receivedLeadFor(self, heloName: object, peer: object, tls: str | None, protocol: str) -> str:
        """
        The clauses of the C{Received:} field that stay the same for the
        whole session (up to C{with}), built at its first message and kept
        (L{_receivedLead}).
        """
        name = neuterHelo(heloName if isinstance(heloName, bytes) else str(heloName).encode("utf-8"))
        peer = peer.decode("ascii", "replace") if isinstance(peer, bytes) else str(peer)
        with_ = protocol + ("S" if tls else "") + ("A" if self.user else "")
        if name and isHeloDomain(name):
            parts = [f"from {name.decode('ascii')} ([{peer}])"]
        elif name:
            parts = [f"from {_addressLiteral(peer)} ([{peer}] helo={name.decode('ascii')})"]
        else:
            parts = [f"from {_addressLiteral(peer)} ([{peer}])"]
        if tls:
            parts.append(f"(using {tls})")
        if self.user:
            parts.append(f"(authenticated as {self.user})")
        parts.append(f"by {self.config.hostname} (twisted-mail-suite) with {with_}")
        return "Received: " + "\r\n\t".join(parts)

    def validateFrom(self, helo: tuple, origin: object) -> object:
        """
        As L{checkSender}, for Twisted's contract.

        @raise SMTPBadSender: (C{553 5.7.1}) the user may not send as
            C{origin}.
        """
        if not self.ownsSender(_addressText(origin)):
            raise SMTPBadSender(origin, 553, "5.7.1 " + NOT_OWNED.decode("ascii"))
        return origin

    def validateTo(self, user: object) -> LocalRecipient:
        address = _addressText(user)
        return LocalRecipient(address, self.route(address), self._target)


def tlsDescription(transport: Any) -> str:
    """
    C{"TLSv1.3 with cipher TLS_AES_256_GCM_SHA384"} for the Received field.
    """
    try:
        handle = transport.getHandle()
        return f"{handle.get_protocol_version_name()} with cipher {handle.get_cipher_name()}"
    except Exception:
        return "TLS"
