# -*- test-case-name: tests.smtp.test_session -*-
"""
The SMTP session machine, state by state and input by input.
"""
from __future__ import annotations

from typing import Any, Callable

from twisted.trial.unittest import SynchronousTestCase

from twisted_mail_suite.smtp.session import (STATES, Envelope, NoTransition, Session, SessionCore, SessionInput,
                                            SessionMachine)

# How to drive a fresh machine into each state.
SETUP: dict[str, list[Callable[[Any], object]]] = {
    "idle": [],
    "greeted": [lambda m: m.hello(b"client.test", True)],
    "haveSender": [lambda m: m.hello(b"client.test", True), lambda m: m.senderAccepted(Envelope(b"a@b.test"))],
    "haveRecipients": [lambda m: m.hello(b"client.test", True), lambda m: m.senderAccepted(Envelope(b"a@b.test")),
                       lambda m: m.recipientAccepted(b"alice@example.test", object())],
    "receiving": [lambda m: m.hello(b"client.test", True), lambda m: m.senderAccepted(Envelope(b"a@b.test")),
                  lambda m: m.recipientAccepted(b"alice@example.test", object()), lambda m: m.data()],
    "authenticating": [lambda m: m.hello(b"client.test", True), lambda m: m.challenge(object())],
    "closed": [lambda m: m.quit()],
}

INPUTS: dict[str, Callable[[Any], object]] = {
    "hello": lambda m: m.hello(b"other.test", True),
    "startTLS": lambda m: m.startTLS(),
    "restart": lambda m: m.restart("carol"),
    "auth": lambda m: m.auth(),
    "challenge": lambda m: m.challenge(object()),
    "response": lambda m: m.response(),
    "authenticated": lambda m: m.authenticated("alice"),
    "mailFrom": lambda m: m.mailFrom(),
    "senderAccepted": lambda m: m.senderAccepted(Envelope(b"c@d.test")),
    "rcptTo": lambda m: m.rcptTo(),
    "recipientAccepted": lambda m: m.recipientAccepted(b"bob@example.test", object()),
    "data": lambda m: m.data(),
    "messageDone": lambda m: m.messageDone(),
    "reset": lambda m: m.reset(),
    "quit": lambda m: m.quit(),
}

# (state, input) -> the state after it; missing pairs raise NoTransition.
TABLE: dict[tuple[str, str], str] = {}
for _state in ("idle", "greeted", "haveSender", "haveRecipients"):
    TABLE[(_state, "hello")] = "greeted"
    TABLE[(_state, "quit")] = "closed"
    TABLE[(_state, "reset")] = "idle" if _state == "idle" else "greeted"
TABLE.update({
    ("greeted", "startTLS"): "idle",
    ("idle", "restart"): "idle",
    ("greeted", "restart"): "idle",
    ("greeted", "auth"): "greeted",
    ("greeted", "authenticated"): "greeted",
    ("greeted", "challenge"): "authenticating",
    ("authenticating", "response"): "greeted",
    ("greeted", "mailFrom"): "greeted",
    ("greeted", "senderAccepted"): "haveSender",
    ("haveSender", "rcptTo"): "haveSender",
    ("haveSender", "recipientAccepted"): "haveRecipients",
    ("haveRecipients", "rcptTo"): "haveRecipients",
    ("haveRecipients", "recipientAccepted"): "haveRecipients",
    ("haveRecipients", "data"): "receiving",
    ("receiving", "messageDone"): "greeted",
})


def stateOf(machine: Any) -> str:
    """
    The machine's current state name (automat keeps it private; tests only).
    """
    if isinstance(machine, Session):
        return machine.state
    return getattr(machine, "__automat_transitioner__")._state.name  # type: ignore[no-any-return]


def machineIn(state: str, kind: Callable[[SessionCore], Any] = Session) -> tuple[Any, SessionCore]:
    core = SessionCore()
    machine = kind(core)
    for step in SETUP[state]:
        step(machine)
    return machine, core


