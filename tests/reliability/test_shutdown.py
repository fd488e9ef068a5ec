# -*- test-case-name: tests.reliability.test_shutdown -*-
"""
Graceful shutdown of a real C{twistd -n mailsuite} on SIGTERM, with
transactions in flight: the listeners close first; a message whose text
is being received is finished, made durable and acknowledged; an idle
SMTP session gets 421; a transaction that does not finish within
C{shutdown_timeout} gets 421 and nothing of it is kept (not even in
C{tmp/});
a chat member gets a closing system line; and the process exits within
a bounded time.
"""
from __future__ import annotations

import os
import signal
import time
from typing import Any

from twisted.internet import defer, error, reactor
from twisted.internet.error import ConnectionDone
from twisted.internet.task import deferLater
from twisted.internet.threads import deferToThread
from twisted.python.failure import Failure
from twisted.trial.unittest import SynchronousTestCase, TestCase

from twisted_mail_suite.net.lifecycle import ABANDON_GRACE

from twisted_mail_suite.testing.process import SuiteProcess

from ..fakes import ROOT, makeSuite, makeSuiteAround, peerTransport
from ..smtp.helpers import ManualCommitStore
from .support import connect, writeConfig

SHUTDOWN_TIMEOUT = 3.0
CONFIG = f"""\
hostname: mx.example.test
domains: [example.test]
data_dir: ./data
shutdown_timeout: {SHUTDOWN_TIMEOUT}
smtp: {{listen: ["tcp:0:interface=127.0.0.1"]}}
submission: {{listen: []}}
pop3: {{listen: ["tcp:0:interface=127.0.0.1"]}}
chat: {{listen: ["tcp:0:interface=127.0.0.1"]}}
"""
HEAD = (b"EHLO client.test\r\nMAIL FROM:<s@remote.test>\r\nRCPT TO:<alice@example.test>\r\n"
        b"RCPT TO:<bob@example.test>\r\nDATA\r\n")


def allFiles(dataDir: str, sub: str) -> list[str]:
    mail = os.path.join(dataDir, "mail")
    found = []
    for user in os.listdir(mail) if os.path.isdir(mail) else []:
        folder = os.path.join(mail, user, sub)
        if os.path.isdir(folder):
            found.extend(os.path.join(folder, name) for name in os.listdir(folder))
    return found


class GracefulShutdownTests(TestCase):
    timeout = 60

    @defer.inlineCallbacks
    def test_sigtermWithTransactionsInFlight(self) -> Any:
        """
        SIGTERM: listeners close, the message in DATA completes durably
        (250), idle sessions get 421, a stalled transaction gets 421 and
        keeps nothing,
        chat members are told, and twistd exits within shutdown_timeout
        plus a margin.
        """
        config = writeConfig(self, CONFIG)
        dataDir = os.path.join(os.path.dirname(config), "data")
        child = SuiteProcess(config, pythonPath=ROOT)
        self.addCleanup(child.kill)
        yield deferToThread(child.start)
        ports = child.ports

        finishing = yield connect(ports["smtp"])           # will finish its message after SIGTERM
        finishing.send(HEAD + b"Subject: finishing\r\nX-Token: finishing-token\r\n\r\nfirst half\r\n")
        yield finishing.waitFor(b"354 ")
        idle = yield connect(ports["smtp"])
        idle.send(b"EHLO idle.test\r\n")
        yield idle.waitFor(b"250 ")
        stalled = yield connect(ports["smtp"])              # spills to tmp/, never ends
        stalled.send(HEAD + b"Subject: stalled\r\nX-Token: stalled-token\r\n\r\n"
                     + b"a line of a big message that never ends\r\n" * 10000)
        yield stalled.waitFor(b"354 ")
        chat = yield connect(ports["chat"])
        yield chat.waitFor(b"welcome")
        pop3 = yield connect(ports["pop3"])
        yield pop3.waitFor(b"+OK")
        yield self.until(lambda: allFiles(dataDir, "tmp"))   # the big one is being written

        began = time.monotonic()
        os.kill(child.pid, signal.SIGTERM)
        yield self.until(lambda: b"(TCP Port %d Closed)" % ports["smtp"] in child.output)
        try:
            late = yield connect(ports["smtp"])
        except error.ConnectionRefusedError:
            pass
        else:
            late.transport.abortConnection()
            self.fail("the SMTP listener still accepts after SIGTERM")

        finishing.send(b"second half\r\n.\r\n")
        replies = yield finishing.lost
        self.assertRegex(replies, rb"\r\n250 [^\r]*\r\n421 ")
        idleReplies = yield idle.lost
        self.assertTrue(idleReplies.endswith(b"\r\n") and b"\r\n421 " in idleReplies, idleReplies)
        chatLines = yield chat.lost
        self.assertIn(b"*** the chat server is shutting down\n", chatLines)
        pop3Lines = yield pop3.lost
        self.assertTrue(pop3Lines.startswith(b"+OK"), pop3Lines)
        stalledReplies = yield stalled.lost

        status = yield deferToThread(child.wait, SHUTDOWN_TIMEOUT + 10)
        elapsed = time.monotonic() - began
        self.assertIn(status, [0, -signal.SIGTERM])
        self.assertLess(elapsed, SHUTDOWN_TIMEOUT + 5, "twistd took too long to exit")
        if os.environ.get("MAILSUITE_SHOW_FIGURES"):
            print(f"\nSIGTERM to exit: {elapsed:.2f} s (shutdown_timeout {SHUTDOWN_TIMEOUT} s)")
        self.assertNotIn(b"250 ", stalledReplies.split(b"354 ", 1)[1])

        stored = [open(path, "rb").read() for path in allFiles(dataDir, "new") + allFiles(dataDir, "cur")]
        self.assertEqual(len(stored), 2)                     # alice and bob
        for content in stored:
            self.assertIn(b"X-Token: finishing-token\n", content)
            self.assertTrue(content.endswith(b"\n\nfirst half\nsecond half\n"), content[-100:])
        self.assertEqual(allFiles(dataDir, "tmp"), [])
        self.assertIn(b"\r\n421 ", stalledReplies.split(b"354 ", 1)[1], "no 421 for the stalled transaction")

    @defer.inlineCallbacks
    def until(self, condition: Any, limit: float = 20.0) -> Any:
        """
        Poll C{condition} (real time: this is a real child process).
        """
        deadline = time.monotonic() + limit
        while not condition():
            if time.monotonic() > deadline:
                self.fail("condition not reached in time")
            yield deferLater(reactor, 0.05, lambda: None)


