# -*- test-case-name: tests.cluster.test_twosuites -*-
"""
Two suites in one process sharing one real redis-server (and one data
folder, as two workers on one disk): the chat across both, names unique
across both, POP3 C{[IN-USE]} and failed logins counted across both, a
new-mail notice from one reaching a chat client of the other, and a Redis
restart in the middle of a chat.
"""
from __future__ import annotations

import os
from typing import Any

from twisted.internet import defer, reactor
from twisted.internet.endpoints import TCP4ClientEndpoint, connectProtocol
from twisted.internet.threads import deferToThread
from twisted.trial.unittest import TestCase

from tests.fakes import makeConfig
from tests.integration.test_chat_loopback import USERS, LineClient
from twisted_mail_suite.identity.passwd import InMemoryUsers
from twisted_mail_suite.service import MailSuiteService
from twisted_mail_suite.store.maildir import MaildirStore, runSynchronously

from .support import eventually, startRedis


class TwoSuitesTests(TestCase):
    timeout = 60

    @defer.inlineCallbacks
    def setUp(self) -> Any:
        self.redis = startRedis(self)
        dataDir = self.mktemp()
        self.suites = []
        for _ in range(2):
            config = makeConfig(dataDir, **{
                "cluster.redis": self.redis.url, "chat.lines_per_second": 0,
                "chat.listen": ["tcp:0:interface=127.0.0.1"], "pop3.listen": ["tcp:0:interface=127.0.0.1"],
                "submission.listen": [], "imap.listen": [],
                "auth.max_failures": 3, "auth.failure_delay": 0, "auth.max_failures_per_connection": 10})
            os.makedirs(config.mailDir, exist_ok=True)
            suite = MailSuiteService(config, reactor, users=InMemoryUsers(USERS),
                                     store=MaildirStore(config.mailDir, runBlocking=runSynchronously),
                                     runInThread=runSynchronously)
            suite.startService()
            self.addCleanup(suite.stopService)
            yield suite.whenListening()
            yield suite.shared.whenReady()
            self.suites.append(suite)

    @defer.inlineCallbacks
    def connect(self, suite: MailSuiteService, role: str = "chat", first: str = "*** you joined #lobby") -> Any:
        endpoint = TCP4ClientEndpoint(reactor, "127.0.0.1", suite.portsFor(role)[0])
        client = yield connectProtocol(endpoint, LineClient())
        self.addCleanup(lambda: client.closed if client.closed.called else (
            client.transport.loseConnection(), client.closed)[1])
        yield client.expect(lambda line: line.startswith(first))
        return client

    @defer.inlineCallbacks
    def named(self, suite: MailSuiteService, name: str) -> Any:
        client = yield self.connect(suite)
        client.send(f"/nick {name}")
        yield client.expect(f"*** you are now {name}")
        return client

    def knows(self, suite: MailSuiteService, name: str) -> Any:
        hub = suite.factories["chat"].hub
        return eventually(lambda: name in hub.remote)

    @defer.inlineCallbacks
    def test_chatLineReachesTheOtherSuite(self) -> Any:
        a, b = self.suites
        ann = yield self.named(a, "ann")
        ben = yield self.named(b, "ben")
        yield self.knows(a, "ben")
        ann.send("hello from A")
        yield ben.expect("[#lobby] ann: hello from A")
        ben.send("/msg ann psst")
        yield ann.expect(lambda line: "ben" in line and "psst" in line)
        ben.send("/who")
        line = yield ben.expect(lambda line: line.startswith("*** who #lobby"))
        self.assertIn("(2)", line)

    @defer.inlineCallbacks
    def test_namesUniqueAcrossSuites(self) -> Any:
        a, b = self.suites
        yield self.named(a, "zed")
        yield self.knows(b, "zed")
        other = yield self.connect(b)
        other.send("/nick zed")
        yield other.expect(lambda line: "name is taken: zed" in line)

    @defer.inlineCallbacks
    def test_pop3InUseAcrossSuites(self) -> Any:
        a, b = self.suites
        first = yield self.connect(a, "pop3", "+OK")
        first.send("USER alice\r\nPASS secret")
        yield first.expect(lambda line: line.startswith("+OK") and "maildrop" in line.lower() or
                           line.startswith("+OK") and "message" in line.lower())
        second = yield self.connect(b, "pop3", "+OK")
        second.send("USER alice\r\nPASS secret")
        yield second.expect(lambda line: line.startswith("-ERR [IN-USE]"))
        first.send("QUIT")
        yield first.closed
        second.send("USER alice\r\nPASS secret")
        yield second.expect(lambda line: line.startswith("+OK") and "message" in line.lower())

    @defer.inlineCallbacks
    def test_failedLoginsCountedAcrossSuites(self) -> Any:
        a, b = self.suites
        onA = yield self.connect(a, "pop3", "+OK")
        for _ in range(2):
            onA.send("USER alice\r\nPASS wrong")
            yield onA.expect(lambda line: line.startswith("-ERR [AUTH]"))
        onB = yield self.connect(b, "pop3", "+OK")
        onB.send("USER alice\r\nPASS wrong")
        yield onB.expect(lambda line: line.startswith("-ERR [AUTH]"))
        yield onB.closed            # the third failure from this address, counted across both: refused
        again = yield self.connect(a, "pop3", "+OK")
        again.send("USER alice\r\nPASS secret")
        yield again.expect(lambda line: line.startswith("-ERR [AUTH]"))

    @defer.inlineCallbacks
    def test_newMailNoticeFromTheOtherSuite(self) -> Any:
        a, b = self.suites
        alice = yield self.connect(b)
        alice.send("/login alice secret")
        yield alice.expect("*** logged in as alice")
        yield a.sendMail("bob@example.test", "alice@example.test", b"Subject: across\r\n\r\nhi\r\n")
        yield alice.expect(lambda line: "new mail from bob@example.test: across" in line)

    @defer.inlineCallbacks
    def test_redisRestartedMidChat(self) -> Any:
        a, b = self.suites
        ann = yield self.named(a, "ann")
        ben = yield self.named(b, "ben")
        yield self.knows(a, "ben")
        ann.send("before")
        yield ben.expect("[#lobby] ann: before")
        yield deferToThread(self.redis.stop)
        yield ben.expect(lambda line: "unreachable" in line)
        uid = yield a.sendMail("ann@example.test", "bob@example.test", b"Subject: down\r\n\r\nwhile down\r\n")
        self.assertTrue(uid)
        listing = yield b.store.listMessages("bob")
        self.assertEqual(len(listing), 1)
        yield deferToThread(self.redis.start)
        yield ben.expect(lambda line: "reachable again" in line)
        yield ann.expect(lambda line: "reachable again" in line)
        yield self.knows(a, "ben")
        ann.send("after")
        yield ben.expect("[#lobby] ann: after")

    @defer.inlineCallbacks
    def test_nameClaimLostToARace(self) -> Any:
        """
        A name claimed in Redis by another process this one has not heard
        of yet: the rename here is undone (a guest name) and its client told.
        """
        a, _ = self.suites
        yield a.shared.client.execute(b"SET", b"mailsuite:chat:name:zed", b"elsewhere", b"PX", 30000)
        client = yield self.connect(a)
        client.send("/nick zed")
        yield client.expect("*** you are now zed")
        yield client.expect(lambda line: "name is taken: zed" in line)
        yield client.expect(lambda line: line.startswith("*** you are now guest-"))
        self.assertEqual((yield a.shared.client.execute(b"GET", b"mailsuite:chat:name:zed")), b"elsewhere")

    @defer.inlineCallbacks
    def test_nickRefusedWhileRedisIsDown(self) -> Any:
        a, _ = self.suites
        client = yield self.connect(a)
        yield deferToThread(self.redis.stop)
        yield client.expect(lambda line: "unreachable" in line)
        client.send("/nick someone")
        yield client.expect(lambda line: "names cannot be checked" in line)
        client.send("still talking")          # the chat of this process goes on
        other = yield self.connect(a)
        client.send("hello local")
        yield other.expect(lambda line: line.endswith(": hello local"))

    @defer.inlineCallbacks
    def test_whileRedisIsDown(self) -> Any:
        """
        Logins answer "try again later"; mail over SMTP is still accepted
        and delivered.
        """
        import smtplib

        a, b = self.suites
        yield deferToThread(self.redis.stop)
        yield eventually(lambda: not a.shared.client.connected)
        pop = yield self.connect(b, "pop3", "+OK")
        pop.send("USER alice\r\nPASS secret")
        yield pop.expect(lambda line: line.startswith("-ERR [SYS/TEMP]"))

        def send() -> Any:
            with smtplib.SMTP("127.0.0.1", a.portsFor("smtp")[0], timeout=20) as smtp:
                return smtp.sendmail("bob@example.test", ["alice@example.test"], "Subject: x\r\n\r\ny\r\n")

        self.assertEqual((yield deferToThread(send)), {})
        self.assertEqual(len((yield b.store.listMessages("alice"))), 1)
