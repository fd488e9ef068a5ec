# -*- test-case-name: tests.http.test_channel -*-
"""
One HTTP connection on the house's chassis (L{twisted_mail_suite.net}):
admitted by the factory's L{ConnectionManager} (total, per address and
the process budget; refused with a 503), drained at shutdown
(L{IManagedConnection}), and held to the request limits of the C{http}
section:

  - the request line and headers together: C{max_header_size} octets,
    else 431 (a single line past it too);
  - the body: C{max_body_size} octets, declared (C{Content-Length}) or
    counted (chunked), else 413;
  - a request must arrive whole within C{request_timeout} of its first
    octet, else 408: a client dripping octets is cut (slowloris);
  - a kept-alive connection idle for C{idle_timeout} is closed (Twisted's
    own timeout, on the suite's clock; it is off while a request is
    being answered, so a long poll is not cut).

Every refusal is a JSON error with the security headers
(L{twisted_mail_suite.http.replies.rawResponse}), then the connection
closes.  L{MailSuiteRequest} puts the security headers on every response.
"""
from __future__ import annotations

from typing import Any

from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IDelayedCall
from twisted.web.http import HTTPChannel
from twisted.web.server import Request
from zope.interface import implementer

from ..net.admission import Refusal, Ticket
from ..net.lifecycle import IManagedConnection, Lifecycle
from ..net.transport import isSecure, peerHost
from .replies import rawResponse, setSecurityHeaders

__all__ = ["MailSuiteChannel", "MailSuiteRequest"]

REFUSALS = {
    Refusal.BUSY: (503, "busy", "Too many connections; try again later."),
    Refusal.ADDRESS: (503, "busy", "Too many connections from your address; try again later."),
    Refusal.DRAINING: (503, "shutting-down", "The server is shutting down."),
}


class MailSuiteRequest(Request):
    """
    A request whose response carries the security headers, and whose
    chunked body counts against C{max_body_size}.
    """

    _bodyOctets = 0

    def process(self) -> None:
        setSecurityHeaders(self)
        super().process()

    def handleContentChunk(self, data: bytes) -> None:
        self._bodyOctets += len(data)
        channel = self.channel
        if channel is not None and self._bodyOctets > channel.limits.max_body_size:
            channel.refuse(413, "body-too-large",
                           f"The request body is over {channel.limits.max_body_size} octets.")
            return
        super().handleContentChunk(data)


@implementer(IManagedConnection)
class MailSuiteChannel(HTTPChannel):
    """
    An C{HTTPChannel} with admission, limits and the drain; built by
    L{twisted_mail_suite.http.factory.HTTPFactory}, which sets C{limits}
    (the C{http} config section) and C{clock}.

    @ivar peerHost: the client's address.
    @ivar secure: whether the connection is TLS.
    @ivar authSession: this connection's view of the failed-login policy
        (made at the first login, see L{twisted_mail_suite.http.auth}).
    """

    limits: Any = None
    clock: Any = None
    peerHost = ""
    authSession: Any = None
    _ticket: Ticket | None = None
    _refused = False
    _headerOctets = 0
    _deadline: IDelayedCall | None = None
    _serving = False

    def connectionMade(self) -> None:
        self.peerHost = peerHost(self.transport)
        admitted = self.factory.manager.admit(self.peerHost, self)
        if isinstance(admitted, Refusal):            # not counted: nothing to release
            self.refuse(*REFUSALS[admitted])
            return
        self._ticket = admitted
        self.lifecycle = Lifecycle()
        self.secure = isSecure(self.transport)
        super().connectionMade()

    # Limits

    def refuse(self, status: int, error: str, message: str) -> None:
        """
        Answer with an error (no request is being answered) and close;
        read nothing more.
        """
        if self._refused:
            return
        self._refused = True
        self._cancelDeadline()
        self.setTimeout(None)
        self.transport.write(rawResponse(status, error, message))
        self.transport.loseConnection()

    def dataReceived(self, data: bytes) -> None:
        if self._refused or (self._ticket is not None and self.lifecycle.closing):
            return
        if not self._serving and data:
            self._armDeadline()
        super().dataReceived(data)

    def lineReceived(self, line: bytes) -> None:
        if self._refused:
            return
        self._armDeadline()
        self._headerOctets += len(line) + 2
        if self._headerOctets > self.limits.max_header_size:
            self.refuse(431, "headers-too-large",
                        f"The request line and headers are over {self.limits.max_header_size} octets.")
            return
        super().lineReceived(line)

    def lineLengthExceeded(self, line: bytes) -> None:
        self.refuse(431, "headers-too-large",
                    f"A request or header line is over {self.limits.max_header_size} octets.")

    def allHeadersReceived(self) -> None:
        self._headerOctets = 0
        if self.length is not None and self.length > self.limits.max_body_size:
            self.refuse(413, "body-too-large", f"The request body is over {self.limits.max_body_size} octets.")
            return
        super().allHeadersReceived()

    def allContentReceived(self) -> None:
        if self._refused:
            return
        self._cancelDeadline()
        self._serving = True
        if self._ticket is not None and not self.lifecycle.closing:
            self.lifecycle.busy()
        super().allContentReceived()

    def requestDone(self, request: Any) -> None:
        self._serving = False
        goodbye = self._ticket is not None and not self.lifecycle.closing and self.lifecycle.idle()
        if goodbye:
            self.persistent = False
        super().requestDone(request)
        if goodbye:
            self._goodbye()

    def _armDeadline(self) -> None:
        if self._deadline is None and not self._refused:
            self._deadline = self.clock.callLater(self.limits.request_timeout, self._tooSlow)

    def _cancelDeadline(self) -> None:
        deadline, self._deadline = self._deadline, None
        if deadline is not None and deadline.active():
            deadline.cancel()

    def _tooSlow(self) -> None:
        self._deadline = None
        self.refuse(408, "request-timeout",
                    f"The request did not arrive whole within {self.limits.request_timeout:g} seconds.")

    # The drain (IManagedConnection)

    def shutdown(self) -> Deferred:
        gone = self.lifecycle.whenGone()
        if self.lifecycle.drain():                    # no request in hand: close now
            self._goodbye()
        else:
            self.persistent = False                   # answer the request in hand, then close
        return gone

    def abandon(self) -> None:
        self._goodbye()

    def _goodbye(self) -> None:
        if self.lifecycle.close():
            self._cancelDeadline()
            self.setTimeout(None)
            self.transport.loseConnection()

    def connectionLost(self, reason: Any) -> None:
        self._cancelDeadline()
        super().connectionLost(reason)
        if self._ticket is None:                      # refused
            return
        self._ticket.release()
        self.lifecycle.lost()
