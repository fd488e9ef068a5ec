# -*- test-case-name: tests.smtp.test_tls_auth -*-
"""
SMTP AUTH's replies (RFC 4954): the shared SASL exchange's failures and the
shared login outcomes, each mapped to its reply through one table.
"""
from __future__ import annotations

from ..errors import ProtocolError
from ..identity.policy import LoginOutcome
from ..identity.sasl import (
    SASLAuthzMismatch, SASLBadEncoding, SASLCancelled, SASLError, SASLMalformed, SASLUnknownMechanism,
)

__all__ = ["LOGIN_REPLIES", "SASL_REPLIES", "loginReply", "saslFailure"]

SASL_REPLIES: dict[type[SASLError], tuple[bytes, bytes]] = {
    SASLCancelled: (b"501 5.0.0", b"Authentication cancelled"),
    SASLBadEncoding: (b"501 5.5.2", b"Cannot decode response (bad base64)"),
    SASLMalformed: (b"501 5.5.2", b"Malformed authentication response"),
    SASLUnknownMechanism: (b"504 5.5.4", b"Unrecognized authentication type"),
    SASLAuthzMismatch: (b"535 5.7.8", b"Authentication credentials invalid"),
}

_INVALID = b"535 5.7.8 Authentication credentials invalid"
_TEMPORARY = b"454 4.7.0 Temporary authentication failure"

# outcome -> (reply, close the connection after it); {host} is the server's name.
LOGIN_REPLIES: dict[LoginOutcome, tuple[bytes, bool]] = {
    LoginOutcome.SUCCEEDED: (b"235 2.7.0 Authentication successful", False),
    LoginOutcome.FAILED: (_INVALID, False),
    LoginOutcome.FAILED_DISCONNECT: (_INVALID, True),
    LoginOutcome.REFUSED: (b"421 4.7.0 {host} Too many failed logins, closing connection", True),
    LoginOutcome.PLAINTEXT_REFUSED: (b"538 5.7.11 Encryption required for requested authentication mechanism",
                                     False),
    LoginOutcome.IN_USE: (_TEMPORARY, False),
    LoginOutcome.TEMPORARY: (_TEMPORARY, False),
}


def saslFailure(error: SASLError) -> ProtocolError:
    """
    The reply to a failed SASL exchange; the error's text goes to the log.
    """
    code, text = SASL_REPLIES[type(error)]
    return ProtocolError(code, text, str(error))


def loginReply(outcome: LoginOutcome, hostname: bytes) -> tuple[bytes, bool]:
    """
    C{(reply, close)} for a login that ended with C{outcome}.
    """
    reply, close = LOGIN_REPLIES[outcome]
    return reply.replace(b"{host}", hostname), close
