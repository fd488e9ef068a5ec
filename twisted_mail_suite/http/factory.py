# -*- test-case-name: tests.http.test_factory -*-
"""
The HTTP factory: one twisted.web C{Site} per suite, shared by every
C{http} listener (C{tcp:}, and C{ssl:} with implicit TLS).  It holds what
the connections share: the chassis (admission and the drain through a
L{ConnectionManager}), the limits of the C{http} section, the clock, the
login sessions and the resource tree.

Plain twisted.web resources, not Klein: the API is a dozen fixed paths
and one C{{id}} segment, which C{Resource.getChild} routes in a few
lines, with no dependency and no second request model to test.
"""
from __future__ import annotations

from typing import Any, Callable

from twisted.internet.defer import Deferred
from twisted.web.resource import IResource
from twisted.web.server import Site
from zope.interface import implementer

from ..httpconfig import HTTPConfig
from ..net.lifecycle import ConnectionManager, IDrainable
from ..registry import SuiteParts
from .auth import Authenticator
from .channel import MailSuiteChannel, MailSuiteRequest
from .pages_site import mountPages
from .root import buildRoot
from .sessions import SessionStore

__all__ = ["HTTPFactory", "makeFactory"]


@implementer(IDrainable)
class HTTPFactory(Site):
    """
    Builds L{MailSuiteChannel}s for one suite.

    @ivar config: the C{http} section (limits, timeouts, admins).
    @ivar manager: admission (total and per-address limits) and the drain.
    @ivar auth: who is logged in, CSRF (L{Authenticator}).
    @ivar parts: the suite's parts the endpoints use.
    @ivar root: the resource tree; L{mount} adds to it.
    """

    protocol = MailSuiteChannel
    requestFactory = MailSuiteRequest
    displayTracebacks = False

    def __init__(self, config: HTTPConfig, parts: SuiteParts) -> None:
        self.config = config
        self.parts = parts
        self.clock = parts.clock
        self.manager = ConnectionManager.forSection(parts.clock, config, parts.budget, metrics=parts.metrics,
                                                    protocol="http")
        self.sessions = SessionStore(parts.clock, config.session_lifetime)
        self.auth = Authenticator(parts.portal, self.sessions, config.admins)
        self.whenDraining: list[Callable[[], object]] = []
        self.root = buildRoot(self)
        super().__init__(self.root, timeout=config.idle_timeout, reactor=parts.clock)
        self.noisy = False

    def buildProtocol(self, addr: Any) -> MailSuiteChannel:
        channel = super().buildProtocol(addr)
        channel.limits = self.config
        channel.clock = self.clock
        # Twisted's own header limits (a bare 400) stay above ours (a JSON 431).
        channel.MAX_LENGTH = channel.totalHeadersSize = self.config.max_header_size
        channel.maxHeaders = self.config.max_header_size // 4
        return channel  # type: ignore[return-value]

    def log(self, request: Any) -> None:
        """
        No access log line per request (Twisted's default writes one for
        every request to the global log); the metrics count them.
        """

    def startFactory(self) -> None:
        """
        Nothing to open: no access log (and so no timer keeping its date
        string fresh every second on the suite's clock).
        """

    def stopFactory(self) -> None:
        """
        Nothing to close (see L{startFactory}).
        """

    def mount(self, path: bytes, resource: IResource) -> None:
        """
        Serve C{resource} at C{path} (C{b"inbox"}, C{b"api/v1/test/faults"}),
        replacing what was there: the web pages and the test harness add
        their resources this way, before the suite starts.
        """
        *parents, last = path.strip(b"/").split(b"/")
        node: Any = self.root
        for name in parents:
            child = node.children.get(name)
            if child is None:
                from .endpoint import Folder
                child = Folder()
                node.putChild(name, child)
            node = child
        node.putChild(last, resource)

    @property
    def connections(self) -> int:
        return self.manager.registry.connections

    def drain(self, timeout: float) -> Deferred[None]:
        """
        Graceful shutdown (L{IDrainable}): refuse new connections, answer
        the long polls at once (503), let each request in hand finish;
        abort the rest after C{timeout}.
        """
        for callback in list(self.whenDraining):
            callback()
        return self.manager.drain(timeout)


def makeFactory(parts: SuiteParts, role: str = "http") -> HTTPFactory:
    """
    The factory the registry names: one per suite, shared by every
    C{http.listen} endpoint.
    """
    factory = HTTPFactory(getattr(parts.config, role), parts)
    mountPages(factory)
    return factory
