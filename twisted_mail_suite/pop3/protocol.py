# -*- test-case-name: tests.pop3.test_protocol,tests.pop3.test_login -*-
"""
POP3 on the wire: lines -> session inputs, actions -> bytes and I/O.

Each command line (framed and queued by
L{twisted_mail_suite.pop3.connection}) is parsed into one input of the
session machine (L{twisted_mail_suite.pop3.session}), and the protocol
performs the action the machine answers with: a reply, a login through
the portal (L{twisted_mail_suite.pop3.login}), a message streamed from the
mailbox (L{twisted_mail_suite.pop3.retrieve}), STLS, or the UPDATE state's
deletions.  The outcome of that I/O goes back to the machine as another
input.
"""
from __future__ import annotations

from typing import Any, Callable

from twisted.internet.defer import Deferred, maybeDeferred
from twisted.internet.interfaces import ITLSTransport
from twisted.mail.pop3 import IMailbox
from twisted.python.failure import Failure

from ..errors import ProtocolError
from ..identity.policy import LoginOutcome, LoginResult
from ..net.lifecycle import Phase
from ..net.transport import isSecure
from .commands import CommandParser
from .connection import POP3Connection, POP3Shared
from .login import (LOGIN_REPLIES, TEMPORARY_FAILURE, TOO_MANY_BAD_COMMANDS, apopChallenge, credentialsFor,
                    listMaildrop)
from .retrieve import openMessage, readerFor, unavailable
from .actions import Action, Challenge, Login, Maildrop, POP3Error, Reply, SendMessage, StartTLS, Update
from .session import SessionCore, SessionMachine

__all__ = ["POP3ServerProtocol"]


