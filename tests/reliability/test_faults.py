# -*- test-case-name: tests.reliability.test_faults -*-
"""
Store faults during SMTP delivery (disk full, permission refused),
simulated through the store interface and in the real Maildir store: the
client gets 451, nothing of the message is left in C{new/}, C{cur/} or
C{tmp/} of any recipient, the connection stays usable, and another
client is served meanwhile.
"""
from __future__ import annotations

import errno
import os
from typing import Any

from twisted.internet.error import ConnectionDone
from twisted.python.failure import Failure
from twisted.trial.unittest import SynchronousTestCase
from zope.interface import implementer

from twisted_mail_suite.interfaces import IMailStore, IPendingDelivery

from ..fakes import maildirOf, makeSuite, makeSuiteAround, peerTransport

HEAD = (b"MAIL FROM:<s@remote.test>\r\nRCPT TO:<alice@example.test>\r\nRCPT TO:<bob@example.test>\r\n"
        b"DATA\r\n")
ALICE_ONLY = b"MAIL FROM:<n@remote.test>\r\nRCPT TO:<alice@example.test>\r\nDATA\r\n"


def message(token: bytes, lines: int = 10) -> bytes:
    return (b"Subject: fault\r\nX-Token: " + token + b"\r\n\r\n"
            + b"a line of the message body, long enough\r\n" * lines + b".\r\n")


@implementer(IPendingDelivery)
class FailingDelivery:
    """
    A pending delivery of the real store that fails at a chosen point with
    a chosen C{OSError}.
    """

    def __init__(self, inner: Any, failAt: str, error: OSError, afterOctets: int) -> None:
        self._inner = inner
        self._failAt = failAt
        self._error = error
        self._afterOctets = afterOctets

    @property
    def size(self) -> int:
        return self._inner.size  # type: ignore[no-any-return]

    def write(self, data: bytes) -> None:
        if self._failAt == "write" and self._inner.size + len(data) > self._afterOctets:
            raise self._error
        self._inner.write(data)

    def commit(self) -> Any:
        return self._inner.commit()

    def abort(self) -> None:
        self._inner.abort()


@implementer(IMailStore)
class FailingStore:
    """
    The real store behind the interface, with one fault armed at a time
    for deliveries that include bob (his Maildir is on a full or read-only
    disk); alice's deliveries go through.
    """

    def __init__(self, inner: Any) -> None:
        self._inner = inner
        self.failAt: str | None = None
        self.error: OSError = OSError(errno.ENOSPC, "No space left on device")
        self.afterOctets = 0
        self.begun: list[Any] = []

    def beginDelivery(self, users: Any, sender: str = "", subject: str = "") -> Any:
        armed = "bob" in users
        if self.failAt == "begin" and armed:
            from twisted_mail_suite.errors import DeliveryFailed

            raise DeliveryFailed(f"cannot create tmp file: {self.error}")
        pending = self._inner.beginDelivery(users, sender, subject)
        self.begun.append(pending)
        if self.failAt == "write" and armed:
            return FailingDelivery(pending, "write", self.error, self.afterOctets)
        return pending

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


