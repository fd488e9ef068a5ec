# -*- test-case-name: tests.integration.test_pop3_poplib -*-
"""
The POP3 server over real loopback sockets (port 0), with Python's
C{poplib} as an independent client: list, read, delete and re-read; the
sizes, unique-ids and deletions as RFC 1939 says; STLS, implicit TLS,
APOP and C{[IN-USE]}.
"""
from __future__ import annotations

import poplib
import socket
from typing import Any

from twisted.internet import reactor
from twisted.internet.defer import inlineCallbacks
from twisted.internet.task import deferLater
from twisted.internet.threads import deferToThread
from twisted.trial.unittest import TestCase

from twisted_mail_suite.testing import startHarness

from ..pop3.support import DOTTED, EIGHT_BIT, NO_NEWLINE

# The harness makes random passwords unless given; these tests log in with known ones.
KNOWN_USERS = {"alice": "secret", "bob": "hunter2"}

MESSAGES = [DOTTED, EIGHT_BIT, NO_NEWLINE]


def wireLines(message: bytes) -> list[bytes]:
    """
    What poplib returns for C{message}: its lines, unstuffed, without CRLF.
    """
    lines = message.split(b"\r\n")
    return lines[:-1] if message.endswith(b"\r\n") else lines


class PoplibTests(TestCase):
    """
    Python's poplib against the server.
    """

    timeout = 30

    @inlineCallbacks
    def setUp(self) -> Any:
        self.harness = yield startHarness(self, tls=True, overrides={"auth.failure_delay": 0.01, "pop3.apop": True},
                                           users=KNOWN_USERS, passwordScheme="PLAIN")
        self.uids = []
        for message in MESSAGES:
            delivery = self.harness.store.beginDelivery(["alice"])
            delivery.write(message)
            self.uids.extend((yield delivery.commit()))

    def connect(self) -> poplib.POP3:
        client = poplib.POP3("127.0.0.1", self.harness.pop3Port, timeout=10)
        self.addCleanup(client.close)
        return client

    def test_listReadDeleteReread(self) -> Any:
        """
        Sizes in STAT/LIST equal the octets of each message as received,
        UIDL is stable across sessions, RETR returns the exact lines, DELE
        takes effect at QUIT and only then.
        """
        def session() -> None:
            client = self.connect()
            client.user("alice")
            client.pass_("secret")
            count, octets = client.stat()
            self.assertEqual((count, octets), (3, sum(map(len, MESSAGES))))
            listing = client.list()[1]
            self.assertEqual(listing, [b"%d %d" % (i + 1, len(m)) for i, m in enumerate(MESSAGES)])
            uids = client.uidl()[1]
            self.assertEqual(uids, [b"%d %s" % (i + 1, uid.split(",")[0].encode())
                                    for i, uid in enumerate(self.uids)])
            for number, message in enumerate(MESSAGES, 1):
                response, lines, _ = client.retr(number)
                self.assertEqual(response, b"+OK %d octets" % len(message))
                self.assertEqual(lines, wireLines(message))
            self.assertEqual(client.top(1, 1)[1], [b"Subject: dots", b"", b".starts with a dot"])
            client.dele(2)
            self.assertRaises(poplib.error_proto, client.retr, 2)
            peek = self.connect()
            self.assertIn(b"[IN-USE]", self.assertRaises(poplib.error_proto, lambda: (
                peek.user("alice"), peek.pass_("secret"))).args[0])
            client.quit()

            again = self.connect()
            again.user("alice")
            again.pass_("secret")
            self.assertEqual(again.stat(), (2, len(DOTTED) + len(NO_NEWLINE)))
            self.assertEqual(again.uidl()[1], [b"1 " + self.uids[0].split(",")[0].encode(),
                                               b"2 " + self.uids[2].split(",")[0].encode()])
            self.assertEqual(again.retr(2)[1], wireLines(NO_NEWLINE))
            again.quit()

        return deferToThread(session)

    def test_droppedConnectionDeletesNothing(self) -> Any:
        """
        A client that deletes and then drops the connection (no QUIT)
        deletes nothing, and the maildrop is free again at once.
        """
        def session() -> None:
            client = self.connect()
            client.user("alice")
            client.pass_("secret")
            client.dele(1)
            client.dele(2)
            client.file.close()
            client.sock.shutdown(socket.SHUT_RDWR)
            client.sock.close()
            client.file = client.sock = None   # gone without QUIT

        @inlineCallbacks
        def check(_: object) -> Any:
            locks = self.harness.suite.maildropLocks
            for _ in range(500):   # until the server has seen the drop
                if not locks.isHeld("alice"):
                    break
                yield deferLater(reactor, 0.01, lambda: None)
            self.assertFalse(locks.isHeld("alice"))

            def again() -> None:
                client = self.connect()
                client.user("alice")
                client.pass_("secret")
                self.assertEqual(client.stat()[0], 3)
                client.quit()

            yield deferToThread(again)

        return deferToThread(session).addCallback(check)

    def test_stls(self) -> Any:
        """
        STLS upgrades the connection; CAPA then no longer offers it, and a
        login works.
        """
        def session() -> None:
            client = self.connect()
            self.assertIn("STLS", client.capa())
            client.stls(self.harness.sslContext())
            capabilities = client.capa()
            self.assertNotIn("STLS", capabilities)
            self.assertIn("USER", capabilities)
            client.user("alice")
            client.pass_("secret")
            self.assertEqual(client.stat()[0], 3)
            client.quit()

        return deferToThread(session)

    def test_implicitTLS(self) -> Any:
        """
        The C{ssl:} listener speaks POP3 inside TLS from the first octet.
        """
        def session() -> None:
            client = poplib.POP3_SSL("127.0.0.1", self.harness.pop3sPort,
                                     context=self.harness.sslContext(), timeout=10)
            self.addCleanup(client.close)
            self.assertNotIn("STLS", client.capa())
            client.user("bob")
            client.pass_("hunter2")
            self.assertEqual(client.stat(), (0, 0))
            client.quit()

        return deferToThread(session)

    def test_apop(self) -> Any:
        """
        APOP with the greeting's timestamp logs in.
        """
        def session() -> None:
            client = self.connect()
            client.apop("alice", "secret")
            self.assertEqual(client.stat()[0], 3)
            client.quit()

        return deferToThread(session)

    def test_wrongPassword(self) -> Any:
        """
        A wrong password gets C{-ERR [AUTH]}.
        """
        def session() -> None:
            client = self.connect()
            client.user("alice")
            error = self.assertRaises(poplib.error_proto, client.pass_, "wrong")
            self.assertTrue(error.args[0].startswith(b"-ERR [AUTH]"))

        return deferToThread(session)
