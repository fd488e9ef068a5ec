# -*- test-case-name: tests.relay.test_service -*-
"""
Tests for L{twisted_mail_suite.relay.service} and its wiring in the
suite: what SMTP and C{sendMail} put into the outbound queue, durable
before the answer, and what stays refused.
"""
from __future__ import annotations

import base64
import errno
import os
from email.message import EmailMessage

from twisted.trial.unittest import SynchronousTestCase

from twisted_mail_suite.config import configFromDict
from twisted_mail_suite.errors import ConfigError, DeliveryFailed, RelayUnavailable, UnknownRecipient
from twisted_mail_suite.relay.connector import readCredentials
from twisted_mail_suite.relay.entry import FAILED, Recipient
from twisted_mail_suite.relay import queue as queueModule
from twisted_mail_suite.relay.memory import MemoryOutbox
from twisted_mail_suite.relay.service import messageBytes

from ..fakes import makeSuite
from ..smtp.helpers import Client, storedMessages

PLAIN_OK = b"AUTH PLAIN " + base64.b64encode(b"\0alice\0secret") + b"\r\n"
MESSAGE = b"From: alice@example.test\r\nTo: x@elsewhere.test\r\nSubject: out\r\n\r\nhello\r\n.\r\n"


def submit(suite: object, recipients: list[bytes], role: str = "submission", auth: bool = True) -> list[bytes]:
    client = Client(suite, role=role)
    client.greet()
    commands = (PLAIN_OK if auth else b"") + b"MAIL FROM:<alice@example.test>\r\n"
    commands += b"".join(b"RCPT TO:<" + r + b">\r\n" for r in recipients)
    return client.codes(commands + b"DATA\r\n" + MESSAGE)


def queued(suite: object) -> list:
    return suite.relay.queue.entries()  # type: ignore[attr-defined, no-any-return]


class AcceptanceTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.suite = makeSuite(self)

    def test_submissionQueuesForeign(self) -> None:
        """
        An authenticated sender's foreign recipient is queued on disk before the 250, which names the queue id.
        """
        codes = submit(self.suite, [b"x@elsewhere.test"])
        self.assertEqual(codes, [b"235 2.7.0", b"250 2.1.0", b"250 2.1.5", b"354", b"250 2.0.0"])
        [entry] = queued(self.suite)
        self.assertEqual((entry.sender, [r.address for r in entry.recipients]),
                         ("alice@example.test", ["x@elsewhere.test"]))
        text = b"".join(self.suite.relay.queue.openText(entry))
        self.assertTrue(text.startswith(b"Received: "), text[:40])      # no Return-Path on the way out
        self.assertTrue(text.endswith(b"\r\nhello\r\n"))
        self.assertTrue(os.path.exists(os.path.join(self.suite.relay.queue.activeDir, entry.queueID)))

    def test_mixedOneCommit(self) -> None:
        """
        Local and foreign recipients of one message: bob's copy stored, the rest queued, one 250.
        """
        codes = submit(self.suite, [b"bob@example.test", b"x@elsewhere.test", b"y@other.test"])
        self.assertEqual(codes[-1], b"250 2.0.0")
        self.assertEqual(len(storedMessages(self.suite, "bob")), 1)
        [entry] = queued(self.suite)
        self.assertEqual([r.address for r in entry.recipients], ["x@elsewhere.test", "y@other.test"])

    def test_mxWithoutAuthRefuses(self) -> None:
        """
        The MX port without AUTH still refuses foreign recipients: never an open relay.
        """
        client = Client(self.suite, role="smtp")
        client.greet()
        codes = client.codes(b"MAIL FROM:<a@outside.test>\r\nRCPT TO:<x@elsewhere.test>\r\n")
        self.assertEqual(codes[-1], b"550 5.7.1")
        self.assertEqual(queued(self.suite), [])

    def test_mxWithAuthQueues(self) -> None:
        """
        AUTH on the MX port lets a user relay, as on submission.
        """
        self.assertEqual(submit(self.suite, [b"x@elsewhere.test"], role="smtp")[-1], b"250 2.0.0")
        self.assertEqual(len(queued(self.suite)), 1)

    def test_diskFullAnswers451(self) -> None:
        """
        A full disk at enqueue answers 451 and keeps nothing, neither queued nor local.
        """
        def full(fd: int, data: object) -> int:
            raise OSError(errno.ENOSPC, "No space left on device")

        self.patch(queueModule.os, "write", full)
        codes = submit(self.suite, [b"bob@example.test", b"x@elsewhere.test"])
        self.assertEqual(codes[-1], b"451 4.3.0")
        self.patch(queueModule.os, "write", os.write)
        self.assertEqual((queued(self.suite), storedMessages(self.suite, "bob")), ([], []))
        self.assertEqual(os.listdir(self.suite.relay.queue.tmpDir), [])

    def test_relayOff(self) -> None:
        """
        With C{relay.mode: off} there is no relay and foreign recipients get 550 5.7.1 even after AUTH.
        """
        suite = makeSuite(self, **{"relay.mode": "off"})
        self.assertIsNone(suite.relay)
        codes = submit(suite, [b"x@elsewhere.test"])
        self.assertIn(b"550 5.7.1", codes)


class SendMailTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.suite = makeSuite(self)

    def test_bytes(self) -> None:
        """
        C{sendMail} with bytes fires with the queue id once queued; LF lines become CRLF, Date and Message-ID are added.
        """
        queueID = self.successResultOf(self.suite.sendMail(
            "app@example.test", ["x@elsewhere.test"], b"From: app@example.test\nSubject: Welcome\n\nHi\n"))
        [entry] = queued(self.suite)
        self.assertEqual(entry.queueID, queueID)
        text = b"".join(self.suite.relay.queue.openText(entry))
        self.assertIn(b"\r\nSubject: Welcome\r\n", text)
        self.assertIn(b"\r\nMessage-ID: <", text)
        self.assertIn(b"\r\nDate: ", text)
        self.assertTrue(text.endswith(b"\r\n\r\nHi\r\n"))
        self.assertNotIn(b"Return-Path", text)

    def test_emailMessageMixed(self) -> None:
        """
        An C{EmailMessage} to a local and a foreign address: stored for bob, queued for the other, without Bcc.
        """
        message = EmailMessage()
        message["From"] = "app@example.test"
        message["To"] = "bob@example.test"
        message["Bcc"] = "x@elsewhere.test"
        message["Subject"] = "Both"
        message.set_content("text\n")
        queueID = self.successResultOf(self.suite.sendMail("app@example.test", ["bob@example.test",
                                                                                "x@elsewhere.test"], message))
        [stored] = storedMessages(self.suite, "bob")
        self.assertTrue(stored.startswith(b"Return-Path: <app@example.test>\n"))
        self.assertNotIn(b"Bcc", stored)
        self.assertEqual(queued(self.suite)[0].queueID, queueID)

    def test_unknownLocal(self) -> None:
        """
        An unknown local recipient fails the call with nothing kept.
        """
        self.failureResultOf(self.suite.sendMail("app@example.test", ["nobody@example.test", "x@elsewhere.test"],
                                                 b"Subject: x\r\n\r\ny\r\n"), UnknownRecipient)
        self.assertEqual(queued(self.suite), [])

    def test_relayOff(self) -> None:
        """
        With the relay off, a foreign recipient fails with L{RelayUnavailable}.
        """
        suite = makeSuite(self, **{"relay.mode": "off"})
        self.failureResultOf(suite.sendMail("a@example.test", "x@elsewhere.test", b"\r\nx\r\n"), RelayUnavailable)

    def test_diskFull(self) -> None:
        """
        A full disk fails the call with L{DeliveryFailed}.
        """
        def full(fd: int, data: object) -> int:
            raise OSError(errno.ENOSPC, "No space left on device")

        self.patch(queueModule.os, "write", full)
        self.failureResultOf(self.suite.sendMail("a@example.test", "x@elsewhere.test", b"\r\nx\r\n"), DeliveryFailed)

    def test_messageBytes(self) -> None:
        """
        A folded Bcc is removed whole; existing Date and Message-ID are kept.
        """
        data = messageBytes(b"Date: x\r\nMessage-ID: <m@h>\r\nBcc: a@b,\r\n c@d\r\nTo: e@f\r\n\r\nbody", "h.test")
        self.assertEqual(data, b"Date: x\r\nMessage-ID: <m@h>\r\nTo: e@f\r\n\r\nbody\r\n")


