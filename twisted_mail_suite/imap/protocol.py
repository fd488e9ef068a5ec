# -*- test-case-name: tests.imap.test_protocol,tests.imap.test_login -*-
"""
IMAP on the wire: each command (read by L{twisted_mail_suite.imap.connection})
is parsed (L{twisted_mail_suite.imap.grammar}), looked up in one table
(L{COMMANDS}: the verb -> the class of command for the session machine, and
its handler), checked against the state by the session machine
(L{twisted_mail_suite.imap.session}; an illegal command is answered C{BAD}
in one place) and run.  After a command, a selected mailbox's changes are
reported (C{EXPUNGE} only where allowed); in IDLE they are reported as they
happen: new mail from the bus's C{NewMailEvent} (through the factory),
changes by other sessions of the process from the folder's listeners, and
what only the store knows (another node's flags and expunges) from a look
at the folder every L{IDLE_POLL} seconds.

Bad input: a syntax error or unknown command is C{BAD} and the session
goes on; past C{max_bad_commands} such commands the client is told
C{BYE}.  Lines and literals are bounded by the reader, slow readers by the
connection's pacing, silence by the idle timeout.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from twisted.internet.defer import Deferred, succeed
from twisted.internet.interfaces import ITLSTransport
from twisted.mail.interfaces import IAccountIMAP
from twisted.python.failure import Failure

from ..identity.policy import LoginOutcome, LoginResult
from ..net.transport import isSecure
from . import fetch, listing, login, mailboxes, messages, search
from .connection import RAW_LINE, Handler, IMAPConnection, IMAPShared
from .grammar import Arguments, ParsedCommand, SyntaxError_, parseCommand
from .parser import Refusal as ReadRefusal
from .responses import Bad
from .session import NoTransition, Perform, SessionCore, SessionMachine

__all__ = ["COMMANDS", "IMAPServerProtocol"]

NOT_VALID = b"BAD Command not valid in this state."
IDLE_POLL = 30.0    # seconds between looks at the selected folder in IDLE (Dovecot's mailbox_idle_check_interval)
TOO_MANY_BAD = b"* BYE Too many invalid commands.\r\n"


@dataclass(frozen=True)
class Command:
    """
    One verb: the session input for its class, its handler, and whether
    C{EXPUNGE} responses may follow it (never after FETCH, STORE, SEARCH).
    """

    input: Callable[[Any, ParsedCommand], Perform]
    handler: Callable[..., Handler]
    expunges: bool = True


def _any(session: Any, command: ParsedCommand) -> Perform:
    return session.anyState(command)  # type: ignore[no-any-return]


def _before(session: Any, command: ParsedCommand) -> Perform:
    return session.notAuthenticated(command)  # type: ignore[no-any-return]


def _authenticated(session: Any, command: ParsedCommand) -> Perform:
    return session.authenticated(command)  # type: ignore[no-any-return]


def _selected(session: Any, command: ParsedCommand) -> Perform:
    return session.selected(command)  # type: ignore[no-any-return]


def _capability(ctx: IMAPServerProtocol, perform: Perform, args: Arguments) -> Handler:
    args.end()
    yield b"* CAPABILITY " + ctx.capabilities() + b"\r\n"
    return b"OK Capability completed."


def _noop(ctx: IMAPServerProtocol, perform: Perform, args: Arguments) -> Handler:
    args.end()
    return b"OK NOOP completed."
    yield


def _logout(ctx: IMAPServerProtocol, perform: Perform, args: Arguments) -> Handler:
    args.end()
    ctx.endSession()
    yield b"* BYE Logging out.\r\n"
    ctx.afterReply(ctx.closeNow)
    return b"OK Logout completed."


def _id(ctx: IMAPServerProtocol, perform: Perform, args: Arguments) -> Handler:
    parameters = args.list() if args.peekAtom() != b"NIL" else args.atom()
    args.end()
    if isinstance(parameters, list) and (len(parameters) % 2 or len(parameters) > 60):
        raise Bad(b"Invalid ID parameters.")
    yield b'* ID ("name" "twisted-mail-suite" "vendor" "twisted-mail-suite")\r\n'
    return b"OK ID completed."


def _idle(ctx: IMAPServerProtocol, perform: Perform, args: Arguments) -> Handler:
    args.end()
    yield b"+ idling\r\n"
    ctx.idling = True
    ctx.pollWhileIdle()
    try:
        updates = yield ctx.pendingUpdates()
        yield updates
        line = yield RAW_LINE
    finally:
        ctx.idling = False
        ctx.pollWhileIdle()
    yield ctx.pushed()              # an update under way goes out before the tagged reply
    if line.strip().upper() != b"DONE":
        raise Bad(b"Expected DONE.")
    return b"OK IDLE terminated."


COMMANDS: dict[bytes, Command] = {
    b"CAPABILITY": Command(_any, _capability),
    b"NOOP": Command(_any, _noop),
    b"LOGOUT": Command(_any, _logout),
    b"ID": Command(_any, _id),
    b"STARTTLS": Command(_before, login.startTLS),
    b"LOGIN": Command(_before, login.login),
    b"AUTHENTICATE": Command(_before, login.authenticate),
    b"ENABLE": Command(_authenticated, mailboxes.enable),
    b"SELECT": Command(_authenticated, mailboxes.select),
    b"EXAMINE": Command(_authenticated, mailboxes.examine),
    b"CREATE": Command(_authenticated, mailboxes.create),
    b"DELETE": Command(_authenticated, mailboxes.delete),
    b"RENAME": Command(_authenticated, mailboxes.rename),
    b"SUBSCRIBE": Command(_authenticated, mailboxes.subscribe),
    b"UNSUBSCRIBE": Command(_authenticated, mailboxes.unsubscribe),
    b"APPEND": Command(_authenticated, mailboxes.append),
    b"LIST": Command(_authenticated, listing.list_),
    b"LSUB": Command(_authenticated, listing.lsub),
    b"NAMESPACE": Command(_authenticated, listing.namespace),
    b"STATUS": Command(_authenticated, listing.status),
    b"IDLE": Command(_authenticated, _idle),
    b"CHECK": Command(_selected, _noop),
    b"CLOSE": Command(_selected, messages.close),
    b"UNSELECT": Command(_selected, messages.unselect),
    b"EXPUNGE": Command(_selected, messages.expunge),
    b"FETCH": Command(_selected, fetch.fetch, expunges=False),
    b"STORE": Command(_selected, messages.store, expunges=False),
    b"SEARCH": Command(_selected, search.search, expunges=False),
    b"COPY": Command(_selected, messages.copy),
    b"MOVE": Command(_selected, messages.move),
    b"UID": Command(_selected, messages.uid),
}


class IMAPServerProtocol(IMAPConnection):
    """
    One IMAP connection.

    @ivar core: what the session knows (logged-in account, selected
        mailbox, IMAP4rev2 enabled...).
    @ivar idling: the client is in IDLE: changes are sent as they happen.
    """

    __slots__ = ("auth", "core", "session", "idling", "_bad", "_after", "_logout", "_held", "_poll", "_pushing",
                 "_pushAgain", "_pushed")

    @property
    def presenceUser(self) -> str | None:
        """
        The logged-in user, or L{None} (for "who is online",
        L{twisted_mail_suite.net.presence}).
        """
        return self.core.user or None

    def __init__(self, factory: IMAPShared) -> None:
        super().__init__(factory)
        self.auth: Any = None
        self.core = SessionCore()
        self.session: Any = SessionMachine(self.core)
        self.idling = False
        self._bad = 0
        self._after: list[Callable[[], object]] = []
        self._logout: Callable[[], object] | None = None
        self._held = False             # notices held back while the transport was full
        self._poll: Any = None         # the next look at the folder while in IDLE
        self._pushing: Deferred | None = None    # an IDLE update under way
        self._pushAgain = False
        self._pushed: list[Deferred] = []

    def connectionMade(self) -> None:
        if not self._admit():
            return
        transport = self.transport
        secure = isSecure(transport)
        self.auth = self.factory.portal.session(self.peer, secure, self.factory.role)
        self.core.plaintextAllowed = self.auth.plaintextAllowed
        self.core.tlsAvailable = (not secure and ITLSTransport.providedBy(transport)
                                  and self.factory.tls.options is not None)
        transport.write(b"* OK [CAPABILITY " + self.capabilities() + b"] " + self.factory.hostname
                        + b" IMAP4rev2 server ready.\r\n")

    def connectionLost(self, reason: Failure | None = None) -> None:
        self.endSession()
        super().connectionLost(reason)

    def capabilities(self) -> bytes:
        return login.capabilities(self.core, self.factory.config.max_literal_size)

    # Commands

    def commandReceived(self, pieces: tuple[bytes, ...]) -> None:
        try:
            command = parseCommand(pieces)
        except SyntaxError_ as e:
            self._reject(getattr(e, "tag", b"*"), b"BAD " + e.text.encode("ascii", "replace"))
            return
        spec = COMMANDS.get(command.name)
        if spec is None:
            self._reject(command.tag, b"BAD Unknown command.")
            return
        try:
            perform = spec.input(self.session, command)
        except NoTransition:
            self._reject(command.tag, NOT_VALID)
            return
        self.run(command.tag, self._perform(spec, command, perform))

    def _perform(self, spec: Command, command: ParsedCommand, perform: Perform) -> Handler:
        status = yield from spec.handler(self, perform, Arguments(command.arguments))
        mailbox = self.core.mailbox
        if mailbox is not None:
            expunges = spec.expunges
            if command.name == b"UID":
                expunges = True
            updates = yield mailbox.sync(allowExpunge=expunges)
            if updates:
                yield b"".join(updates)
        return status

    def _reject(self, tag: bytes, status: bytes) -> None:
        self.transport.write(tag + b" " + status + b"\r\n")
        self.commandFinished(tag, status)

    def refusalReceived(self, refusal: ReadRefusal) -> None:
        tag = refusal.tag or b"*"
        if refusal.reason == "line":
            self._reject(tag, b"BAD Command line too long.")
        elif refusal.fatal:
            self._reject(tag, b"BAD [TOOBIG] Literal too large.")
            self._goodbye(b"* BYE [TOOBIG] Literal too large.\r\n")
        else:
            self._reject(tag, b"NO [TOOBIG] Literal too large.")

    def commandFinished(self, tag: bytes, status: bytes) -> None:
        after, self._after = self._after, []
        for action in after:
            action()
        if status.startswith(b"BAD"):
            self._bad += 1
            limit = self.factory.config.max_bad_commands
            if limit and self._bad > limit:
                self.log.info("IMAP client {peer} sent too many invalid commands", peer=self.peer)
                self._goodbye(TOO_MANY_BAD)

    def afterReply(self, action: Callable[[], object]) -> None:
        """
        Do C{action} once the command's tagged reply is sent.
        """
        self._after.append(action)

    def closeNow(self) -> None:
        if self._lifecycle.close():
            self.factory.idle.forget(self)
            self.transport.unregisterProducer()
            self.transport.loseConnection()

    # STARTTLS and login

    def startTLS(self) -> None:
        # Whatever came after STARTTLS was sent in the clear and may have
        # been injected: drop it (RFC 9051 §6.2.1).
        self.discardInput()
        self.transport.startTLS(self.factory.tls.options)
        self.auth.secure = True
        self.core.tlsAvailable = False
        self.core.plaintextAllowed = self.auth.plaintextAllowed

    def checkLogin(self, credentials: Any) -> Handler:
        """
        Check C{credentials} through the portal and its failed-login policy.
        """
        self._user = credentials.username.decode("utf-8", "replace")
        self.session.login()
        result: LoginResult = yield self.auth.login(credentials, IAccountIMAP)
        if result.outcome is LoginOutcome.SUCCEEDED:
            self._logout = result.logout
            self.session.loginSucceeded(self._user, result.avatar)
            self.factory.watch(result.avatar.user, self)
            self.log.info("IMAP login {user} from {peer}", user=self._user, peer=self.peer)
            return b"OK [CAPABILITY " + self.capabilities() + b"] Logged in."
        self.session.loginFailed()
        reply, close = login.LOGIN_REPLIES[result.outcome]
        if close:
            self.afterReply(lambda: self._goodbye(b"* BYE Too many login attempts.\r\n"))
        return reply

    def endSession(self) -> None:
        """
        Log out: leave the selected mailbox, stop watching for mail, give
        the avatar back (once).
        """
        self.leaveMailbox()
        account = self.core.account
        if account is not None:
            self.factory.unwatch(account.user, self)
        self.session.logout()
        logout, self._logout = self._logout, None
        if logout is not None:
            try:
                logout()
            except Exception:
                self.log.failure("IMAP logout of {user} failed", user=self._user)

    # The selected mailbox

    def enterMailbox(self, mailbox: Any) -> None:
        self.leaveMailbox()
        mailbox.rev2 = self.core.rev2
        mailbox.folder.listeners.append(self.folderChanged)
        self.session.select(mailbox)

    def leaveMailbox(self) -> None:
        mailbox = self.core.mailbox
        if mailbox is None:
            return
        try:
            mailbox.folder.listeners.remove(self.folderChanged)
        except ValueError:
            pass
        mailbox.close()
        self.session.deselect()

    def folderChanged(self, folder: Any) -> None:
        """
        The selected folder changed (another session, a delivery): tell
        a client in IDLE now.
        """
        if not self.idling or self._lifecycle.closing:
            return
        if self._paused:
            self._held = True
            return
        self._push()

    def _push(self) -> None:
        """
        Send the pending updates to the client in IDLE, one look at a time
        (a change seen while one is under way gets another look after it).
        IDLE's tagged reply waits for a look under way (L{pushed}), so what
        it found goes out before it.
        """
        if self._pushing is not None:
            self._pushAgain = True
            return
        self._pushAgain = False
        self._pushing = self.pendingUpdates()

        def send(updates: bytes) -> None:
            if not self._lifecycle.closing and updates:
                self.transport.write(updates)

        def failed(failure: Failure) -> None:
            self.log.failure("IMAP update of {peer} failed", failure, peer=self.peer)

        def done(_: object) -> None:
            self._pushing = None
            if self._pushAgain and self.idling:
                self._push()
                return
            waiting, self._pushed = self._pushed, []
            for d in waiting:
                d.callback(None)
        self._pushing.addCallback(send).addErrback(failed).addCallback(done)

    def pushed(self) -> Deferred:
        """
        A Deferred firing once no IDLE update is under way.
        """
        if self._pushing is None:
            return succeed(None)
        d: Deferred = Deferred()
        self._pushed.append(d)
        return d

    def pollWhileIdle(self) -> None:
        """
        While in IDLE, look at the selected folder every L{IDLE_POLL}
        seconds (changes no event announces: flags and expunges made by
        another process or node, other programs' changes to a Maildir);
        out of IDLE, stop.
        """
        if self._poll is not None and self._poll.active():
            self._poll.cancel()
        self._poll = None
        if self.idling:
            self._poll = self.factory.clock.callLater(IDLE_POLL, self._idlePoll)

    def _idlePoll(self) -> None:
        self._poll = None
        mailbox = self.core.mailbox
        if not self.idling or mailbox is None:
            return
        self.pollWhileIdle()
        mailbox.folder.refresh().addErrback(
            lambda failure: self.log.failure("IMAP refresh for {peer} failed", failure, peer=self.peer))

    def pendingUpdates(self) -> Deferred:
        """
        A Deferred of the selected mailbox's updates, as bytes.
        """
        mailbox = self.core.mailbox
        if mailbox is None:
            return succeed(b"")
        return mailbox.sync(allowExpunge=True).addCallback(b"".join)

    def outputResumed(self) -> None:
        if self._held:
            self._held = False
            if self.idling:
                self._push()

    def newMail(self) -> None:
        """
        Mail was delivered to this user (the bus, through the factory).
        """
        mailbox = self.core.mailbox
        if mailbox is not None and mailbox.name == "INBOX":
            mailbox.folder.refresh(force=True).addErrback(
                lambda failure: self.log.failure("IMAP refresh for {peer} failed", failure, peer=self.peer))
