# -*- test-case-name: tests.reliability.test_smtp_model -*-
"""
A stateful test of the SMTP server against a small model of RFC 5321
command sequencing (§4.1.4, §3.3): Hypothesis drives one session after
another with any order of commands, and after each step the server's reply
code and the mailboxes must match the model.

The model: a session is C{idle} until EHLO/HELO, then C{greeted}; a valid
MAIL starts a transaction (C{sender}), an accepted RCPT makes it
C{recipients}; DATA is legal only there, and the text it introduces is
kept, once per distinct recipient, exactly when it ends with
C{<CRLF>.<CRLF>}.  RSET and EHLO drop the transaction; a command out of
sequence gets 503 and changes nothing; a dropped connection keeps nothing
of an unfinished message.
"""
from __future__ import annotations

from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule
from twisted.internet.error import ConnectionLost
from twisted.python.failure import Failure
from twisted.trial.unittest import SynchronousTestCase

from ..fakes import maildirOf, makeSuite, peerTransport
from .support import STATEFUL, ExampleCounter

USERS = {"alice": "secret", "bob": "hunter2", "carol": "pw"}
MAX_RECIPIENTS = 3
LINES = st.lists(st.one_of(st.sampled_from([b"", b".", b"..", b".x", b"Subject: hi", b" folded", b"a.b"]),
                           st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=60)
                           .map(lambda t: t.encode("ascii"))),
                 max_size=8)


def stuff(lines: list[bytes]) -> bytes:
    return b"".join((b"." + line if line.startswith(b".") else line) + b"\r\n" for line in lines)