class DrainTimeoutTests(SynchronousTestCase):
    """
    The SMTP side of the shutdown timeout, on a fake clock: what is still
    busy when C{shutdown_timeout} passes.
    """

    def setUp(self) -> None:
        self.suite = makeSuite(self)
        self.factory = self.suite.factories["smtp"]

    def connect(self) -> tuple[Any, Any]:
        transport = peerTransport()
        protocol = self.factory.buildProtocol(transport.getPeer())
        protocol.makeConnection(transport)
        protocol.dataReceived(b"EHLO c.test\r\nMAIL FROM:<a@b.test>\r\nRCPT TO:<alice@example.test>\r\nDATA\r\n")
        transport.clear()
        return protocol, transport

    def test_stalledTransactionGets421(self) -> None:
        """
        A message still being received when the timeout passes is dropped:
        the client gets 421 4.3.2, the connection closes, nothing is kept.
        """
        protocol, transport = self.connect()
        protocol.dataReceived(b"Subject: never finished\r\n\r\n" + b"text\r\n" * 70000)   # spills to tmp/
        d = self.factory.drain(10)
        self.suite.reactor.advance(10)
        self.assertRegex(transport.value(), rb"^421 4\.3\.2 [^\r]* Service shutting down[^\r]*\r\n$")
        self.assertTrue(transport.disconnecting)
        self.assertEqual(os.listdir(os.path.join(self.suite.config.mailDir, "alice", "tmp")), [])
        protocol.connectionLost(Failure(ConnectionDone()))
        self.successResultOf(d)
        self.assertEqual(self.successResultOf(self.suite.store.listMessages("alice")), [])

    def test_silentClientCutOff(self) -> None:
        """
        A client that does not take its 421 is cut off a grace period later.
        """
        protocol, transport = self.connect()
        aborted = []
        transport.abortConnection = lambda: aborted.append(True)  # type: ignore[method-assign]
        self.factory.drain(10)
        self.suite.reactor.advance(10)
        self.assertEqual(aborted, [])
        self.suite.reactor.advance(ABANDON_GRACE)
        self.assertEqual(aborted, [True])

    def test_commitUnderWayIsAnswered(self) -> None:
        """
        A message whose commit is under way when the timeout passes is
        answered when the commit returns (250, then 421), not dropped.
        """
        self.suite, store = makeSuiteAround(self, ManualCommitStore)
        self.factory = self.suite.factories["smtp"]
        protocol, transport = self.connect()
        protocol.dataReceived(b"Subject: slow disk\r\n\r\nbody\r\n.\r\n")
        d = self.factory.drain(10)
        self.suite.reactor.advance(10)
        self.assertEqual(transport.value(), b"")
        store.release()
        self.assertRegex(transport.value(), rb"^250 2\.0\.0 [^\r]*\r\n421 4\.3\.2 ")
        protocol.connectionLost(Failure(ConnectionDone()))
        self.successResultOf(d)
        self.assertEqual(len(self.successResultOf(store.listMessages("alice"))), 1)