class OutboundSeamTests(SynchronousTestCase):
    def test_memoryOutbox(self) -> None:
        """
        A suite built with an outbound queue (the harness's capture) hands it every outbound message.
        """
        outbox = MemoryOutbox()
        suite = makeSuite(self, outbound=outbox)
        self.assertIs(suite.outbound, outbox)
        self.assertEqual(submit(suite, [b"x@elsewhere.test"])[-1], b"250 2.0.0")
        self.successResultOf(suite.sendMail("app@example.test", "y@elsewhere.test", b"Subject: Hi\r\n\r\nx\r\n"))
        self.assertEqual([(m.sender, m.recipients, m.subject) for m in outbox.messages],
                         [("alice@example.test", ("x@elsewhere.test",), "out"),
                          ("app@example.test", ("y@elsewhere.test",), "Hi")])
        self.assertIsNone(suite.relay.queue)


class BounceTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.suite = makeSuite(self)
        self.relay = self.suite.relay

    def entry(self, sender: str) -> object:
        pending = self.relay.queue.begin(sender, ["x@remote.test"])
        pending.write(b"Subject: original\r\n\r\nbody\r\n")
        return self.relay.queue.get(self.successResultOf(pending.commit()))

    def test_remoteSenderQueued(self) -> None:
        """
        A bounce for a remote sender is queued to it with the null sender.
        """
        entry = self.entry("someone@remote.test")
        self.successResultOf(self.relay.bounce(entry, [Recipient("x@remote.test", FAILED, "550 5.1.1 no", "mx")]))
        [bounce] = [e for e in queued(self.suite) if e.queueID != entry.queueID]
        self.assertEqual((bounce.sender, [r.address for r in bounce.recipients]), ("", ["someone@remote.test"]))
        self.assertIn(b"Subject: original", b"".join(self.relay.queue.openText(bounce)))

    def test_noBounceToNullSender(self) -> None:
        """
        A failed bounce (null sender) is dropped, never bounced.
        """
        entry = self.entry("")
        self.successResultOf(self.relay.bounce(entry, [Recipient("x@remote.test", FAILED, "550 no", "")]))
        self.assertEqual(len(queued(self.suite)), 1)

    def test_unknownLocalSenderDropped(self) -> None:
        """
        A bounce for a local address nobody receives is dropped.
        """
        entry = self.entry("ghost@example.test")
        self.successResultOf(self.relay.bounce(entry, [Recipient("x@remote.test", FAILED, "550 no", "")]))
        self.assertEqual(len(queued(self.suite)), 1)


class RelayConfigTests(SynchronousTestCase):
    def test_defaults(self) -> None:
        """
        The keys of DESIGN.md with their defaults: mx mode, port 25, the retry schedule, five days.
        """
        relay = configFromDict({}).relay
        self.assertEqual((relay.mode, relay.mx_port, relay.smarthost_tls, relay.tls_verify, relay.nameservers),
                         ("mx", 25, "starttls", True, ()))
        self.assertEqual(relay.retry_schedule, (60.0, 300.0, 900.0, 1800.0, 3600.0, 7200.0, 14400.0))
        self.assertEqual((relay.max_queue_lifetime, relay.dkim), (5 * 86400.0, {}))

    def test_errorsNameTheKey(self) -> None:
        """
        Bad values name the key; plaintext to a smarthost is allowed to loopback only.
        """
        cases = {"retry_schedule": (["5x"], "relay.retry_schedule[0]"), "smarthost": ("nohost", "relay.smarthost"),
                 "nameservers": (["1.2.3.4"], "relay.nameservers[0]"), "mode": ("both", "relay.mode")}
        for key, (value, where) in cases.items():
            error = self.assertRaises(ConfigError, configFromDict, {"relay": {key: value}}, "tap.yaml")
            self.assertTrue(str(error).startswith(f"tap.yaml: {where}: "), str(error))
        self.assertRaises(ConfigError, configFromDict, {"relay": {"mode": "smarthost"}})
        self.assertRaises(ConfigError, configFromDict, {"relay": {"smarthost": "smtp.example.net:25",
                                                                  "smarthost_tls": "none"}})
        configFromDict({"relay": {"smarthost": "127.0.0.1:25", "smarthost_tls": "none"}})

    def test_authFileMode(self) -> None:
        """
        The smarthost password file must be 0600 and hold user:password.
        """
        path = self.mktemp()
        with open(path, "w") as f:
            f.write("user:secret\n")
        os.chmod(path, 0o644)
        self.assertRaises(ConfigError, readCredentials, path)
        os.chmod(path, 0o600)
        self.assertEqual(readCredentials(path), ("user", "secret"))
