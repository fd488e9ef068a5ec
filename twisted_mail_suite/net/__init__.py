# -*- test-case-name: tests.net -*-
"""
The connection chassis: what every protocol of the suite needs around its
own verbs, written once.

  - L{transport}: C{peerHost}, C{isSecure}, C{setNoDelay}, C{CLOSE_GRACE}.
  - L{admission}: C{ConnectionRegistry} (total and per-address limits),
    C{Ticket}, C{Refusal}, and the C{ConnectionBudget} every registry of
    the process shares (sized at start from C{RLIMIT_NOFILE}).
  - L{idle}: C{IdleTracker}, one timer for the idle timeouts of many
    connections, and for the close grace (C{closeWithin}).
  - L{lifecycle}: C{Lifecycle} (open -> busy -> draining -> closing ->
    gone), C{IManagedConnection}, C{IDrainable} and C{ConnectionManager},
    the one drain.
  - L{output}: C{BoundedOutput}, the slow-reader bound.
  - L{tls}: C{ServerTLS}, the certificate and the TLS options (TLS 1.2+,
    AEAD suites) of STARTTLS and implicit-TLS listeners; L{certificates}:
    the local CA and server certificate made when none is configured.

It imports Twisted, zope.interface and nothing of the suite's protocols,
identity, store or delivery.

How a protocol uses it (the factory builds one C{ConnectionManager} and
one C{IdleTracker} and provides C{IDrainable} by delegating C{drain} to
the manager)::

    @implementer(IDrainable)
    class ThingFactory(ServerFactory):
        def __init__(self, config, clock, budget=None):   # budget: SuiteParts.budget
            self.clock = clock
            self.manager = ConnectionManager(clock, ConnectionRegistry(
                config.max_connections, config.max_connections_per_ip, budget))
            self.idle = IdleTracker(clock, config.idle_timeout, ThingProtocol.idleExpired)

        def drain(self, timeout):
            return self.manager.drain(timeout)

    @implementer(IManagedConnection)
    class ThingProtocol(Protocol):
        REFUSALS = {Refusal.BUSY: b"-ERR too many connections\\r\\n",
                    Refusal.ADDRESS: b"-ERR too many connections\\r\\n",
                    Refusal.DRAINING: b"-ERR shutting down\\r\\n"}
        _ticket = None

        def connectionMade(self):
            self.peerHost = peerHost(self.transport)
            admitted = self.factory.manager.admit(self.peerHost, self)
            if isinstance(admitted, Refusal):           # not counted: nothing to release
                self.transport.write(self.REFUSALS[admitted])
                self.transport.loseConnection()
                return
            self._ticket = admitted
            self.lifecycle = Lifecycle()
            setNoDelay(self.transport)
            self.secure = isSecure(self.transport)
            self.factory.idle.touch(self)                # the idle timeout starts

        def dataReceived(self, data):
            if self.lifecycle.closing:                   # DRAINING still reads the work in hand
                return
            self.factory.idle.touch(self)                # active (SMTP in DATA:
            ...                                          #  touch(self, dataTimeout));
                                                         # new commands only if lifecycle.serving

        def _check(self, credentials):                   # work the shutdown lets finish
            self.lifecycle.busy()
            self.factory.idle.pause(self)                # not idle while waiting
            d = self.portal.login(credentials)
            d.addBoth(self._checked)

        def _checked(self, result):
            self.factory.idle.touch(self)
            self.transport.write(...)
            if self.lifecycle.idle():                    # a shutdown was waiting for it
                self._goodbye()

        def shutdown(self):                              # IManagedConnection
            gone = self.lifecycle.whenGone()
            if self.lifecycle.drain():                   # nothing in hand: at once
                self._goodbye()
            return gone

        def abandon(self):                               # IManagedConnection, at the timeout
            self._dropWorkInHand()
            self._goodbye()                              # the manager aborts later if needed

        def _goodbye(self):
            if self.lifecycle.close():                   # once
                self.transport.write(b"-ERR shutting down\\r\\n")
                self.transport.loseConnection()

        def idleExpired(self):                           # called by the IdleTracker
            self._goodbye()

        def connectionLost(self, reason):
            if self._ticket is None:                     # refused
                return
            self.factory.idle.forget(self)
            self._ticket.release()                       # exactly once, whatever path
            self.lifecycle.lost()                        # fires whenGone: the drain sees it

The service finds what to drain with C{IDrainable.providedBy(factory)}.
"""

from __future__ import annotations
