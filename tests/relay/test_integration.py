# -*- test-case-name: tests.relay.test_integration -*-
"""
The relay over loopback, end to end: a suite whose submission port
takes mail from smtplib, a twisted.names authority on a UDP port as
C{relay.nameservers}, and as the world scripted SMTP servers (4xx then
250, 5xx, a drop mid-DATA, a stall), another suite of ours as a
smarthost (STARTTLS + AUTH, verified certificate) and Postfix's
C{smtp-sink} when it is installed.
"""
from __future__ import annotations

import os
import shutil
import smtplib
import socket
import tempfile
import time
from typing import Any, Callable

import dkim
from twisted.internet import reactor, threads
from twisted.internet.defer import Deferred, inlineCallbacks
from twisted.logger import globalLogPublisher
from twisted.trial.unittest import SkipTest, TestCase

from twisted_mail_suite.config import configFromDict
from twisted_mail_suite.events import NewMailEvent
from twisted_mail_suite.identity.passwd import InMemoryUsers
from twisted_mail_suite.relay.client import Timeouts
from twisted_mail_suite.relay.dkim import generateKey
from twisted_mail_suite.service import MailSuiteService
from twisted_mail_suite.store.maildir import MaildirStore
from twisted_mail_suite.testing.configfile import suiteConfig

from .support import ScriptedFactory, ZoneAuthority, a, countingReply, mx, serveDNS

ZONE = ZoneAuthority({
    "good.test": [mx(10, "mx.good.test")], "mx.good.test": [a("127.0.0.2")],
    "flaky.test": [mx(10, "mx.flaky.test")], "mx.flaky.test": [a("127.0.0.3")],
    "reject.test": [mx(10, "mx.reject.test")], "mx.reject.test": [a("127.0.0.4")],
    "drop.test": [mx(10, "mx.drop.test")], "mx.drop.test": [a("127.0.0.5")],
    "stall.test": [mx(10, "mx.stall.test")], "mx.stall.test": [a("127.0.0.6")],
    "backup.test": [mx(10, "dead.backup.test"), mx(20, "mx.good.test")], "dead.backup.test": [a("127.0.0.7")],
    "null.test": [mx(0, "")],
    "sink.test": [a("127.0.0.8")],
    "suite.test": [mx(10, "mx.suite.test")], "mx.suite.test": [a("127.0.0.1")],
})
USERS = {"alice": "secret", "bob": "hunter2", "carol": "pass3"}


def submit(port: int, recipients: list[str], subject: str = "Hello", user: str = "alice",
           password: str = "secret", sender: str = "alice@example.test") -> Deferred:
    """
    smtplib, in a thread: log in on the submission port and send one message.
    """
    def send() -> None:
        with smtplib.SMTP("127.0.0.1", port, timeout=10) as client:
            client.login(user, password)
            client.sendmail(sender, recipients, (
                f"From: Alice <{sender}>\r\nTo: {', '.join(recipients)}\r\nSubject: {subject}\r\n"
                f"Message-ID: <{subject.replace(' ', '-')}@example.test>\r\n\r\nHi there.\r\n.leading dot\r\n"
            ).encode())

    return threads.deferToThread(send)


def waitLog(testCase: TestCase, match: Callable[[dict], bool]) -> Deferred:
    """
    Fires with the first log event that C{match}es (from now on).
    """
    d: Deferred = Deferred()

    def observe(event: dict) -> None:
        if not d.called and match(event):
            d.callback(event)

    globalLogPublisher.addObserver(observe)
    testCase.addCleanup(globalLogPublisher.removeObserver, observe)
    return d


def outcome(recipient: str, status: str) -> Callable[[dict], bool]:
    return lambda e: e.get("recipient") == recipient and e.get("status") == status