class StoreFaultTests(SynchronousTestCase):
    """
    Each fault: 451, nothing half-written, the same connection and other
    clients go on.
    """

    def setUp(self) -> None:
        self.suite, self.store = makeSuiteAround(self, FailingStore)
        self.mailDir = self.suite.config.mailDir
        self.guilty = self.connect("192.0.2.1")
        self.normal = self.connect("192.0.2.2")

    def connect(self, host: str) -> tuple[Any, Any]:
        transport = peerTransport(host)
        protocol = self.suite.factories["smtp"].buildProtocol(transport.getPeer())
        protocol.makeConnection(transport)
        protocol.dataReceived(b"EHLO client.test\r\n")
        transport.clear()
        return protocol, transport

    def send(self, client: tuple[Any, Any], data: bytes) -> list[bytes]:
        protocol, transport = client
        protocol.dataReceived(data)
        replies = transport.value().split(b"\r\n")[:-1]
        transport.clear()
        return replies

    def files(self, sub: str) -> list[str]:
        found = []
        for user in os.listdir(self.mailDir):
            folder = os.path.join(self.mailDir, user, sub)
            if os.path.isdir(folder):
                found.extend(os.listdir(folder))
        return found

    def tokens(self) -> list[bytes]:
        found = []
        for user in ("alice", "bob"):
            maildir = maildirOf(self.suite)
            for stored in maildir.storedMessages(user):
                with maildir.openStored(user, stored.uid) as f:
                    found.extend(line for line in f.read().split(b"\n") if line.startswith(b"X-Token: "))
        return sorted(found)

    def assertFaultContained(self, lines: int = 10, globalFault: bool = False) -> None:
        """
        The guilty transaction (to alice and bob) gets 451 and leaves
        nothing anywhere, while the normal client, in the middle of its own
        transaction (to alice), is served: at once when the fault concerns
        bob's Maildir, once it clears when it concerns the whole disk.
        Then the guilty connection delivers normally.
        """
        self.assertEqual(self.send(self.normal, ALICE_ONLY)[-1][:3], b"354")
        replies = self.send(self.guilty, HEAD + message(b"faulty", lines))
        self.assertEqual(replies[-1][:4], b"451 ", replies)
        self.assertEqual(self.files("new") + self.files("cur") + self.files("tmp"), [])
        if globalFault:
            self.clearFault()
        self.assertEqual(self.send(self.normal, message(b"normal"))[-1][:4], b"250 ")
        self.clearFault()
        self.assertEqual(self.send(self.guilty, HEAD + message(b"after"))[-1][:4], b"250 ")
        self.assertEqual(self.tokens(), [b"X-Token: after"] * 2 + [b"X-Token: normal"])
        self.assertEqual(self.files("tmp"), [])
        for protocol, _ in (self.guilty, self.normal):
            protocol.connectionLost(Failure(ConnectionDone()))

    def clearFault(self) -> None:
        self.store.failAt = None
        self.store.error = OSError(errno.ENOSPC, "cleared")

    def test_noSpaceAtBegin(self) -> None:
        """
        The store cannot even start the delivery (no space for the tmp file): 451.
        """
        self.store.failAt = "begin"
        self.assertFaultContained()

    def test_noSpaceWhileWriting(self) -> None:
        """
        The disk fills up in the middle of a big message that streams into
        C{tmp/}: 451, and the partial file is gone.
        """
        self.store.failAt = "write"
        self.store.afterOctets = 400_000
        self.assertFaultContained(lines=12_000)

    def test_noSpaceAtFsync(self) -> None:
        """
        The real Maildir store's fsync fails with ENOSPC: 451, and the file
        written so far is removed.
        """
        def failingFsync(fd: int) -> None:
            if self.store.error.strerror != "cleared":
                raise OSError(errno.ENOSPC, "No space left on device")
            os.fsync(fd)

        maildirOf(self.suite).fsync = failingFsync
        self.assertFaultContained(globalFault=True)

    def test_permissionRefusedForOneRecipient(self) -> None:
        """
        Naming the message in the second recipient's C{new/} fails (a
        permission or I/O error there): 451, and the first recipient's copy
        is taken back too, so nobody has a message the client will resend.
        """
        inner = maildirOf(self.suite)
        bobNew = os.path.join(inner.ensureMaildir("bob"), "new")
        inner.ensureMaildir("alice")
        realLink = os.link
        bobFolder = os.stat(bobNew).st_ino

        def link(source: Any, target: Any, *args: Any, **kwargs: Any) -> None:
            folder = kwargs.get("dst_dir_fd")       # the store names files relative to its folders' descriptors
            inBob = str(target).startswith(bobNew) or (folder is not None and os.fstat(folder).st_ino == bobFolder)
            if self.store.error.strerror != "cleared" and inBob:
                raise PermissionError(errno.EACCES, "Permission denied", str(target))
            realLink(source, target, *args, **kwargs)

        self.patch(os, "link", link)
        self.assertFaultContained()