class SMTPSessionModel(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.session: dict = {}

    @initialize()
    def start(self) -> None:
        self.testCase = SMTPModelTests("test_model")
        self.suite = makeSuite(self.testCase, users=USERS, **{"smtp.junk_command_limit": 0,
                                                              "smtp.max_recipients": MAX_RECIPIENTS})
        self.expected: dict[str, list[bytes]] = {user: [] for user in USERS}
        self.connect()
        SMTPModelTests.counter()

    def connect(self) -> None:
        self.transport = peerTransport()
        self.protocol = self.suite.factories["smtp"].buildProtocol(self.transport.getPeer())
        self.protocol.makeConnection(self.transport)
        assert self.take() == [b"220"]
        self.state = "idle"
        self.recipients: list[str] = []

    def take(self) -> list[bytes]:
        """
        The codes of the complete replies written since the last call.
        """
        data = self.transport.value()
        self.transport.clear()
        return [line[:3] for line in data.split(b"\r\n")[:-1] if line[3:4] != b"-"]

    def send(self, data: bytes) -> list[bytes]:
        self.protocol.dataReceived(data)
        return self.take()

    def expect(self, data: bytes, code: bytes) -> None:
        codes = self.send(data)
        assert codes == [code], (data, codes, code, self.state)

    # Rules

    @rule(extended=st.booleans())
    def hello(self, extended: bool) -> None:
        self.expect(b"EHLO c.test\r\n" if extended else b"HELO c.test\r\n", b"250")
        self.state, self.recipients = "greeted", []

    @precondition(lambda self: self.state == "greeted")
    @rule(sender=st.sampled_from([b"<>", b"<s@remote.test>", b"<S@EXAMPLE.TEST>"]))
    def mail(self, sender: bytes) -> None:
        self.expect(b"MAIL FROM:" + sender + b"\r\n", b"250")
        self.state = "sender"

    @precondition(lambda self: self.state == "greeted")
    @rule(argument=st.sampled_from([b"FROM:<unclosed", b"FROM:", b"TO:<a@b.test>", b"FROM:<a@b.test> BOGUS=1"]))
    def badMail(self, argument: bytes) -> None:
        codes = self.send(b"MAIL " + argument + b"\r\n")
        assert len(codes) == 1 and codes[0][:1] == b"5" and codes[0] != b"503", codes

    @precondition(lambda self: self.state in ("sender", "recipients"))
    @rule(user=st.sampled_from(sorted(USERS)), case=st.booleans())
    def rcptLocal(self, user: str, case: bool) -> None:
        address = f"<{user.upper() if case else user}@example.test>".encode()
        if len(self.recipients) >= MAX_RECIPIENTS:
            self.expect(b"RCPT TO:" + address + b"\r\n", b"452")
        else:
            self.expect(b"RCPT TO:" + address + b"\r\n", b"250")
            self.recipients.append(user)
            self.state = "recipients"

    @precondition(lambda self: self.state in ("sender", "recipients"))
    @rule(address=st.sampled_from([b"<nobody@example.test>", b"<alice@foreign.test>"]))
    def rcptRefused(self, address: bytes) -> None:
        code = b"452" if len(self.recipients) >= MAX_RECIPIENTS else b"550"
        self.expect(b"RCPT TO:" + address + b"\r\n", code)

    @precondition(lambda self: self.state == "recipients")
    @rule(lines=LINES, split=st.integers(0, 1000))
    def data(self, lines: list[bytes], split: int) -> None:
        self.expect(b"DATA\r\n", b"354")
        text = stuff(lines) + b".\r\n"
        cut = split % len(text)            # the last octet always comes second
        assert self.send(text[:cut]) == []
        self.expect(text[cut:], b"250")
        for user in dict.fromkeys(self.recipients):
            self.expected[user].append(b"".join(line + b"\n" for line in lines))
        self.state, self.recipients = "greeted", []

    @precondition(lambda self: self.state == "greeted")
    @rule(user=st.sampled_from(sorted(USERS)), lines=LINES)
    def pipelined(self, user: str, lines: list[bytes]) -> None:
        """
        A whole transaction in one write (RFC 2920): replies in order.
        """
        codes = self.send(b"MAIL FROM:<p@remote.test>\r\nRCPT TO:<%s@example.test>\r\nDATA\r\n%s.\r\n"
                          % (user.encode(), stuff(lines)))
        assert codes == [b"250", b"250", b"354", b"250"], codes
        self.expected[user].append(b"".join(line + b"\n" for line in lines))

    @precondition(lambda self: self.state == "recipients")
    @rule(lines=LINES)
    def dropDuringData(self, lines: list[bytes]) -> None:
        self.expect(b"DATA\r\n", b"354")
        self.protocol.dataReceived(stuff(lines))
        self.protocol.connectionLost(Failure(ConnectionLost()))
        self.connect()

    @rule(command=st.sampled_from([b"RSET", b"NOOP", b"VRFY alice", b"HELP", b"BOGUS", b"DATA now", b"QUIT",
                                   b"MAIL FROM:<s@remote.test>", b"RCPT TO:<alice@example.test>", b"DATA"]))
    def sideCommand(self, command: bytes) -> None:
        """
        A command that does not move a transaction forward: RSET, NOOP,
        VRFY, HELP, an unknown verb, a syntax error, QUIT, or a command the
        current state does not allow (503, nothing changes).
        """
        verb = command.split(b" ")[0]
        legal = {b"MAIL": ("greeted",), b"RCPT": ("sender", "recipients"), b"DATA": ("recipients",)}
        if command in (b"MAIL FROM:<s@remote.test>", b"RCPT TO:<alice@example.test>", b"DATA"):
            if self.state not in legal[verb]:
                self.expect(command + b"\r\n", b"503")
            return
        if verb == b"QUIT":
            if self.state == "idle":
                return
            self.expect(b"QUIT\r\n", b"221")
            assert self.transport.disconnecting
            self.protocol.connectionLost(Failure(ConnectionLost()))
            self.connect()
            return
        codes = {b"RSET": b"250", b"NOOP": b"250", b"VRFY": b"252", b"HELP": b"214", b"BOGUS": b"500",
                 b"DATA": b"501"}
        self.expect(command + b"\r\n", codes[verb])
        if verb == b"RSET" and self.state != "idle":
            self.state, self.recipients = "greeted", []

    @invariant()
    def mailboxesMatchModel(self) -> None:
        if not hasattr(self, "suite"):
            return
        for user, bodies in self.expected.items():
            stored = []
            maildir = maildirOf(self.suite)
            for message in maildir.storedMessages(user):
                with maildir.openStored(user, message.uid) as f:
                    stored.append(f.read())
            assert len(stored) == len(bodies), (user, len(stored), len(bodies))
            for content, body in zip(stored, bodies):
                assert content.startswith(b"Return-Path: <"), content[:80]
                assert content.endswith(body), (content[-200:], body)

    def teardown(self) -> None:
        if hasattr(self, "testCase"):
            self.testCase.doCleanups()


class SMTPModelTests(SynchronousTestCase):
    """
    Runs L{SMTPSessionModel}.
    """

    counter = ExampleCounter("smtp.model")

    def test_model(self) -> None:
        """
        Every reply code and every mailbox matches the RFC 5321 model, for
        any sequence of commands, text and dropped connections.
        """
        SMTPModelTests.counter = ExampleCounter("smtp.model")
        test = SMTPSessionModel.TestCase
        test.settings = STATEFUL
        test("runTest").runTest()
        SMTPModelTests.counter.report()