class RelayTestCase(TestCase):
    timeout = 40

    @inlineCallbacks
    def setUp(self):  # type: ignore[no-untyped-def]
        self.dns = serveDNS(reactor, ZONE)
        self.addCleanup(self.dns.stopListening)
        self.servers: dict[str, ScriptedFactory] = {}
        self.mxPort = 0
        scripts = {
            "127.0.0.2": {},
            "127.0.0.3": {b"RCPT": countingReply(b"451 4.7.1 greylisted, try later", b"250 2.1.5 ok")},
            "127.0.0.4": {b"RCPT": b"550 5.1.1 <nobody@reject.test>: Recipient address rejected"},
            "127.0.0.5": {b"MID-DATA": "drop"},
            "127.0.0.6": {b"GREETING": "stall"},
        }
        for address, script in scripts.items():
            factory = self.servers[address] = ScriptedFactory(script)
            port = yield self._listen(address, factory)
            self.mxPort = self.mxPort or port

    def _listen(self, address: str, factory: ScriptedFactory) -> Deferred:
        port = reactor.listenTCP(self.mxPort, factory, interface=address)
        self.addCleanup(port.stopListening)
        return threads.deferToThread(lambda: port.getHost().port)

    def relayConfig(self, **relay: Any) -> dict:
        settings = {"mode": "mx", "nameservers": [f"127.0.0.1:{self.dns.getHost().port}"],
                    "mx_port": self.mxPort, "retry_schedule": ["0.3s"], "max_queue_lifetime": "1h"}
        settings.update(relay)
        return settings

    @inlineCallbacks
    def startSuite(self, relay: dict, dataDir: str | None = None, hostname: str = "mail.example.test",
                   domains: tuple[str, ...] = ("example.test",), timeouts: Timeouts | None = None,
                   **sections: Any):  # type: ignore[no-untyped-def]
        if dataDir is None:
            dataDir = tempfile.mkdtemp(prefix="ms-")      # short: the queue's control socket lives in it
            self.addCleanup(shutil.rmtree, dataDir, True)
        raw = suiteConfig(dataDir, hostname=hostname, domains=domains, roles=("submission", "smtp"),
                          sections={"relay": relay, **sections})
        config = configFromDict(raw, "<test>")
        suite = MailSuiteService(config, reactor, users=InMemoryUsers(USERS),
                                 relayOptions={"timeouts": timeouts or Timeouts(greeting=2, command=2)})
        suite.privilegedStartService()
        suite.startService()
        self.addCleanup(suite.stopService)
        yield suite.whenListening()
        return suite

    def mailbox(self, suite: MailSuiteService, user: str) -> list[bytes]:
        store = MaildirStore(suite.config.mailDir)
        result = []
        for stored in store.storedMessages(user):
            with store.openStored(user, stored.uid) as f:
                result.append(f.read())
        return result

    def whenDelivered(self, suite: MailSuiteService, user: str) -> Deferred:
        d: Deferred = Deferred()

        def event(e: NewMailEvent) -> None:
            if e.user == user and not d.called:
                d.callback(e)

        self.addCleanup(suite.bus.subscribe(NewMailEvent, event))
        return d


