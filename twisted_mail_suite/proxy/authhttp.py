# -*- test-case-name: tests.proxy.test_authhttp -*-
"""
nginx's auth_http protocol (C{ngx_mail_auth_http_module}), without the
HTTP: a request's headers -> the headers of the answer.

For a login (C{Auth-Method: plain} or C{login}), C{Auth-User} and
C{Auth-Pass} (URL-escaped by nginx) go through the suite's one checker
and failed-login policy as a login from C{Client-IP}; the answer is
C{Auth-Status: OK} with C{Auth-Server}/C{Auth-Port} of the user's node
(consistent hashing over C{proxy.backends}), or the reason with
C{Auth-Wait} (nginx lets the client try again after that many seconds)
and, for SMTP, C{Auth-Error-Code}.  Without C{Auth-Wait} nginx closes the
connection: so it is left out once the policy refuses the address, and
from the C{auth.max_failures_per_connection}-th failed attempt of one
connection (C{Auth-Login-Attempt}).

For mail from other servers (C{Auth-Method: none}, C{Auth-Protocol:
smtp}), the first recipient (C{Auth-SMTP-To}) decides: a local address is
sent to its user's node's MX port, anything else is refused.
"""
from __future__ import annotations

import hmac
import re
from typing import Any, Callable, Container, Sequence
from urllib.parse import unquote

from twisted.cred.credentials import UsernamePassword
from twisted.internet.defer import Deferred, succeed
from twisted.logger import Logger

from ..delivery.router import LocalRoute
from ..errors import UnknownRecipient
from ..identity.policy import LoginOutcome, LoginResult
from ..proxyconfig import BackendConfig, ProxyConfig
from .avatars import IAuthHTTPLogin
from .ring import Ring

__all__ = ["AuthHTTP", "Answer", "SECRET_HEADER"]

SECRET_HEADER = "X-Auth-Key"
Answer = list[tuple[str, str]]
_RCPT = re.compile(r"<([^>]*)>")
# Auth-Protocol -> the backend's role, for a login and for Auth-Method none.
_ROLES = {"smtp": "submission", "pop3": "pop3", "imap": "imap"}
_INVALID = ("Invalid login or password", "535 5.7.8")
_TEMPORARY = ("Temporary authentication failure", "454 4.7.0")
# outcome -> (Auth-Status, Auth-Error-Code (SMTP), nginx may let the client try again)
_FAILURES: dict[LoginOutcome, tuple[str, str, bool]] = {
    LoginOutcome.FAILED: (*_INVALID, True),
    LoginOutcome.FAILED_DISCONNECT: (*_INVALID, False),
    LoginOutcome.REFUSED: ("Too many failed logins", "421 4.7.0", False),
    LoginOutcome.PLAINTEXT_REFUSED: ("Encryption required", "538 5.7.11", True),
    LoginOutcome.IN_USE: (*_TEMPORARY, True),
    LoginOutcome.TEMPORARY: (*_TEMPORARY, True),
}


def _recipient(command: str) -> str:
    """
    The address of C{RCPT TO:<address> ...} as nginx passes it.
    """
    match = _RCPT.search(command)
    if match is not None:
        return match.group(1).strip()
    return command.partition(":")[2].strip().split(" ", 1)[0]