class TransitionTableTests(SynchronousTestCase):
    def test_everyStateAndInput(self) -> None:
        """
        Every input in every state either moves to the state the table
        names or raises C{NoTransition} (the protocol's 503): in the
        machine the protocol runs and in the automat one alike.
        """
        for kind in (Session, SessionMachine):
            self.assertTable(kind)

    def assertTable(self, kind: Callable[[SessionCore], Any]) -> None:
        for state in SETUP:
            for name, feed in INPUTS.items():
                machine, core = machineIn(state, kind)
                expected = TABLE.get((state, name))
                if expected is None:
                    self.assertRaises(NoTransition, feed, machine)
                    self.assertEqual(stateOf(machine), state, (state, name))
                else:
                    feed(machine)
                    self.assertEqual(stateOf(machine), expected, (state, name))


    def test_sameStatesAndInputs(self) -> None:
        """
        The table above covers every state and every input of the machine.
        """
        self.assertEqual(sorted(SETUP), sorted(STATES))
        self.assertEqual(sorted(INPUTS), sorted(name for name in vars(SessionInput) if not name.startswith("_")))

    def test_failedInputKeepsState(self) -> None:
        """
        C{NoTransition} names the state and the input, and the state stays.
        """
        machine, core = machineIn("haveSender")
        with self.assertRaises(NoTransition) as caught:
            machine.data()
        self.assertEqual((caught.exception.state, caught.exception.symbol), ("haveSender", "data"))
        self.assertEqual(machine.state, "haveSender")


class CoreTests(SynchronousTestCase):
    def test_helloRecordsName(self) -> None:
        """
        EHLO records the client's name and that the session is extended.
        """
        machine, core = machineIn("idle")
        machine.hello(b"client.test", True)
        self.assertEqual((core.heloName, core.extended), (b"client.test", True))

    def test_helloDropsTransaction(self) -> None:
        """
        EHLO in the middle of a transaction drops it, as RSET would.
        """
        machine, core = machineIn("haveRecipients")
        machine.hello(b"again.test", False)
        self.assertIsNone(core.envelope)
        self.assertFalse(core.extended)

    def test_recipientsCounted(self) -> None:
        """
        Each accepted recipient is added to the envelope; the count is returned.
        """
        machine, core = machineIn("haveRecipients")
        self.assertEqual(machine.recipientAccepted(b"bob@example.test", "x"), 2)
        assert core.envelope is not None
        self.assertEqual(core.envelope.recipients, [b"alice@example.test", b"bob@example.test"])

    def test_dataReturnsEnvelope(self) -> None:
        """
        DATA hands the transaction to the protocol; the end of the text forgets it.
        """
        machine, core = machineIn("haveRecipients")
        envelope = machine.data()
        self.assertEqual(envelope.sender, b"a@b.test")
        machine.messageDone()
        self.assertIsNone(core.envelope)

    def test_startTLSForgetsEverything(self) -> None:
        """
        After STARTTLS the HELO name and the login are forgotten (RFC 3207 §4.2).
        """
        machine, core = machineIn("greeted")
        machine.authenticated("alice")
        machine.startTLS()
        self.assertEqual((core.heloName, core.user, core.extended), (None, None, False))

    def test_authenticatedUser(self) -> None:
        """
        A successful AUTH records the user.
        """
        machine, core = machineIn("greeted")
        machine.authenticated("alice")
        self.assertEqual(core.user, "alice")

    def test_challengeHoldsExchange(self) -> None:
        """
        A SASL challenge keeps its exchange until the response line takes it back.
        """
        machine, core = machineIn("greeted")
        exchange = object()
        machine.challenge(exchange)
        self.assertIs(core.sasl, exchange)
        self.assertIs(machine.response(), exchange)
        self.assertIsNone(core.sasl)

    def test_noCommandWhileAuthenticating(self) -> None:
        """
        While a challenge is out, no command is legal: the next line is its response.
        """
        machine, core = machineIn("authenticating")
        self.assertRaises(NoTransition, machine.mailFrom)
        self.assertRaises(NoTransition, machine.hello, b"client.test", True)

    def test_countersSurviveStartTLS(self) -> None:
        """
        STARTTLS forgets the session but not its junk and accepted counts.
        """
        machine, core = machineIn("greeted")
        core.junk, core.accepted = 3, 2
        machine.startTLS()
        self.assertEqual((core.junk, core.accepted), (3, 2))
