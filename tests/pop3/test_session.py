# -*- test-case-name: tests.pop3.test_session -*-
"""
Tests for L{twisted_mail_suite.pop3.session}: the POP3 state machine alone,
no protocol, no I/O.
"""
from __future__ import annotations

from typing import Any, Callable

from twisted.trial.unittest import SynchronousTestCase

from twisted_mail_suite.pop3.session import (
    Challenge, Login, Maildrop, NoTransition, POP3Error, Reply, SendMessage, SessionCore,
    SessionMachine, StartTLS, Update, multiline,
)

# Every input with sample arguments.
INPUTS: dict[str, tuple[Any, ...]] = {
    "user": (b"alice",), "password": (b"secret",), "apop": (b"alice", b"0" * 32),
    "authMechanisms": (), "authPlain": (b"alice", b"secret"), "authChallenge": (b"+ \r\n",),
    "saslResponse": (b"alice", b"secret"), "saslAborted": (b"-ERR no\r\n",), "stls": (),
    "capa": (), "loginSucceeded": (b"alice", Maildrop([5, 7], [b"u1", b"u2"])),
    "loginFailed": (b"-ERR [AUTH] no\r\n",), "loginRefused": (b"-ERR [AUTH] no\r\n",),
    "stat": (), "list": (None,), "uidl": (None,), "retr": (1,), "top": (1, 0), "dele": (1,),
    "rset": (), "noop": (), "quit": (), "updated": (True,),
}


def machine(**core: Any) -> Any:
    return SessionMachine(SessionCore(**{"plaintextAllowed": True, "tlsAvailable": True, **core}))


def inAuthorization() -> Any:
    return machine()


def inHaveUser() -> Any:
    m = machine()
    m.user(b"alice")
    return m


def inSaslPlain() -> Any:
    m = machine()
    m.authChallenge(b"+ \r\n")
    return m


def inAuthenticating() -> Any:
    m = inHaveUser()
    m.password(b"secret")
    return m


def inTransaction(sizes: list[int] | None = None) -> Any:
    m = inAuthenticating()
    sizes = [5, 7, 11] if sizes is None else sizes
    m.loginSucceeded(b"alice", Maildrop(sizes, [b"uid%d" % i for i in range(1, len(sizes) + 1)]))
    return m


def inUpdate() -> Any:
    m = inTransaction()
    m.quit()
    return m


def inClosed() -> Any:
    m = inUpdate()
    m.updated(True)
    return m


# state -> (how to get there, {input: expected action type})
EXPECTED: dict[str, tuple[Callable[[], Any], dict[str, type]]] = {
    "authorization": (inAuthorization, {
        "user": Reply, "password": Reply, "apop": Login, "authMechanisms": Reply,
        "authPlain": Login, "authChallenge": Challenge, "stls": StartTLS, "capa": Reply,
        "quit": Reply}),
    "haveUser": (inHaveUser, {"user": Reply, "password": Login, "capa": Reply, "quit": Reply}),
    "saslPlain": (inSaslPlain, {"saslResponse": Login, "saslAborted": Reply}),
    "authenticating": (inAuthenticating, {
        "loginSucceeded": Reply, "loginFailed": Reply, "loginRefused": Reply}),
    "transaction": (inTransaction, {
        "stat": Reply, "list": Reply, "uidl": Reply, "retr": SendMessage, "top": SendMessage,
        "dele": Reply, "rset": Reply, "noop": Reply, "capa": Reply, "quit": Update}),
    "update": (inUpdate, {"updated": Reply}),
    "closed": (inClosed, {}),
}


class EveryInputInEveryStateTests(SynchronousTestCase):
    """
    The complete transition table: each input either gives the expected
    action or raises C{NoTransition}.
    """

    def test_table(self) -> None:
        """
        Every (state, input) pair behaves as the table says.
        """
        for state, (reach, allowed) in EXPECTED.items():
            for name, arguments in INPUTS.items():
                m = reach()
                if name in allowed:
                    action = getattr(m, name)(*arguments)
                    self.assertIsInstance(action, allowed[name], f"{name} in {state}")
                else:
                    with self.assertRaises(NoTransition, msg=f"{name} in {state}") as caught:
                        getattr(m, name)(*arguments)
                    self.assertEqual(caught.exception.state.name, state)


