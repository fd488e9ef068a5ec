# -*- test-case-name: tests.test_config -*-
"""
Failures a peer may learn about.  Raised in the store, the realm or a session;
caught only in a protocol module, which turns them into a reply.
"""
from __future__ import annotations


class ProtocolError(Exception):
    """
    A failure the peer may learn about; C{reason} is for the log only.

    @ivar code: the reply code (for SMTP, C{b"550 5.1.1"}; POP3 uses C{b"-ERR"}).
    @ivar publicText: generic text sent to the client.
    @ivar reason: the detailed cause, logged and never sent.
    """

    def __init__(self, code: bytes, publicText: bytes, reason: str = "") -> None:
        super().__init__(code, publicText, reason)
        self.code = code
        self.publicText = publicText
        self.reason = reason

    def __str__(self) -> str:
        return f"{self.code.decode('ascii', 'replace')} {self.publicText.decode('utf-8', 'replace')} ({self.reason})"


class TemporaryFailure(ProtocolError):
    """
    The action failed for a reason that may go away (disk, lock, backend).
    """

    def __init__(self, reason: str = "", code: bytes = b"451 4.3.0",
                 publicText: bytes = b"Temporary local problem, try again later") -> None:
        super().__init__(code, publicText, reason)


class DeliveryFailed(Exception):
    """
    The store could not make a message durable; nothing of it is kept.
    It carries no reply: each protocol maps it (SMTP: C{451 4.3.0} when
    temporary, C{554 5.3.0} when permanent).

    @ivar reason: the detailed cause, logged and never sent.
    @ivar permanent: retrying the same message will not help.
    @ivar status: L{None}, or a three-digit status (4xx temporary, 5xx
        permanent) that a fault injector asks an edge to report instead of
        its default, where the edge speaks such codes (the test harness's
        C{failDeliveries(code=...)}); stores leave it unset.
    """

    def __init__(self, reason: str = "", permanent: bool = False, status: int | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.permanent = permanent if status is None else status >= 500
        self.status = status

    def __str__(self) -> str:
        return f"{'permanent' if self.permanent else 'temporary'} delivery failure ({self.reason})"


class ConfigError(Exception):
    """
    The configuration is invalid; the message names the file and the key.
    """

    def __init__(self, source: str, key: str, message: str) -> None:
        super().__init__(f"{source}: {key}: {message}" if key else f"{source}: {message}")
        self.source = source
        self.key = key
        self.message = message


class LoginRefused(Exception):
    """
    Too many failed logins from this client or for this user: the protocol
    answers with its "refused" reply and closes the connection.
    """


class MailboxInUse(Exception):
    """
    The maildrop already has a POP3 session (RFC 2449 C{[IN-USE]}).
    """


class SharedStateUnavailable(Exception):
    """
    What several processes share (Redis: failed-login counts, POP3 leases,
    the chat's names) cannot be reached now: a login answers "try again
    later" (C{LoginOutcome.TEMPORARY}), logged as a warning.
    """


class PlaintextRefused(Exception):
    """
    A plaintext password was offered over a channel that is neither TLS nor
    loopback while C{allow_plaintext_auth} is off.
    """


# --- delivery ---


class UnknownRecipient(Exception):
    """
    A recipient in one of our domains that nobody receives (no user, alias
    or catch-all).  Each protocol maps it to its own reply.

    @ivar address: the address as given.
    """

    def __init__(self, address: str) -> None:
        super().__init__(f"no local user for {address}")
        self.address = address


class RelayUnavailable(Exception):
    """
    A remote recipient was given to a delivery target that has no outbound
    queue (there is no relay yet).

    @ivar address: the remote address.
    """

    def __init__(self, address: str) -> None:
        super().__init__(f"no outbound relay for {address}")
        self.address = address


class QueueControlError(Exception):
    """
    The outbound queue refused an operator's command (no such message, no
    queue kept); the message says why, for the operator.
    """


class FolderError(Exception):
    """
    A folder operation cannot be done (an IMAP folder store,
    L{twisted_mail_suite.interfaces.IUserFolders}); the message is for the
    log, the protocol answers by the subclass.
    """


class NoSuchFolder(FolderError):
    pass


class FolderExists(FolderError):
    pass


class HasChildren(FolderError):
    pass


class BadFolderName(FolderError):
    pass
