# -*- test-case-name: tests.test_threaded -*-
"""
L{ThreadedHarness} from blocking code: a private reactor in its own thread
serves real loopback clients (the standard library's) while the test's
thread blocks, whatever the global reactor does.
"""
from __future__ import annotations

import poplib
import smtplib
import socket
import ssl
import threading

from twisted.internet.defer import Deferred
from twisted.protocols import tls
from twisted.trial.unittest import SynchronousTestCase

from twisted_mail_suite.reactor import globalReactor
from twisted_mail_suite.testing import HarnessTimeout, MessageTimeout, ThreadedHarness
from twisted_mail_suite.testing.threaded import ReactorThread, sharedReactorThread


def send(port: int, to: str, subject: str = "hello", context: object = None) -> None:
    with smtplib.SMTP("127.0.0.1", port, timeout=10) as client:
        if context is not None:
            client.starttls(context=context)  # type: ignore[arg-type]
        client.sendmail("sender@outside.test", [to], f"Subject: {subject}\r\n\r\nbody\r\n".encode())


class ReactorThreadTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.thread = ReactorThread(name="test-reactor").start()
        self.addCleanup(self.thread.stop)

    def test_privateReactor(self) -> None:
        """
        The thread runs a reactor of its own, not the global one, and calls
        run in that thread.
        """
        self.assertIsNot(self.thread.reactor, globalReactor())
        ran = self.thread.call(threading.current_thread, timeout=5, what="which thread")
        self.assertEqual(ran.name, "test-reactor")

    def test_resultsAndErrors(self) -> None:
        """
        A call returns its result (a Deferred's too) or raises its error.
        """
        self.assertEqual(self.thread.call(lambda: 3, timeout=5, what="three"), 3)

        def later() -> Deferred:
            d: Deferred = Deferred()
            self.thread.reactor.callLater(0, d.callback, "later")
            return d

        self.assertEqual(self.thread.call(later, timeout=5, what="later"), "later")
        with self.assertRaises(ZeroDivisionError):
            self.thread.call(lambda: 1 / 0, timeout=5, what="divide")

    def test_timeoutCancels(self) -> None:
        """
        A call that does not finish in time raises L{HarnessTimeout} naming
        it, and its Deferred is cancelled.
        """
        cancelled = threading.Event()
        with self.assertRaises(HarnessTimeout) as raised:
            self.thread.call(lambda: Deferred(lambda d: cancelled.set()), timeout=0.05, what="waiting forever")
        self.assertIn("waiting forever", str(raised.exception))
        self.assertTrue(cancelled.wait(5))

    def test_noCallFromItsOwnThread(self) -> None:
        """
        A blocking call from the reactor thread itself is refused (it could
        only deadlock).
        """
        error = self.thread.call(lambda: self._tryNested(), timeout=5, what="nested")
        self.assertIsInstance(error, RuntimeError)

    def _tryNested(self) -> Exception | None:
        try:
            self.thread.call(lambda: None, timeout=1, what="inner")
        except RuntimeError as e:
            return e
        return None

    def test_tlsClockPerThread(self) -> None:
        """
        TLS's default clock is the thread's own reactor in a reactor thread
        and the global reactor anywhere else.
        """
        self.assertIs(self.thread.call(tls._get_default_clock, timeout=5, what="clock"), self.thread.reactor)
        self.assertIs(tls._get_default_clock(), globalReactor())


class ThreadedHarnessTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.mail = ThreadedHarness().start()
        self.addCleanup(self.mail.stop)

    def test_blockingClientInTheTestThread(self) -> None:
        """
        smtplib blocking this thread is served; C{waitForMessage} returns the
        message and C{messagesFor} lists it.
        """
        send(self.mail.smtpPort, self.mail.address("bob"), "Welcome")
        message = self.mail.waitForMessage(to="bob", subject="Welcome", timeout=5)
        self.assertEqual(message.message.get_content(), "body\n")
        self.assertEqual([m.subject for m in self.mail.messagesFor("bob")], ["Welcome"])

    def test_randomPasswords(self) -> None:
        """
        The default users get random passwords, different per harness, that
        log in over POP3.
        """
        other = ThreadedHarness().start()
        self.addCleanup(other.stop)
        self.assertEqual(set(self.mail.users), {"alice", "bob"})
        self.assertNotEqual(self.mail.users["alice"], other.users["alice"])
        self.assertGreaterEqual(len(self.mail.users["alice"]), 16)
        client = poplib.POP3("127.0.0.1", self.mail.pop3Port, timeout=10)
        client.user("alice")
        client.pass_(self.mail.users["alice"])
        client.quit()

    def test_passwordsAreNotStoredPlain(self) -> None:
        """
        The users database keeps the generated passwords hashed.
        """
        stored = self.mail.callInReactor(lambda: self.mail.harness._userDatabase.lookup("alice"))
        self.assertNotIn(self.mail.users["alice"], repr(stored))

    def test_waitTimesOut(self) -> None:
        """
        C{waitForMessage} raises L{MessageTimeout} after its timeout.
        """
        with self.assertRaises(MessageTimeout) as raised:
            self.mail.waitForMessage(to="alice", subject="never", timeout=0.05)
        self.assertIn("a message to alice@example.test with subject 'never'", str(raised.exception))

    def test_faultsAtOnce(self) -> None:
        """
        A fault is in force when its call returns; C{reset} undoes it.
        """
        self.mail.failDeliveries(1, code=554)
        with self.assertRaises(smtplib.SMTPDataError) as raised:
            send(self.mail.smtpPort, self.mail.address("alice"))
        self.assertEqual(raised.exception.smtp_code, 554)
        self.mail.dropConnections(after=0)
        with self.assertRaises((smtplib.SMTPServerDisconnected, OSError)):
            send(self.mail.smtpPort, self.mail.address("alice"))
        self.mail.reset()
        send(self.mail.smtpPort, self.mail.address("alice"), "after reset")
        self.assertEqual([m.subject for m in self.mail.messagesFor("alice")], ["after reset"])

    def test_clear(self) -> None:
        """
        C{clear} empties the mailboxes, undoes faults, restores the users and
        forgets failed logins; a wait then sees only new mail.
        """
        send(self.mail.smtpPort, self.mail.address("bob"), "old")
        self.mail.rejectRecipients("alice@*")
        added = self.mail.addUser("carol")
        self.assertEqual(self.mail.users["carol"], added)
        self.mail.clear()
        self.assertEqual(self.mail.messagesFor("bob"), [])
        self.assertNotIn("carol", self.mail.users)
        with self.assertRaises(MessageTimeout):
            self.mail.waitForMessage(to="bob", subject="old", timeout=0.05)
        send(self.mail.smtpPort, self.mail.address("alice"), "new")
        self.assertEqual(self.mail.waitForMessage(to="alice", timeout=5).subject, "new")

    def test_stopClosesPorts(self) -> None:
        """
        After stop, nothing listens on the harness's ports; stop twice is harmless.
        """
        port = self.mail.smtpPort
        self.mail.stop()
        self.mail.stop()
        with self.assertRaises(ConnectionRefusedError):
            socket.create_connection(("127.0.0.1", port), timeout=5).close()

    def test_sharedReactorThread(self) -> None:
        """
        Harnesses share one reactor thread.
        """
        self.assertIs(self.mail._thread, sharedReactorThread())


class ThreadedTLSTests(SynchronousTestCase):
    def test_starttlsAndImplicitTLS(self) -> None:
        """
        With C{tls=True}, smtplib's STARTTLS and poplib's implicit TLS work
        against the private reactor, trusting C{sslContext()} (host names
        checked), and a default context does not trust the server.
        """
        with ThreadedHarness(tls=True) as mail:
            send(mail.smtpPort, mail.address("alice"), "over tls", context=mail.sslContext())
            self.assertIn(b"with ESMTPS", mail.waitForMessage(to="alice", timeout=5).raw)
            client = poplib.POP3_SSL("127.0.0.1", mail.pop3sPort, context=mail.sslContext(), timeout=10)
            client.user("alice")
            client.pass_(mail.users["alice"])
            self.assertEqual(client.stat()[0], 1)
            client.quit()
            with self.assertRaises(ssl.SSLError):
                send(mail.smtpPort, mail.address("alice"), "untrusted", context=ssl.create_default_context())