class POP3ServerProtocol(POP3Connection):
    """
    One POP3 connection.
    """

    __slots__ = ("_auth", "_core", "_session", "_parser", "_sasl", "_mailbox", "_logout", "_badCommands")

    @property
    def presenceUser(self) -> str | None:
        """
        The logged-in user, or L{None} (for "who is online",
        L{twisted_mail_suite.net.presence}).
        """
        return self._user if self._mailbox is not None else None

    def __init__(self, factory: POP3Shared) -> None:
        super().__init__(factory)
        self._auth: Any = None                # the connection's AuthSession
        self._core: SessionCore | None = None
        self._session: Any = None             # the SessionMachine
        self._parser: CommandParser | None = None
        self._sasl = False                    # the next line answers a SASL challenge
        self._mailbox: Any = None             # the IMailbox avatar, once logged in
        self._logout: Callable[[], None] | None = None
        self._badCommands = 0                 # -ERR replies to commands, against max_bad_commands

    def connectionMade(self) -> None:
        if not self._admit():
            return
        transport = self.transport
        factory = self.factory
        secure = isSecure(transport)
        self._auth = factory.portal.session(self.peer, secure, factory.role)
        self._core = SessionCore(
            plaintextAllowed=self._auth.plaintextAllowed,
            tlsAvailable=(not secure and ITLSTransport.providedBy(transport)
                          and factory.tls.options is not None))
        self._session = SessionMachine(self._core)
        hostname = factory.hostname
        greeting = b"+OK " + hostname + b" POP3 ready."
        challenge = None
        if factory.apopOffered():
            challenge = apopChallenge(hostname)
            greeting += b" " + challenge
        self._parser = CommandParser(self._session, self._core, challenge)
        transport.write(greeting + b"\r\n")

    def connectionLost(self, reason: Failure | None = None) -> None:
        self._release()
        super().connectionLost(reason)

    def _close(self) -> None:
        """
        Closing, whatever the reason: free the maildrop now rather than when
        the transport is finally gone (a client that does not read may
        keep it a while); nothing marked for deletion is deleted.  An
        UPDATE under way holds the maildrop itself until it is done.
        """
        super()._close()
        self._release()

    def _release(self) -> None:
        """
        Log out (frees the maildrop for the next session); no deletions.
        """
        logout, self._logout = self._logout, None
        self._mailbox = None
        if logout is not None:
            try:
                logout()
            except Exception:
                self.log.failure("POP3 logout of {user} failed", user=self._user)

    # Lines -> actions

    def lineReceived(self, line: bytes) -> None:
        assert self._parser is not None
        try:
            if self._sasl:
                self._sasl = False
                action = self._parser.saslResponse(line)
            else:
                action = self._parser.parse(line)
        except POP3Error as e:
            self.transport.write(e.reply)
            self._badCommand()
            return
        except ProtocolError as e:
            self.log.warn("POP3 command failed: {reason}", reason=e.reason)
            self.transport.write(b"-ERR " + e.publicText + b"\r\n")
            return
        except Exception:
            self.log.failure("POP3 command from {peer} failed", peer=self.peer)
            self.transport.write(TEMPORARY_FAILURE)
            return
        self._perform(action)

    def _badCommand(self) -> None:
        """
        One more command answered with C{-ERR}: past C{max_bad_commands}
        (Dovecot's rule; SMTP has its junk limit), say so and close.
        """
        self._badCommands += 1
        limit = self.factory.config.max_bad_commands
        if limit and self._badCommands >= limit:
            self.log.info("POP3 client {peer} sent {count} bad commands, disconnected",
                          peer=self.peer, count=self._badCommands)
            self.transport.write(TOO_MANY_BAD_COMMANDS)
            self._close()

    def _perform(self, action: Action) -> None:
        if isinstance(action, SendMessage):
            self._sendMessage(action)
        elif isinstance(action, Reply):
            self.transport.write(action.data)
            if action.close:
                self._close()
        elif isinstance(action, Challenge):
            self.transport.write(action.data)
            self._sasl = True
        elif isinstance(action, Login):
            self._login(action)
        elif isinstance(action, StartTLS):
            self._startTLS(action)
        elif isinstance(action, Update):
            self._update(action)
        else:  # pragma: no cover - the session returns only the above
            raise TypeError(action)

    def _unexpected(self, failure: Failure) -> None:
        self.log.failure("POP3 session with {peer} failed", failure, peer=self.peer)
        self._endWork()
        if self._lifecycle.phase is not Phase.GONE:
            self.transport.write(TEMPORARY_FAILURE)
            self._close()

    # STLS

    def _startTLS(self, action: StartTLS) -> None:
        assert self._core is not None
        self.transport.write(action.data)
        # Whatever the client sent after STLS was sent in the clear and may
        # have been injected by someone in the middle: drop it (RFC 2595 §8).
        self._discardInput()
        self.transport.startTLS(self.factory.tls.options)
        self._auth.secure = True
        self._core.tlsAvailable = False
        self._core.plaintextAllowed = self._auth.plaintextAllowed

    # Login

    def _login(self, action: Login) -> None:
        assert self._parser is not None
        credentials = credentialsFor(action, self._parser.challenge)
        self._user = action.user.decode("utf-8", "replace")
        self._startWork()
        d = self._auth.login(credentials, IMailbox)
        d.addCallback(self._loginDone)
        d.addErrback(self._unexpected)

    def _loginDone(self, result: LoginResult) -> Deferred[None] | None:
        if result.outcome is not LoginOutcome.SUCCEEDED:
            self._loginFailed(result.outcome)
            return None
        self._logout = result.logout            # held from now on: a drop releases it
        self._mailbox = result.avatar
        if self._lifecycle.closing:             # gone, or timed out meanwhile
            self._endWork()
            self._release()
            return None
        return listMaildrop(result.avatar).addCallbacks(self._loggedIn, self._maildropFailed)

    def _loggedIn(self, maildrop: Maildrop) -> None:
        self._endWork()
        if self._lifecycle.closing:
            self._release()
            return
        self.log.info("POP3 login {user} from {peer}: {count} messages",
                      user=self._user, peer=self.peer, count=len(maildrop.sizes))
        self._perform(self._session.loginSucceeded(self._user.encode("utf-8"), maildrop))
        self._processQueue()

    def _maildropFailed(self, failure: Failure) -> None:
        self.log.failure("POP3 login of {user} failed", failure, user=self._user)
        self._loginFailed(LoginOutcome.TEMPORARY)

    def _loginFailed(self, outcome: LoginOutcome) -> None:
        self._endWork()
        self._release()
        if self._lifecycle.closing:
            return
        if outcome is LoginOutcome.IN_USE:
            self.log.info("POP3 login {user} from {peer}: maildrop in use",
                          user=self._user, peer=self.peer)
        reply, close = LOGIN_REPLIES[outcome]
        self._perform((self._session.loginRefused if close else self._session.loginFailed)(reply))
        self._processQueue()

    # RETR and TOP

    def _sendMessage(self, action: SendMessage) -> None:
        self._startWork()
        d = openMessage(self._mailbox, action)
        d.addCallbacks(self._messageOpened, self._messageFailed,
                       callbackArgs=(action,), errbackArgs=(action,))
        d.addErrback(self._unexpected)

    def _messageOpened(self, message: Any, action: SendMessage) -> None:
        self._endWork()
        reader = readerFor(message, action.bodyLines)
        if self._lifecycle.closing:
            reader.close()
            return
        try:
            first = reader.next()
        except Exception as e:
            reader.close()
            self._messageUnavailable(action, Failure(e))
        else:
            self._stream(action.status + first, reader)
        self._processQueue()

    def _messageFailed(self, failure: Failure, action: SendMessage) -> None:
        self._endWork()
        if not self._lifecycle.closing:
            self._messageUnavailable(action, failure)
            self._processQueue()

    def _messageUnavailable(self, action: SendMessage, failure: Failure) -> None:
        self.log.warn("POP3 message {index} of {user} unreadable: {error}",
                      index=action.index + 1, user=self._user, error=failure.getErrorMessage())
        self.transport.write(unavailable(action))

    # UPDATE

    def _update(self, action: Update) -> None:
        mailbox = self._mailbox
        # The update holds the maildrop until its deletions are done, even
        # if the connection goes meanwhile: no other session may list it
        # half-updated.
        logout, self._logout = self._logout, None
        self._startWork()

        def apply() -> Any:
            for index in action.deleted:
                mailbox.deleteMessage(index)
            return mailbox.sync()

        def done(result: object) -> bool:
            if action.deleted:
                self.log.info("POP3 {user}: {count} messages deleted",
                              user=self._user, count=len(action.deleted))
            return True

        def failed(failure: Failure) -> bool:
            self.log.failure("POP3 update for {user} failed", failure, user=self._user)
            return False

        def finish(succeeded: bool) -> None:
            self._endWork()
            self._logout = logout
            self._release()
            if self._lifecycle.phase is not Phase.GONE:
                self._perform(self._session.updated(succeeded))

        maybeDeferred(apply).addCallbacks(done, failed).addCallback(finish).addErrback(self._unexpected)