class MXTests(RelayTestCase):
    @inlineCallbacks
    def test_deliveredSignedPipelined(self):  # type: ignore[no-untyped-def]
        """
        Submitted mail for a foreign domain reaches its MX, DKIM-signed, pipelined, SIZE declared; the queue empties.
        """
        keyDir = tempfile.mkdtemp(prefix="ms-key-")
        self.addCleanup(shutil.rmtree, keyDir, True)
        record = generateKey(os.path.join(keyDir, "key.pem"))
        suite = yield self.startSuite(self.relayConfig(
            dkim={"example.test": {"selector": "s1", "key_file": os.path.join(keyDir, "key.pem")}}))
        sent = waitLog(self, outcome("bob@good.test", "sent"))
        yield submit(suite.portsFor("submission")[0], ["bob@good.test"])
        [text] = yield self.servers["127.0.0.2"].whenMessages(1)
        event = yield sent
        self.assertIn("mx.good.test[127.0.0.2]", event["relay"])
        self.assertTrue(text.startswith(b"DKIM-Signature: "))
        self.assertNotIn(b"Return-Path", text)
        self.assertIn(b"\r\n.leading dot\r\n", text)
        self.assertTrue(dkim.verify(text, dnsfunc=lambda name, timeout=5: record.encode()))
        commands = self.servers["127.0.0.2"].commands
        self.assertEqual(commands[0], b"EHLO mail.example.test")
        self.assertTrue(commands[1].startswith(b"MAIL FROM:<alice@example.test> SIZE="))
        yield waitLog(self, lambda e: "removed" in e.get("log_format", "")) if suite.relay.queue.entries() else None
        self.assertEqual(suite.relay.queue.entries(), [])

    @inlineCallbacks
    def test_greylistedThenSent(self):  # type: ignore[no-untyped-def]
        """
        A 4xx is retried per the schedule; the recipient already accepted elsewhere is not sent again.
        """
        suite = yield self.startSuite(self.relayConfig())
        deferred = waitLog(self, outcome("x@flaky.test", "deferred"))
        sent = waitLog(self, outcome("x@flaky.test", "sent"))
        yield submit(suite.portsFor("submission")[0], ["x@flaky.test", "y@good.test"])
        event = yield deferred
        self.assertIn("451 4.7.1 greylisted", event["reply"])
        yield sent
        self.assertEqual(len(self.servers["127.0.0.2"].messages), 1)      # y@good.test once
        self.assertEqual(len(self.servers["127.0.0.3"].messages), 1)

    @inlineCallbacks
    def test_rejectedBouncesToSender(self):  # type: ignore[no-untyped-def]
        """
        A 5xx bounces at once: an RFC 3464 report from MAILER-DAEMON lands in the local sender's mailbox.
        """
        suite = yield self.startSuite(self.relayConfig())
        bounced = self.whenDelivered(suite, "alice")
        yield submit(suite.portsFor("submission")[0], ["nobody@reject.test"], subject="Lost")
        event = yield bounced
        self.assertEqual((event.sender, event.subject), ("", "Undelivered Mail Returned to Sender"))
        [dsn] = self.mailbox(suite, "alice")
        for text in (b"Return-Path: <>", b"From: Mail Delivery System <MAILER-DAEMON@mail.example.test>",
                     b"report-type=delivery-status", b"Final-Recipient: rfc822; nobody@reject.test",
                     b"Action: failed", b"Status: 5.1.1", b"Remote-MTA: dns; mx.reject.test",
                     b"Diagnostic-Code: smtp; 550 5.1.1 <nobody@reject.test>: Recipient address rejected",
                     b"Subject: Lost"):
            self.assertIn(text, dsn)

    @inlineCallbacks
    def test_nullMXBouncesWithoutTrying(self):  # type: ignore[no-untyped-def]
        """
        A domain with a null MX bounces at once, no connection made.
        """
        suite = yield self.startSuite(self.relayConfig())
        bounced = self.whenDelivered(suite, "alice")
        yield submit(suite.portsFor("submission")[0], ["x@null.test"])
        yield bounced
        self.assertIn(b"Status: 5.1.10", self.mailbox(suite, "alice")[0])

    @inlineCallbacks
    def test_dropMidDataRetried(self):  # type: ignore[no-untyped-def]
        """
        A server that drops the connection during DATA gets the message again later.
        """
        self.servers["127.0.0.5"].replies[b"MID-DATA"] = "drop"
        suite = yield self.startSuite(self.relayConfig())
        deferred = waitLog(self, outcome("x@drop.test", "deferred"))
        yield submit(suite.portsFor("submission")[0], ["x@drop.test"])
        event = yield deferred
        self.assertIn("lost connection", event["reply"])
        del self.servers["127.0.0.5"].replies[b"MID-DATA"]
        yield waitLog(self, outcome("x@drop.test", "sent"))

    @inlineCallbacks
    def test_stallTimesOut(self):  # type: ignore[no-untyped-def]
        """
        A server that never greets times out (temporary); the queue keeps the message with the error.
        """
        suite = yield self.startSuite(self.relayConfig(), timeouts=Timeouts(greeting=0.3))
        deferred = waitLog(self, outcome("x@stall.test", "deferred"))
        yield submit(suite.portsFor("submission")[0], ["x@stall.test"])
        event = yield deferred
        self.assertIn("timed out", event["reply"])
        [entry] = suite.relay.queue.entries()
        self.assertIn("timed out", entry.recipients[0].reply)

    @inlineCallbacks
    def test_backupMX(self):  # type: ignore[no-untyped-def]
        """
        When the preferred MX refuses connections, the next one gets the message.
        """
        suite = yield self.startSuite(self.relayConfig())
        sent = waitLog(self, outcome("x@backup.test", "sent"))
        yield submit(suite.portsFor("submission")[0], ["x@backup.test"])
        event = yield sent
        self.assertIn("mx.good.test", event["relay"])

    @inlineCallbacks
    def test_sendMail(self):  # type: ignore[no-untyped-def]
        """
        An application's C{sendMail} reaches the MX.
        """
        suite = yield self.startSuite(self.relayConfig())
        queueID = yield suite.sendMail("app@example.test", ["welcome@good.test"],
                                       b"From: app@example.test\r\nSubject: Welcome\r\n\r\nHi\r\n")
        self.assertTrue(queueID)
        [text] = yield self.servers["127.0.0.2"].whenMessages(1)
        self.assertIn(b"Subject: Welcome", text)

    @inlineCallbacks
    def test_queueCommandsOnline(self):  # type: ignore[no-untyped-def]
        """
        C{mailsuite-admin queue list/hold/flush} talk to the running server over its control socket.
        """
        from twisted_mail_suite.relay.control import request
        suite = yield self.startSuite(self.relayConfig(retry_schedule=["1h"]), timeouts=Timeouts(greeting=0.2))
        deferred = waitLog(self, outcome("x@stall.test", "deferred"))
        yield submit(suite.portsFor("submission")[0], ["x@stall.test"])
        yield deferred
        path = os.path.join(suite.config.queueDir, "control.sock")
        [listed] = yield threads.deferToThread(request, path, "list")
        self.assertEqual((listed["sender"], listed["recipients"][0]["status"], listed["attempts"]),
                         ("alice@example.test", "pending", 1))
        yield threads.deferToThread(request, path, "hold", listed["id"])
        self.assertTrue(suite.relay.queue.get(listed["id"]).held)
        yield threads.deferToThread(request, path, "release", listed["id"])
        again = waitLog(self, outcome("x@stall.test", "deferred"))
        result = yield threads.deferToThread(request, path, "flush")
        self.assertEqual(result["flushed"], [listed["id"]])
        yield again
        yield threads.deferToThread(request, path, "delete", listed["id"])
        self.assertEqual(suite.relay.queue.entries(), [])


