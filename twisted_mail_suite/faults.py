# -*- test-case-name: tests.test_testing -*-
"""
Fault injection for L{twisted_mail_suite.testing}: a store whose commits can
fail or lag, an C{IMessageDelivery} wrapper that refuses chosen recipients,
and a watch on every protocol factory that can cut connections and lets the
harness close them all at stop.  Inactive faults cost one attribute check.
"""
from __future__ import annotations

import fnmatch
from typing import Any, Callable, Iterable, Pattern

from twisted.application.service import IService
from twisted.internet.defer import Deferred, fail, maybeDeferred
from twisted.internet.interfaces import IReactorTime
from twisted.internet.task import deferLater
from twisted.mail.smtp import IMessageDelivery
from zope.interface import implementer

from .errors import DeliveryFailed, ProtocolError
from .interfaces import IMailStore, IPendingDelivery
from .smtp.delivery import ISMTPDelivery, _addressText, recipientText


class Faults:
    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.failCount = 0
        self.failCode = 451
        self.delay = 0.0
        self.rejections: list[tuple[Callable[[str], bool], int]] = []
        self.dropAfter: int | None = None


@implementer(IPendingDelivery)
class _FaultyDelivery:
    def __init__(self, inner: IPendingDelivery, faults: Faults, clock: IReactorTime) -> None:
        self._inner = inner
        self._faults = faults
        self._clock = clock

    @property
    def size(self) -> int:
        return self._inner.size  # type: ignore[no-any-return]

    def write(self, data: bytes) -> None:
        self._inner.write(data)

    def abort(self) -> None:
        self._inner.abort()

    def commit(self) -> Deferred:
        faults = self._faults
        if faults.failCount > 0:
            faults.failCount -= 1
            self._inner.abort()
            return fail(DeliveryFailed("harness failDeliveries", status=faults.failCode))
        if faults.delay > 0:
            return deferLater(self._clock, faults.delay, self._inner.commit)
        return self._inner.commit()


@implementer(IMailStore, IService)
class FaultyStore:
    """
    The harness's store: the real one, with injectable faults at commit.
    Starting and stopping it starts and stops the real one.
    """

    def __init__(self, inner: Any, faults: Faults, clock: IReactorTime) -> None:
        self._inner = inner
        self._faults = faults
        self._clock = clock

    def beginDelivery(self, users: Iterable[str], sender: str = "", subject: str = "") -> _FaultyDelivery:
        return _FaultyDelivery(self._inner.beginDelivery(users, sender, subject), self._faults, self._clock)

    def listMessages(self, user: str) -> Deferred:
        return self._inner.listMessages(user)  # type: ignore[no-any-return]

    def readMessage(self, user: str, uid: str) -> Deferred:
        return self._inner.readMessage(user, uid)  # type: ignore[no-any-return]

    def markSeen(self, user: str, uids: Iterable[str]) -> Deferred:
        return self._inner.markSeen(user, uids)  # type: ignore[no-any-return]

    def deleteMessages(self, user: str, uids: Iterable[str]) -> Deferred:
        return self._inner.deleteMessages(user, uids)  # type: ignore[no-any-return]

    def privilegedStartService(self) -> None:
        IService(self._inner).privilegedStartService()

    def startService(self) -> None:
        IService(self._inner).startService()

    def stopService(self) -> Deferred:
        return maybeDeferred(IService(self._inner).stopService)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


@implementer(IMessageDelivery, ISMTPDelivery)
class _RejectingDelivery:
    """
    Wraps the realm's C{IMessageDelivery} avatar (our L{LocalDelivery},
    so also its C{ISMTPDelivery} side): recipients matching an injected
    pattern are refused with the injected code.
    """

    def __init__(self, inner: Any, faults: Faults) -> None:
        self._inner = inner
        self._faults = faults

    def _check(self, address: str) -> None:
        for matches, code in self._faults.rejections:
            if matches(address):
                raise ProtocolError(b"%d %s" % (code, b"5.1.1" if code >= 500 else b"4.2.0"),
                                    b"Recipient rejected (injected)", f"harness rejects {address}")

    def receivedHeader(self, helo: Any, origin: Any, recipients: Any, *args: Any, **kwargs: Any) -> Any:
        return self._inner.receivedHeader(helo, origin, recipients, *args, **kwargs)

    def validateFrom(self, helo: Any, origin: Any) -> Any:
        return self._inner.validateFrom(helo, origin)

    def validateTo(self, user: Any) -> Any:
        self._check(_addressText(user))
        return self._inner.validateTo(user)

    def checkRecipient(self, helo: Any, sender: bytes, address: bytes) -> Any:
        self._check(recipientText(address))
        return self._inner.checkRecipient(helo, sender, address)

    def resolve(self, address: str) -> Any:
        self._check(address)
        return self._inner.resolve(address)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


def matcher(pattern: str | Pattern[str]) -> Callable[[str], bool]:
    if isinstance(pattern, str):
        lowered = pattern.lower()
        return lambda address: fnmatch.fnmatchcase(address.lower(), lowered)
    return lambda address: pattern.search(address) is not None


def wrapRealm(realm: Any, store: IMailStore, faults: Faults) -> None:
    """
    Make C{realm} hand out deliveries over C{store} that honour the
    recipient faults.
    """
    realm.store = store
    original = realm.requestAvatar

    def requestAvatar(avatarId: Any, mind: Any, *interfaces: Any) -> Any:
        interface, avatar, logout = original(avatarId, mind, *interfaces)
        if interface is IMessageDelivery:
            avatar = _RejectingDelivery(avatar, faults)
        return interface, avatar, logout

    realm.requestAvatar = requestAvatar


def watchFactory(factory: Any, faults: Faults, connections: dict[Any, Deferred]) -> None:
    """
    Track every connection of C{factory} in C{connections} (protocol ->
    Deferred firing at connection loss) and apply the drop fault, without
    wrapping the transport.
    """
    build = factory.buildProtocol

    def buildProtocol(addr: Any) -> Any:
        protocol = build(addr)
        if protocol is None:
            return None
        closed: Deferred = Deferred()
        connections[protocol] = closed
        lost = protocol.connectionLost
        made = protocol.makeConnection
        received = protocol.dataReceived
        seen = [0]

        def connectionLost(reason: Any = None) -> Any:
            connections.pop(protocol, None)
            try:
                return lost(reason)
            finally:
                if not closed.called:
                    closed.callback(None)

        def makeConnection(transport: Any) -> Any:
            result = made(transport)
            if faults.dropAfter == 0:
                transport.abortConnection()
            return result

        def dataReceived(data: bytes) -> Any:
            if faults.dropAfter is not None:
                seen[0] += data.count(b"\n")
                if seen[0] >= faults.dropAfter:
                    protocol.transport.abortConnection()
                    return None
            return received(data)

        protocol.connectionLost = connectionLost
        protocol.makeConnection = makeConnection
        protocol.dataReceived = dataReceived
        return protocol

    factory.buildProtocol = buildProtocol