class AuthorizationTests(SynchronousTestCase):
    """
    The AUTHORIZATION state.
    """

    def test_passWithoutUser(self) -> None:
        """
        PASS before USER is refused and the session stays where it was.
        """
        m = inAuthorization()
        self.assertEqual(m.password(b"x"), Reply(b"-ERR No username given.\r\n"))
        self.assertIsInstance(m.user(b"alice"), Reply)

    def test_lastUserWins(self) -> None:
        """
        A second USER replaces the first name.
        """
        m = inHaveUser()
        m.user(b"bob")
        self.assertEqual(m.password(b"pw"), Login(b"bob", password=b"pw"))

    def test_apop(self) -> None:
        """
        APOP asks for a digest login.
        """
        self.assertEqual(inAuthorization().apop(b"alice", b"d" * 32),
                         Login(b"alice", digest=b"d" * 32))

    def test_saslResponse(self) -> None:
        """
        The response to the challenge asks for a password login.
        """
        m = inSaslPlain()
        self.assertEqual(m.saslResponse(b"alice", b"pw"), Login(b"alice", password=b"pw"))

    def test_saslAborted(self) -> None:
        """
        A cancelled exchange answers with the given reply and goes back to
        AUTHORIZATION.
        """
        m = inSaslPlain()
        self.assertEqual(m.saslAborted(b"-ERR cancelled\r\n"), Reply(b"-ERR cancelled\r\n"))
        self.assertIsInstance(m.user(b"alice"), Reply)

    def test_loginFailedAllowsRetry(self) -> None:
        """
        After a failed login the client may try again.
        """
        m = inAuthenticating()
        self.assertEqual(m.loginFailed(b"-ERR [AUTH] x\r\n"), Reply(b"-ERR [AUTH] x\r\n"))
        self.assertIsInstance(m.user(b"alice"), Reply)

    def test_loginRefusedCloses(self) -> None:
        """
        A refused login closes the connection.
        """
        self.assertEqual(inAuthenticating().loginRefused(b"-ERR [AUTH] x\r\n"),
                         Reply(b"-ERR [AUTH] x\r\n", close=True))

    def test_stlsUnavailable(self) -> None:
        """
        STLS inside TLS is refused.
        """
        m = machine(tlsAvailable=False)
        self.assertRaises(POP3Error, m.stls)

    def test_quitBeforeLogin(self) -> None:
        """
        QUIT before login closes without an UPDATE state.
        """
        self.assertEqual(inHaveUser().quit(), Reply(b"+OK Logging out.\r\n", close=True))

    def test_mechanisms(self) -> None:
        """
        AUTH alone lists PLAIN where plaintext is allowed, nothing elsewhere.
        """
        self.assertEqual(machine().authMechanisms(), Reply(b"+OK\r\nPLAIN\r\n.\r\n"))
        self.assertEqual(machine(plaintextAllowed=False).authMechanisms(), Reply(b"+OK\r\n.\r\n"))


class CapabilityTests(SynchronousTestCase):
    """
    CAPA lists only what is true on this connection in this state.
    """

    def capabilities(self, m: Any) -> list[bytes]:
        return m.capa().data.split(b"\r\n")[1:-2]

    def test_plaintextConnection(self) -> None:
        """
        Before login, where plaintext is allowed and TLS is not active: USER,
        SASL PLAIN and STLS too.
        """
        self.assertEqual(self.capabilities(machine()), [
            b"CAPA", b"TOP", b"UIDL", b"RESP-CODES", b"AUTH-RESP-CODE", b"PIPELINING",
            b"USER", b"SASL PLAIN", b"STLS", b"IMPLEMENTATION twisted-mail-suite"])

    def test_plaintextRefused(self) -> None:
        """
        Where plaintext passwords are refused, neither USER nor SASL PLAIN is
        offered (Dovecot does the same), STLS is.
        """
        capabilities = self.capabilities(machine(plaintextAllowed=False))
        self.assertNotIn(b"USER", capabilities)
        self.assertNotIn(b"SASL PLAIN", capabilities)
        self.assertIn(b"STLS", capabilities)

    def test_insideTLS(self) -> None:
        """
        Inside TLS, STLS is not offered.
        """
        self.assertNotIn(b"STLS", self.capabilities(machine(tlsAvailable=False)))

    def test_transaction(self) -> None:
        """
        After login, login-related capabilities are gone.
        """
        capabilities = self.capabilities(inTransaction())
        for gone in (b"USER", b"SASL PLAIN", b"STLS"):
            self.assertNotIn(gone, capabilities)
        self.assertIn(b"TOP", capabilities)


