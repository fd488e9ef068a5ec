# -*- test-case-name: tests.smtp.test_delivery -*-
"""
The realm's C{IMessageDelivery} avatar: who may send, who may receive, and
the header each delivered message gets.  Anonymous for MX, a user's after
AUTH.  Delivery itself is one two-phase store transaction for all local
recipients (see L{LocalRecipient}).
"""
from __future__ import annotations

import inspect
import time
from email.utils import formatdate
from typing import Any, Sequence

from twisted.internet.defer import Deferred, gatherResults, maybeDeferred
from twisted.mail.smtp import Address, IMessage, IMessageDelivery, User
from zope.interface import implementer

from ..config import Config
from ..errors import DeliveryFailed, ProtocolError
from ..interfaces import IMailStore, IPendingDelivery, IUserDatabase

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


@implementer(IMessage)
class StoreMessage:
    """
    Twisted's line-at-a-time C{IMessage} over one store delivery: the slow
    path, for callers that speak Twisted's contract.  Our SMTP protocol
    writes whole chunks to L{LocalRecipient.users} through the store instead.
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
    resolves to, so a protocol can deliver to all of them in one transaction.
    """

    def __init__(self, address: str, users: tuple[str, ...], store: IMailStore) -> None:
        self.address = address
        self.users = users
        self._store = store

    def __call__(self) -> StoreMessage:
        return StoreMessage(self._store.beginDelivery(self.users))


@implementer(IMessageDelivery)
class LocalDelivery:
    """
    @ivar user: the authenticated user name, or L{None} (MX, anonymous).
    """

    def __init__(self, config: Config, store: IMailStore, users: IUserDatabase, user: str | None) -> None:
        self.config = config
        self.store = store
        self.users = users
        self.user = user

    def resolve(self, address: str) -> tuple[str, ...]:
        """
        The local users C{address} delivers to (aliases, catch-all).

        @raise RelayDenied: for a foreign domain (no outbound relay yet).
        @raise UnknownUser: for a local address nobody receives.
        """
        local, at, domain = address.rpartition("@")
        if not at:
            local, domain = address, ""
        key = local.lower()
        barePostmaster = not domain and key == "postmaster"     # RFC 5321 §4.5.1
        if not barePostmaster and not (domain and self.config.isLocalDomain(domain)):
            raise RelayDenied(address)
        for candidate in (f"{key}@{domain.lower()}", key):
            if candidate in self.config.aliases:
                return tuple(t for t in self.config.aliases[candidate])
        if self.users.lookup(key) is not None:
            return (key,)
        base = key.split("+", 1)[0]          # subaddress: alice+tag -> alice
        if base != key and self.users.lookup(base) is not None:
            return (base,)
        if self.config.catch_all:
            return (self.config.catch_all,)
        raise UnknownUser(address)

    def receivedHeader(self, helo: tuple, origin: object, recipients: Sequence[object],
                       tls: str | None = None, protocol: str = "ESMTP") -> bytes:
        """
        The C{Received:} field (RFC 5321 §4.4), noting TLS and AUTH.
        """
        heloName, peer = helo
        heloName = heloName.decode("ascii", "replace") if isinstance(heloName, bytes) else str(heloName)
        peer = peer.decode("ascii", "replace") if isinstance(peer, bytes) else str(peer)
        with_ = protocol + ("S" if tls else "") + ("A" if self.user else "")
        parts = [f"from {heloName} ([{peer}])"]
        if tls:
            parts.append(f"(using {tls})")
        if self.user:
            parts.append(f"(authenticated as {self.user})")
        parts.append(f"by {self.config.hostname} (twisted-mail-suite) with {with_}")
        if len(recipients) == 1:
            parts.append(f"for <{_addressText(recipients[0])}>")
        header = "Received: " + "\r\n\t".join(parts) + f";\r\n\t{_now()}"
        return header.encode("utf-8", "replace")

    def validateFrom(self, helo: tuple, origin: object) -> object:
        """
        Any sender, including the null sender C{<>}, is accepted.
        """
        return origin

    def validateTo(self, user: object) -> LocalRecipient:
        address = _addressText(user)
        return LocalRecipient(address, self.resolve(address), self.store)


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


def tlsDescription(transport: Any) -> str:
    """
    C{"TLSv1.3 with cipher TLS_AES_256_GCM_SHA384"} for the Received field.
    """
    try:
        handle = transport.getHandle()
        return f"{handle.get_protocol_version_name()} with cipher {handle.get_cipher_name()}"
    except Exception:
        return "TLS"


_traceOptions: dict[type, bool] = {}


def acceptsTraceOptions(avatar: Any) -> bool:
    """
    Does C{avatar.receivedHeader} take our C{tls=} and C{protocol=}
    keywords (beyond Twisted's three arguments)?
    """
    kind = type(avatar)
    if kind not in _traceOptions:
        try:
            parameters = inspect.signature(avatar.receivedHeader).parameters
        except (TypeError, ValueError):
            _traceOptions[kind] = False
        else:
            _traceOptions[kind] = "tls" in parameters or any(
                p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values())
    return _traceOptions[kind]


def traceFields(avatar: Any, envelope: Any, helo: tuple[bytes, bytes], protocol: object,
                tls: str | None, extended: bool) -> bytes:
    """
    C{Return-Path:} and C{Received:} for a message of C{envelope}, from the
    avatar's C{receivedHeader} (told about TLS and the protocol when it
    takes those keywords, as L{LocalDelivery} does).
    """
    options = {"tls": tls, "protocol": ("UTF8SMTP" if envelope.utf8 else "ESMTP") if extended else "SMTP"}
    if isinstance(avatar, LocalDelivery):
        received = avatar.receivedHeader(helo, envelope.sender, envelope.recipients, **options)
    else:
        arguments = (helo, twistedAddress(envelope.sender),
                     [twistedUser(address, helo, protocol, envelope.sender) for address in envelope.recipients])
        if not acceptsTraceOptions(avatar):
            options = {}
        received = avatar.receivedHeader(*arguments, **options)
    return b"Return-Path: <" + envelope.sender + b">\r\n" + received + b"\r\n"
