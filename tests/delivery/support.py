# -*- test-case-name: tests.delivery.test_target -*-
"""
Shared fakes for the delivery tests: a users database that knows names
only, and a store that records each delivery and lets the test decide how
commits end.
"""
from __future__ import annotations

from typing import Iterable

from twisted.internet.defer import Deferred, fail, succeed
from zope.interface import implementer

from twisted_mail_suite.interfaces import IPendingDelivery, IUserDatabase


@implementer(IUserDatabase)
class NamesOnly:
    """
    Users who exist; C{lookup} gives a true value for them.
    """

    def __init__(self, *names: str) -> None:
        self._names = list(names)
        self.lookups: list[str] = []

    def lookup(self, name: str) -> object:
        self.lookups.append(name)
        return object() if name in self._names else None

    def names(self) -> list[str]:
        return list(self._names)


@implementer(IPendingDelivery)
class RecordedDelivery:
    """
    One delivery begun on a L{RecordingStore}; C{state} is C{"open"},
    C{"committed"} or C{"aborted"}.
    """

    def __init__(self, store: RecordingStore, users: list[str], sender: str, subject: str) -> None:
        self.store = store
        self.users = users
        self.sender = sender
        self.subject = subject
        self.chunks: list[bytes] = []
        self.state = "open"
        self.size = 0

    @property
    def data(self) -> bytes:
        return b"".join(self.chunks)

    def write(self, data: bytes) -> None:
        if self.store.failWrite is not None:
            raise self.store.failWrite
        self.chunks.append(data)
        self.size += len(data)

    def commit(self) -> Deferred:
        self.state = "committed"
        self.store.log.append("local commit")
        if self.store.failCommit is not None:
            return fail(self.store.failCommit)
        return succeed([f"uid-{user}" for user in self.users])

    def abort(self) -> None:
        if self.state == "open":
            self.state = "aborted"


class RecordingStore:
    """
    The delivery side of an C{IMailStore}, recording every C{beginDelivery}.

    @ivar failBegin: raised by C{beginDelivery} when set.
    @ivar failWrite: raised by C{write} when set.
    @ivar failCommit: the failure of C{commit} when set.
    """

    def __init__(self) -> None:
        self.deliveries: list[RecordedDelivery] = []
        self.log: list[str] = []
        self.deleted: list[tuple[str, list[str]]] = []
        self.failBegin: BaseException | None = None
        self.failWrite: BaseException | None = None
        self.failCommit: BaseException | None = None

    def beginDelivery(self, users: Iterable[str], sender: str = "", subject: str = "") -> RecordedDelivery:
        if self.failBegin is not None:
            raise self.failBegin
        delivery = RecordedDelivery(self, list(users), sender, subject)
        self.deliveries.append(delivery)
        return delivery

    def deleteMessages(self, user: str, uids: Iterable[str]) -> Deferred:
        self.deleted.append((user, list(uids)))
        return succeed(None)


class RecordingOutbound:
    """
    An C{IOutboundQueue} recording each message and the order of its
    phases in C{log}; C{failPrepare}/C{failCommit} make those phases fail.
    """

    def __init__(self, log: list[str] | None = None) -> None:
        self.log: list[str] = log if log is not None else []
        self.pending: list[RecordedOutbound] = []
        self.failPrepare: BaseException | None = None
        self.failCommit: BaseException | None = None

    def begin(self, sender: str, recipients: Iterable[str]) -> RecordedOutbound:
        pending = RecordedOutbound(self, sender, list(recipients))
        self.pending.append(pending)
        return pending


class RecordedOutbound:
    def __init__(self, outbound: RecordingOutbound, sender: str, recipients: list[str]) -> None:
        self.outbound = outbound
        self.sender = sender
        self.recipients = recipients
        self.chunks: list[bytes] = []
        self.state = "open"
        self.size = 0

    @property
    def data(self) -> bytes:
        return b"".join(self.chunks)

    def write(self, data: bytes) -> None:
        self.chunks.append(data)
        self.size += len(data)

    def prepare(self) -> Deferred:
        self.outbound.log.append("queue prepare")
        if self.outbound.failPrepare is not None:
            return fail(self.outbound.failPrepare)
        self.state = "prepared"
        return succeed(None)

    def commit(self) -> Deferred:
        self.outbound.log.append("queue commit")
        if self.outbound.failCommit is not None:
            return fail(self.outbound.failCommit)
        self.state = "committed"
        return succeed("QID")

    def abort(self) -> None:
        self.outbound.log.append("queue abort")
        if self.state != "committed":
            self.state = "aborted"
