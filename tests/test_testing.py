# -*- test-case-name: tests.test_testing -*-
"""
Tests of the public harness (L{twisted_mail_suite.testing}) from trial, over
real loopback sockets with the standard library's clients as peers.
"""
from __future__ import annotations

import poplib
import re
import smtplib
import socket

from twisted.internet import defer, reactor, task, threads
from twisted.trial.unittest import TestCase

from twisted_mail_suite.testing import MailSuiteHarness, MessageTimeout, startHarness


def sendMail(port: int, to: str, subject: str = "hello", body: str = "body") -> defer.Deferred:
    """
    Send one message with smtplib in a thread; fires with None or fails
    with the smtplib exception.
    """
    def send() -> None:
        with smtplib.SMTP("127.0.0.1", port, timeout=10) as client:
            client.sendmail("sender@outside.test", [to],
                            f"Subject: {subject}\r\nFrom: sender@outside.test\r\n\r\n{body}\r\n".encode())

    return threads.deferToThread(send)


def listeningPorts() -> set[int]:
    from twisted.internet.tcp import Port

    return {reader.getHost().port for reader in reactor.getReaders()
            if isinstance(reader, Port) and hasattr(reader.getHost(), "port")}   # not the queue's UNIX socket


class LifeCycleTests(TestCase):
    timeout = 30

    @defer.inlineCallbacks
    def test_stopLeavesNothing(self):  # type: ignore[no-untyped-def]
        """
        After stop, no port of the harness listens, no connection is open and
        no delayed call is pending, even with a client still connected.
        """
        harness = MailSuiteHarness()
        yield harness.start()
        ports = {harness.smtpPort, harness.submissionPort, harness.pop3Port, harness.chatPort}
        self.assertTrue(ports <= listeningPorts())
        lingering = socket.create_connection(("127.0.0.1", harness.chatPort))
        self.addCleanup(lingering.close)
        yield task.deferLater(reactor, 0.05, lambda: None)
        before = {call for call in reactor.getDelayedCalls()}
        yield harness.stop()
        self.assertEqual(ports & listeningPorts(), set())
        self.assertEqual([call for call in reactor.getDelayedCalls() if call not in before and call.active()], [])
        yield harness.stop()

    @defer.inlineCallbacks
    def test_concurrentHarnesses(self):  # type: ignore[no-untyped-def]
        """
        Two harnesses run side by side on different ports and folders; mail
        sent to one never shows up in the other.
        """
        first = yield startHarness(self)
        second = yield startHarness(self, users={"alice": "other"})
        self.assertNotEqual(first.smtpPort, second.smtpPort)
        self.assertNotEqual(first.dataDir, second.dataDir)
        yield sendMail(first.smtpPort, first.address("alice"), "for first")
        message = yield first.waitForMessage(to="alice", subject="for first")
        self.assertEqual(message.subject, "for first")
        self.assertEqual(second.messagesFor("alice"), [])

    @defer.inlineCallbacks
    def test_messagesFor(self):  # type: ignore[no-untyped-def]
        """
        C{messagesFor} gives parsed messages and their raw bytes, oldest first.
        """
        harness = yield startHarness(self)
        yield sendMail(harness.smtpPort, "bob@example.test", "one")
        yield sendMail(harness.smtpPort, "bob@example.test", "two")
        messages = harness.messagesFor("bob@example.test")
        self.assertEqual([m.subject for m in messages], ["one", "two"])
        self.assertIn(b"Subject: one\n", messages[0].raw)
        self.assertEqual(messages[0]["From"], "sender@outside.test")

    @defer.inlineCallbacks
    def test_waitForMessagePredicate(self):  # type: ignore[no-untyped-def]
        """
        C{waitForMessage} waits for the delivery matching every condition.
        """
        harness = yield startHarness(self)
        waiting = harness.waitForMessage(to="alice", subject=re.compile("^code"),
                                         predicate=lambda m: "42" in m.message.get_content())
        yield sendMail(harness.smtpPort, "alice@example.test", "code 1", "nothing here")
        self.assertNoResult(waiting)
        yield sendMail(harness.smtpPort, "alice@example.test", "code 2", "the answer is 42")
        message = yield waiting
        self.assertEqual(message.subject, "code 2")


class TimeTests(TestCase):
    @defer.inlineCallbacks
    def test_waitForMessageTimesOut(self):  # type: ignore[no-untyped-def]
        """
        With no matching delivery, C{waitForMessage} fails with
        L{MessageTimeout} when the (injected) clock passes the timeout, and
        leaves nothing subscribed or scheduled.
        """
        clock = task.Clock()
        harness = yield startHarness(self, clock=clock)
        waiting = harness.waitForMessage(to="alice", timeout=5)
        clock.advance(4.9)
        self.assertNoResult(waiting)
        clock.advance(0.2)
        self.failureResultOf(waiting, MessageTimeout)
        self.assertEqual(clock.getDelayedCalls(), [])

    @defer.inlineCallbacks
    def test_chatIdleKickOnInjectedClock(self):  # type: ignore[no-untyped-def]
        """
        The suite's timeouts run on the injected clock: an idle chat client
        is disconnected when the test advances it, without sleeping.
        """
        clock = task.Clock()
        harness = yield startHarness(self, clock=clock, overrides={"chat.idle_timeout": 30})
        client = socket.create_connection(("127.0.0.1", harness.chatPort))
        self.addCleanup(client.close)
        client.settimeout(5)
        yield threads.deferToThread(client.recv, 4096)
        clock.advance(31)
        received = b""
        while True:
            data = yield threads.deferToThread(client.recv, 4096)
            if not data:
                break
            received += data
        self.assertIn(b"idle", received.lower())


