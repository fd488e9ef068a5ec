# -*- test-case-name: tests.pop3.test_login -*-
"""
Logging in over POP3, the parts that need no connection: the APOP
timestamp of the greeting, the credentials a L{Login} action stands for,
the reply to each failed login's outcome, and the L{Maildrop} a new
session starts from.  The protocol sequences them (check, open the
maildrop, feed the session).
"""
from __future__ import annotations

import itertools
import os
import secrets
from typing import Any

from twisted.cred.credentials import UsernamePassword
from twisted.internet.defer import Deferred, maybeDeferred
from twisted.mail.pop3 import APOPCredentials

from ..identity.policy import LoginOutcome
from .commands import PLAINTEXT_REFUSED
from .actions import Login, Maildrop

__all__ = ["LOGIN_REPLIES", "TEMPORARY_FAILURE", "TOO_MANY_BAD_COMMANDS", "apopChallenge", "credentialsFor",
           "listMaildrop"]

AUTH_FAILED = b"-ERR [AUTH] Authentication failed.\r\n"
IN_USE = b"-ERR [IN-USE] Mailbox is locked by another POP3 session.\r\n"
TEMPORARY_FAILURE = b"-ERR [SYS/TEMP] Temporary server failure, try again later.\r\n"
TOO_MANY_BAD_COMMANDS = b"-ERR Too many bad commands.\r\n"

# outcome of a failed login -> (reply, close the connection after it)
LOGIN_REPLIES: dict[LoginOutcome, tuple[bytes, bool]] = {
    LoginOutcome.FAILED: (AUTH_FAILED, False),
    LoginOutcome.FAILED_DISCONNECT: (AUTH_FAILED, True),
    LoginOutcome.REFUSED: (AUTH_FAILED, True),
    LoginOutcome.PLAINTEXT_REFUSED: (b"-ERR " + PLAINTEXT_REFUSED + b"\r\n", False),
    LoginOutcome.IN_USE: (IN_USE, False),
    LoginOutcome.TEMPORARY: (TEMPORARY_FAILURE, False),
}

_challengeCounter = itertools.count(1)


def apopChallenge(hostname: bytes) -> bytes:
    """
    A fresh RFC 1939 timestamp for the greeting (unique per connection:
    process id, a counter and random digits).
    """
    return b"<%d.%d.%s@%s>" % (os.getpid(), next(_challengeCounter),
                               secrets.token_hex(6).encode("ascii"), hostname)


def credentialsFor(action: Login, challenge: bytes | None) -> object:
    """
    The credentials to check for C{action}: an APOP digest against the
    greeting's C{challenge}, or a user name and password.
    """
    if action.digest is not None:
        return APOPCredentials(challenge, action.user, action.digest)
    return UsernamePassword(action.user, action.password)


def listMaildrop(mailbox: Any) -> Deferred[Maildrop]:
    """
    The maildrop as a new session sees it: the size and unique-id of each
    message of C{mailbox} (a C{twisted.mail.pop3.IMailbox}, whose listing
    may be a Deferred).  However the listing fails (raising, or a failed
    Deferred), the result is a failed Deferred: the caller's errback frees
    the maildrop.
    """

    def loaded(sizes: Any) -> Maildrop:
        sizes = list(sizes)
        uids = []
        for index in range(len(sizes)):
            uid = mailbox.getUidl(index)
            uids.append(uid.encode("utf-8") if isinstance(uid, str) else uid)
        return Maildrop(sizes, uids)

    return maybeDeferred(lambda: mailbox.listMessages()).addCallback(loaded)