class OurSuiteAsMXTests(RelayTestCase):
    @inlineCallbacks
    def test_opportunisticSTARTTLSVerified(self):  # type: ignore[no-untyped-def]
        """
        To an MX that offers STARTTLS the message goes encrypted, its certificate verified with ca_file.
        """
        target = yield self.startSuite({"mode": "off"}, hostname="mx.suite.test", domains=("suite.test",),
                                       tls={"starttls": True})
        suite = yield self.startSuite(self.relayConfig(mx_port=target.portsFor("smtp")[0],
                                                       ca_file=target.certPath))
        delivered = self.whenDelivered(target, "carol")
        yield submit(suite.portsFor("submission")[0], ["carol@suite.test"], subject="Over TLS")
        yield delivered
        [text] = self.mailbox(target, "carol")
        self.assertIn(b"from mail.example.test", text)
        self.assertIn(b"with ESMTPS", text)


class SmarthostTests(RelayTestCase):
    @inlineCallbacks
    def test_starttlsAuthVerified(self):  # type: ignore[no-untyped-def]
        """
        Through another suite as smarthost: required STARTTLS with a verified certificate, AUTH PLAIN.
        """
        smarthost = yield self.startSuite({"mode": "off"}, hostname="localhost", domains=("smart.test",),
                                          tls={"starttls": True}, submission={"sender_login_mismatch": "allow"})
        authFile = os.path.join(tempfile.mkdtemp(prefix="ms-auth-"), "auth")
        self.addCleanup(shutil.rmtree, os.path.dirname(authFile), True)
        with open(os.open(authFile, os.O_WRONLY | os.O_CREAT, 0o600), "w") as f:
            f.write("bob:hunter2\n")
        suite = yield self.startSuite({"mode": "smarthost",
                                       "smarthost": f"localhost:{smarthost.portsFor('submission')[0]}",
                                       "smarthost_tls": "starttls", "smarthost_auth_file": authFile,
                                       "ca_file": smarthost.certPath, "retry_schedule": ["0.3s"]})
        delivered = self.whenDelivered(smarthost, "carol")
        yield submit(suite.portsFor("submission")[0], ["carol@smart.test"], subject="Via smarthost")
        yield delivered
        [text] = self.mailbox(smarthost, "carol")
        self.assertIn(b"Subject: Via smarthost", text)
        self.assertIn(b"(authenticated as bob)", text)
        self.assertIn(b"with ESMTPSA", text)

    @inlineCallbacks
    def test_implicitTLS(self):  # type: ignore[no-untyped-def]
        """
        A smarthost on an implicit-TLS port (465 style) gets the message over TLS from the first byte.
        """
        smarthost = yield self.startSuite({"mode": "off"}, hostname="localhost", domains=("smart.test",),
                                          submission={"listen": ["ssl:0:interface=127.0.0.1"],
                                                      "sender_login_mismatch": "allow"})
        authFile = os.path.join(tempfile.mkdtemp(prefix="ms-auth-"), "auth")
        self.addCleanup(shutil.rmtree, os.path.dirname(authFile), True)
        with open(os.open(authFile, os.O_WRONLY | os.O_CREAT, 0o600), "w") as f:
            f.write("bob:hunter2\n")
        port = smarthost.portsFor("submission")[0]
        suite = yield self.startSuite({"mode": "smarthost", "smarthost": f"127.0.0.1:{port}", "smarthost_tls": "tls",
                                       "smarthost_auth_file": authFile, "ca_file": smarthost.certPath,
                                       "retry_schedule": ["0.3s"]})
        delivered = self.whenDelivered(smarthost, "carol")
        yield submit(suite.portsFor("submission")[0], ["carol@smart.test"], subject="Implicit")
        yield delivered
        self.assertIn(b"with ESMTPSA", self.mailbox(smarthost, "carol")[0])

    @inlineCallbacks
    def test_unverifiedCertificateDefers(self):  # type: ignore[no-untyped-def]
        """
        A smarthost whose certificate does not verify gets nothing: the message is deferred.
        """
        smarthost = yield self.startSuite({"mode": "off"}, hostname="localhost", domains=("smart.test",),
                                          tls={"starttls": True})
        suite = yield self.startSuite({"mode": "smarthost",
                                       "smarthost": f"localhost:{smarthost.portsFor('submission')[0]}",
                                       "retry_schedule": ["1h"]})
        event = yield submit(suite.portsFor("submission")[0], ["carol@smart.test"]).addCallback(
            lambda _: waitLog(self, outcome("carol@smart.test", "deferred")))
        self.assertEqual(self.mailbox(smarthost, "carol"), [])
        self.assertTrue(event["reply"])

    @inlineCallbacks
    def test_smtpSink(self):  # type: ignore[no-untyped-def]
        """
        Postfix's smtp-sink, as a smarthost without TLS on loopback, takes the message.
        """
        if shutil.which("smtp-sink") is None:
            raise SkipTest("smtp-sink (Debian package postfix) is not installed")
        folder = tempfile.mkdtemp(prefix="ms-sink-")
        self.addCleanup(shutil.rmtree, folder, True)
        os.chmod(folder, 0o777)
        port = yield threads.deferToThread(_freePort)
        sink = reactor.spawnProcess(_Quiet(), shutil.which("smtp-sink"),
                                    ["smtp-sink", "-u", "nobody", "-D", os.path.join(folder, "dump"),
                                     f"127.0.0.1:{port}", "10"])
        self.addCleanup(lambda: sink.signalProcess("KILL") if sink.pid else None)
        listening = yield threads.deferToThread(_accepting, port, 10.0)
        self.assertTrue(listening, "smtp-sink did not start listening")
        suite = yield self.startSuite({"mode": "smarthost", "smarthost": f"127.0.0.1:{port}",
                                       "smarthost_tls": "none", "retry_schedule": ["0.3s"]})
        sent = waitLog(self, outcome("x@sink.test", "sent"))
        yield submit(suite.portsFor("submission")[0], ["x@sink.test"], subject="To the sink")
        event = yield sent
        self.assertIn("127.0.0.1", event["relay"])
        with open(os.path.join(folder, "dump"), "rb") as f:
            self.assertIn(b"Subject: To the sink", f.read())


def _freePort() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # type: ignore[no-any-return]


def _accepting(port: int, seconds: float) -> bool:
    """
    Blocking (in a thread): wait until something accepts connections on C{port}.
    """
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return True
        except OSError:
            time.sleep(0.05)
    return False


class _Quiet:
    """
    A process protocol that ignores everything.
    """

    def makeConnection(self, transport: Any) -> None:
        pass

    def childDataReceived(self, fd: int, data: bytes) -> None:
        pass

    def childConnectionLost(self, fd: int) -> None:
        pass

    def processExited(self, reason: Any) -> None:
        pass

    def processEnded(self, reason: Any) -> None:
        pass