class FaultTests(TestCase):
    timeout = 30

    @defer.inlineCallbacks
    def setUp(self):  # type: ignore[no-untyped-def]
        self.harness = yield startHarness(self)

    @defer.inlineCallbacks
    def test_failDeliveries(self):  # type: ignore[no-untyped-def]
        """
        The next C{count} messages get the given code after DATA and are not
        kept; then delivery works again.
        """
        self.harness.failDeliveries(2, code=451)
        for _ in range(2):
            error = yield self.assertFailure(sendMail(self.harness.smtpPort, "alice@example.test"),
                                             smtplib.SMTPDataError)
            self.assertEqual(error.smtp_code, 451)
        yield sendMail(self.harness.smtpPort, "alice@example.test", "third")
        self.assertEqual([m.subject for m in self.harness.messagesFor("alice")], ["third"])

    @defer.inlineCallbacks
    def test_failDeliveriesPermanent(self):  # type: ignore[no-untyped-def]
        """
        A 5xx code is a permanent failure for the client.
        """
        self.harness.failDeliveries(1, code=554)
        error = yield self.assertFailure(sendMail(self.harness.smtpPort, "alice@example.test"),
                                         smtplib.SMTPDataError)
        self.assertEqual(error.smtp_code, 554)

    @defer.inlineCallbacks
    def test_rejectRecipients(self):  # type: ignore[no-untyped-def]
        """
        Recipients matching the pattern are refused at RCPT with the code;
        reset() undoes it.
        """
        self.harness.rejectRecipients("bob@*", code=550)
        error = yield self.assertFailure(sendMail(self.harness.smtpPort, "bob@example.test"),
                                         smtplib.SMTPRecipientsRefused)
        self.assertEqual(error.recipients["bob@example.test"][0], 550)
        yield sendMail(self.harness.smtpPort, "alice@example.test")
        self.harness.reset()
        yield sendMail(self.harness.smtpPort, "bob@example.test", "after reset")
        self.assertEqual([m.subject for m in self.harness.messagesFor("bob")], ["after reset"])

    @defer.inlineCallbacks
    def test_delayDeliveries(self):  # type: ignore[no-untyped-def]
        """
        Deliveries are acknowledged only after the delay.
        """
        self.harness.delayDeliveries(0.3)
        started = reactor.seconds()
        yield sendMail(self.harness.smtpPort, "alice@example.test")
        self.assertGreaterEqual(reactor.seconds() - started, 0.3)
        self.harness.reset()
        self.assertEqual(self.harness._faults.delay, 0.0)

    @defer.inlineCallbacks
    def test_dropConnections(self):  # type: ignore[no-untyped-def]
        """
        Connections are cut after the given number of client lines, for
        every protocol; reset() restores service.
        """
        self.harness.dropConnections(after=1)

        def pop3Login() -> None:
            client = poplib.POP3("127.0.0.1", self.harness.pop3Port, timeout=5)
            client.user("alice")

        yield self.assertFailure(threads.deferToThread(pop3Login), poplib.error_proto, OSError, EOFError)
        yield self.assertFailure(sendMail(self.harness.smtpPort, "alice@example.test"),
                                 smtplib.SMTPServerDisconnected, OSError)
        self.harness.reset()
        yield sendMail(self.harness.smtpPort, "alice@example.test", "after reset")
        self.assertEqual(len(self.harness.messagesFor("alice")), 1)


class ClearTests(TestCase):
    timeout = 30

    @defer.inlineCallbacks
    def test_clearForgetsEverything(self):  # type: ignore[no-untyped-def]
        """
        C{clear()} empties every mailbox, undoes faults, restores the users
        and cancels pending waits; the harness keeps its ports.
        """
        harness = yield startHarness(self)
        port = harness.smtpPort
        yield sendMail(port, "bob@example.test", "old")
        harness.rejectRecipients("alice@*")
        harness.addUser("carol", "pw")
        pending = harness.waitForMessage(to="alice", timeout=60)
        yield harness.clear()
        self.failureResultOf(pending, defer.CancelledError)
        self.assertEqual(harness.messagesFor("bob"), [])
        self.assertNotIn("carol", harness.users)
        self.assertIsNone(harness._userDatabase.lookup("carol"))
        yield sendMail(port, "alice@example.test", "new")
        self.assertEqual([m.subject for m in harness.messagesFor("alice")], ["new"])

    @defer.inlineCallbacks
    def test_clearForgetsFailedLogins(self):  # type: ignore[no-untyped-def]
        """
        Failed logins counted before C{clear()} do not refuse logins after it.
        """
        harness = yield startHarness(self, users={"alice": "right"},
                                     overrides={"auth.max_failures": 1, "auth.failure_delay": 0.0})

        def login(password: str) -> None:
            client = poplib.POP3("127.0.0.1", harness.pop3Port, timeout=5)
            try:
                client.user("alice")
                client.pass_(password)
            finally:
                client.close()

        yield self.assertFailure(threads.deferToThread(login, "wrong"), poplib.error_proto)
        yield self.assertFailure(threads.deferToThread(login, "right"), poplib.error_proto, EOFError, OSError)
        yield harness.clear()
        yield threads.deferToThread(login, "right")


class PasswordTests(TestCase):
    @defer.inlineCallbacks
    def test_defaultUsersHaveRandomPasswords(self):  # type: ignore[no-untyped-def]
        """
        Without C{users}, alice and bob get random passwords, new for each
        harness and stored hashed.
        """
        first = yield startHarness(self)
        second = yield startHarness(self)
        self.assertEqual(set(first.users), {"alice", "bob"})
        self.assertNotEqual(first.users, second.users)
        self.assertNotIn("secret", first.users.values())
        stored = first._userDatabase.lookup("alice")
        self.assertNotIn(first.users["alice"], repr(stored))
