"""
An application function that sends mail: the thing the testing examples test.
"""
from __future__ import annotations

from email.message import EmailMessage

from twisted.internet import reactor as defaultReactor
from twisted.internet.defer import Deferred
from twisted.internet.task import deferLater
from twisted.mail.smtp import SMTPDeliveryError, sendmail


def sendWelcome(address: str, smtpHost: str = "127.0.0.1", smtpPort: int = 25,
                reactor=defaultReactor, retryDelay: float = 0.1) -> Deferred:
    """
    Mail a welcome message to C{address}; retry once on a temporary (4xx)
    failure.

    @return: a Deferred firing when the server accepted the message.
    """
    message = EmailMessage()
    message["From"] = "Example App <noreply@app.example>"
    message["To"] = address
    message["Subject"] = "Welcome aboard"
    message.set_content(f"Hello {address.split('@')[0]}, your account is ready.\n")
    data = message.as_bytes()

    def attempt() -> Deferred:
        return sendmail(smtpHost, "noreply@app.example", [address], data, port=smtpPort, reactor=reactor)

    def retryOnce(failure):
        failure.trap(SMTPDeliveryError)
        if 400 <= failure.value.code < 500:
            return deferLater(reactor, retryDelay, attempt)
        return failure

    return attempt().addErrback(retryOnce)