class TransactionTests(SynchronousTestCase):
    """
    The TRANSACTION and UPDATE states.
    """

    def test_stat(self) -> None:
        """
        STAT counts the messages and their octets.
        """
        self.assertEqual(inTransaction().stat(), Reply(b"+OK 3 23\r\n"))

    def test_list(self) -> None:
        """
        LIST gives every message's size; LIST n one.
        """
        m = inTransaction()
        self.assertEqual(m.list(None), Reply(b"+OK 3 messages (23 octets)\r\n1 5\r\n2 7\r\n3 11\r\n.\r\n"))
        self.assertEqual(m.list(2), Reply(b"+OK 2 7\r\n"))

    def test_uidl(self) -> None:
        """
        UIDL gives every unique-id; UIDL n answers C{+OK n uid}.
        """
        m = inTransaction()
        self.assertEqual(m.uidl(None), Reply(b"+OK\r\n1 uid1\r\n2 uid2\r\n3 uid3\r\n.\r\n"))
        self.assertEqual(m.uidl(3), Reply(b"+OK 3 uid3\r\n"))

    def test_noSuchMessage(self) -> None:
        """
        Message numbers outside 1..count are refused.
        """
        m = inTransaction()
        for number in (0, 4):
            for name in ("retr", "dele"):
                self.assertRaises(POP3Error, getattr(m, name), number)
            self.assertRaises(POP3Error, m.list, number)
            self.assertRaises(POP3Error, m.uidl, number)
            self.assertRaises(POP3Error, m.top, number, 0)

    def test_retr(self) -> None:
        """
        RETR asks for the whole message after a status with its size.
        """
        self.assertEqual(inTransaction().retr(2), SendMessage(1, b"+OK 7 octets\r\n"))

    def test_top(self) -> None:
        """
        TOP asks for the header and n lines.
        """
        self.assertEqual(inTransaction().top(3, 5), SendMessage(2, b"+OK\r\n", 5))

    def test_deleteMarks(self) -> None:
        """
        A deleted message disappears from STAT and LIST and is refused by
        RETR, TOP, LIST n, UIDL n and DELE.
        """
        m = inTransaction()
        self.assertEqual(m.dele(2), Reply(b"+OK Marked to be deleted.\r\n"))
        self.assertEqual(m.stat(), Reply(b"+OK 2 16\r\n"))
        self.assertEqual(m.list(None).data, b"+OK 2 messages (16 octets)\r\n1 5\r\n3 11\r\n.\r\n")
        self.assertEqual(m.uidl(None).data, b"+OK\r\n1 uid1\r\n3 uid3\r\n.\r\n")
        for call in (lambda: m.retr(2), lambda: m.top(2, 0), lambda: m.list(2),
                     lambda: m.uidl(2), lambda: m.dele(2)):
            self.assertRaises(POP3Error, call)

    def test_rset(self) -> None:
        """
        RSET unmarks every deleted message.
        """
        m = inTransaction()
        m.dele(1)
        m.dele(3)
        self.assertEqual(m.rset(), Reply(b"+OK 3 messages (23 octets).\r\n"))
        self.assertEqual(m.quit(), Update(()))

    def test_quitUpdates(self) -> None:
        """
        QUIT in TRANSACTION asks for the UPDATE state with the marked
        messages (0-based, in order).
        """
        m = inTransaction()
        m.dele(3)
        m.dele(1)
        self.assertEqual(m.quit(), Update((0, 2)))
        self.assertEqual(m.updated(True), Reply(b"+OK Logging out.\r\n", close=True))

    def test_updateFailed(self) -> None:
        """
        A failed UPDATE answers C{-ERR} (RFC 1939 §6) and closes.
        """
        m = inUpdate()
        reply = m.updated(False)
        self.assertTrue(reply.data.startswith(b"-ERR [SYS/TEMP]"))
        self.assertTrue(reply.close)

    def test_emptyMaildrop(self) -> None:
        """
        An empty maildrop lists nothing.
        """
        m = inTransaction(sizes=[])
        self.assertEqual(m.stat(), Reply(b"+OK 0 0\r\n"))
        self.assertEqual(m.list(None), Reply(b"+OK 0 messages (0 octets)\r\n.\r\n"))


class HelperTests(SynchronousTestCase):
    """
    Small pieces of the session module.
    """

    def test_multilineStuffsDots(self) -> None:
        """
        Lines of a multi-line reply that start with a dot are stuffed.
        """
        self.assertEqual(multiline(b"x", [b".a", b"b"]), b"+OK x\r\n..a\r\nb\r\n.\r\n")

    def test_maildropNeedsOneUidPerMessage(self) -> None:
        """
        Sizes and unique-ids must pair up.
        """
        self.assertRaises(ValueError, Maildrop, [1, 2], [b"a"])

    def test_errorCarriesReply(self) -> None:
        """
        L{POP3Error} carries its C{-ERR} line.
        """
        self.assertEqual(POP3Error(b"No.", "why").reply, b"-ERR No.\r\n")