class AuthHTTP:
    """
    The answers to nginx's auth_http requests; see the module docstring.

    @param config: the C{proxy} section.
    @param maxAttempts: C{auth.max_failures_per_connection}.
    @param portal: the suite's portal (C{session(address, secure)}).
    @param router: address -> local users or remote.
    @param secret: the shared secret nginx sends in L{SECRET_HEADER}.
    @param portsFor: C{portsFor(role)} -> this node's ports, used when no
        C{proxy.backends} are configured (the node itself is the backend).
    @param down: C{down()} -> the names of nodes known to be down (from
        the cluster, when it knows), passed over by the hashing.
    """

    log = Logger()

    def __init__(self, config: ProxyConfig, maxAttempts: int, portal: Any, router: Any, secret: str,
                 portsFor: Callable[[str], Sequence[int]] | None = None,
                 down: Callable[[], Container[str]] = lambda: ()) -> None:
        self.config = config
        self.maxAttempts = maxAttempts
        self.portal = portal
        self.router = router
        self._secret = secret.encode("utf-8")
        self._portsFor = portsFor
        self._down = down
        self._ring: Ring[BackendConfig] = Ring([(b.name, b) for b in config.backends])

    def authorized(self, key: str | None) -> bool:
        """
        Does the request carry the shared secret?
        """
        return key is not None and hmac.compare_digest(key.encode("utf-8"), self._secret)

    def answer(self, header: Callable[[str], str | None], localHost: str) -> Deferred:
        """
        Answer one request.

        @param header: the request's header by name (case-insensitive).
        @param localHost: the address nginx reached us on (the backend
            address of this node when no backends are configured).
        @return: a Deferred firing with the answer's headers (L{Answer}).
        """
        method = (header("Auth-Method") or "").lower()
        protocol = (header("Auth-Protocol") or "").lower()
        client = header("Client-IP") or ""
        if protocol not in _ROLES:
            return succeed(self._refuse(protocol, "Unknown protocol", "451 4.3.0", False))
        if method == "none":
            return succeed(self._mx(protocol, header("Auth-SMTP-To") or "", localHost))
        if method not in ("plain", "login"):
            return succeed(self._refuse(protocol, "Unsupported authentication method", "504 5.5.4", False))
        try:
            attempt = int(header("Auth-Login-Attempt") or "1")
        except ValueError:
            attempt = 1
        user = unquote(header("Auth-User") or "", errors="strict")
        password = unquote(header("Auth-Pass") or "", errors="strict")
        credentials = UsernamePassword(user.encode("utf-8"), password.encode("utf-8"))
        # nginx holds the client's connection (and its TLS): the channel counts as secure here.
        session = self.portal.session(client, True)
        d = session.login(credentials, IAuthHTTPLogin)
        return d.addCallback(self._loggedIn, protocol, attempt, localHost)

    def _loggedIn(self, result: LoginResult, protocol: str, attempt: int, localHost: str) -> Answer:
        if result.outcome is LoginOutcome.SUCCEEDED:
            assert result.logout is not None
            result.logout()
            return self._route(protocol, _ROLES[protocol], str(result.avatar), localHost)
        status, code, again = _FAILURES[result.outcome]
        return self._refuse(protocol, status, code, again and attempt < self.maxAttempts)

    def _mx(self, protocol: str, command: str, localHost: str) -> Answer:
        if protocol != "smtp":
            return self._refuse(protocol, "Authentication required", "530 5.7.0", False)
        address = _recipient(command)
        try:
            route = self.router.route(address)
        except UnknownRecipient:
            route = None
        if not isinstance(route, LocalRoute):
            self.log.info("auth_http: MX for {address} refused (not local)", address=address)
            return self._refuse(protocol, "Recipient address rejected", "550 5.1.1", False)
        return self._route(protocol, "smtp", route.users[0], localHost)

    def _route(self, protocol: str, role: str, user: str, localHost: str) -> Answer:
        """
        C{Auth-Status: OK} and the node of C{user} for C{role}.
        """
        if self.config.backends:
            node = self._ring.pick(user, self._down())
            host, port = (node.host, node.port(role)) if node is not None else ("", 0)
        else:
            ports = self._portsFor(role) if self._portsFor is not None else []
            host, port = localHost, (ports[0] if ports else 0)
        if not port:
            self.log.warn("auth_http: no {role} node for {user}", role=role, user=user)
            return self._refuse(protocol, "No server available, try again later", "451 4.3.0", True)
        return [("Auth-Status", "OK"), ("Auth-Server", host), ("Auth-Port", str(port))]

    def _refuse(self, protocol: str, status: str, code: str, again: bool) -> Answer:
        answer = [("Auth-Status", status)]
        if protocol == "smtp":
            answer.append(("Auth-Error-Code", code))
        if again:
            answer.append(("Auth-Wait", str(self.config.auth_http.wait)))
        return answer
