# -*- test-case-name: tests.relay.test_pool -*-
"""
Connections per destination: every destination (a domain, or the
smarthost) has its own line of jobs and at most L{Pool.perDestination}
connections, so a slow or dead destination only ever holds its own
connections and never delays another's mail.  A connection that finished
a message takes the next one for the same destination (RSET between,
see L{twisted_mail_suite.relay.client.sendMessage}); one with nothing to
do says QUIT after L{Pool.idleTimeout} seconds.
"""
from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Any, Callable

from twisted.internet.defer import Deferred, DeferredList, maybeDeferred, succeed
from twisted.logger import Logger
from twisted.python.failure import Failure

from .client import ClientError, SMTPClient
from .entry import FAILED
from .session import Transaction

__all__ = ["Job", "Pool"]


class Job:
    """
    One message for some recipients at one destination.

    @ivar send: C{send(client)} runs the transaction on a ready connection
        (L{twisted_mail_suite.relay.client.sendMessage}).
    @ivar done: fires with the L{Outcome}s of every recipient.
    """

    def __init__(self, transaction: Transaction, send: Callable[[SMTPClient], Deferred]) -> None:
        self.transaction = transaction
        self.send = send
        self.done: Deferred = Deferred()

    def settle(self, error: ClientError | None = None) -> None:
        if self.done.called:
            return
        transaction = self.transaction
        if error is not None:
            if error.permanent:
                transaction.refuseAll(FAILED, error.reason)
            transaction.interrupted(error.reason)
        transaction.interrupted("no result")
        self.done.callback(transaction.outcomes())


@dataclass
class _Destination:
    jobs: deque[Job] = field(default_factory=deque)
    idle: list[tuple[SMTPClient, Any]] = field(default_factory=list)
    busy: int = 0
    opening: int = 0

    @property
    def empty(self) -> bool:
        return not (self.jobs or self.idle or self.busy or self.opening)


class Pool:
    """
    @param connect: C{connect(key)} -> Deferred firing with a ready
        L{SMTPClient} (L{twisted_mail_suite.relay.connector.Connector.connect}).
    """

    log = Logger()

    def __init__(self, connect: Callable[[str], Deferred], clock: Any, perDestination: int = 10,
                 idleTimeout: float = 2.0) -> None:
        self.connect = connect
        self.clock = clock
        self.perDestination = perDestination
        self.idleTimeout = idleTimeout
        self._destinations: dict[str, _Destination] = {}
        self._clients: set[SMTPClient] = set()
        self._stopped = False

    def connections(self, key: str) -> int:
        """
        Connections open or opening to C{key} (busy or idle).
        """
        destination = self._destinations.get(key)
        return 0 if destination is None else destination.busy + destination.opening + len(destination.idle)

    def submit(self, key: str, job: Job) -> Deferred:
        """
        Run C{job} on a connection to destination C{key}.

        @return: C{job.done}.
        """
        if self._stopped:
            job.settle(ClientError("451 4.3.2 the relay is stopping"))
            return job.done
        self._destinations.setdefault(key, _Destination()).jobs.append(job)
        self._pump(key)
        return job.done

    def _pump(self, key: str) -> None:
        destination = self._destinations.get(key)
        if destination is None:
            return
        while destination.jobs:
            if destination.idle:
                client, timer = destination.idle.pop()
                if timer.active():
                    timer.cancel()
                if client.usable:
                    self._run(key, destination, client, destination.jobs.popleft())
                continue
            active = destination.busy + destination.opening
            if active >= self.perDestination or destination.opening >= len(destination.jobs):
                break
            destination.opening += 1
            maybeDeferred(self.connect, key).addCallbacks(
                self._opened, self._openFailed, callbackArgs=(key,), errbackArgs=(key,))
        if destination.empty and self._destinations.get(key) is destination:
            del self._destinations[key]

    def _opened(self, client: SMTPClient, key: str) -> None:
        destination = self._destinations.setdefault(key, _Destination())
        destination.opening -= 1
        self._clients.add(client)
        client.whenLost().addCallback(lambda _: self._clients.discard(client))
        self._release(key, client)

    def _openFailed(self, failure: Failure, key: str) -> None:
        destination = self._destinations.setdefault(key, _Destination())
        destination.opening -= 1
        error = failure.value if isinstance(failure.value, ClientError) else None
        if error is None:
            self.log.failure("Connecting to {destination} failed", failure, destination=key)
            error = ClientError(f"451 4.3.0 local error connecting: {failure.getErrorMessage()}")
        if not (destination.busy or destination.opening or destination.idle):
            jobs, destination.jobs = destination.jobs, deque()
            for job in jobs:
                job.settle(error)
        self._pump(key)

    def _run(self, key: str, destination: _Destination, client: SMTPClient, job: Job) -> None:
        destination.busy += 1

        def finished(result: object) -> None:
            destination.busy -= 1
            if isinstance(result, Failure):
                error = result.value
                if not isinstance(error, ClientError):
                    self.log.failure("Delivery to {destination} failed", result, destination=key)
                    error = ClientError(f"451 4.3.0 local error: {result.getErrorMessage()}")
                client.usable = False
                if client.transport is not None:
                    client.transport.abortConnection()
                job.settle(error)
            else:
                job.settle()
            if client.usable and not self._stopped:
                self._release(key, client)
            else:
                self._pump(key)

        maybeDeferred(job.send, client).addBoth(finished)

    def _release(self, key: str, client: SMTPClient) -> None:
        destination = self._destinations.setdefault(key, _Destination())
        if destination.jobs and client.usable:
            self._run(key, destination, client, destination.jobs.popleft())
            return
        timer = self.clock.callLater(self.idleTimeout, self._expire, key, client)
        destination.idle.append((client, timer))
        self._pump(key)

    def _expire(self, key: str, client: SMTPClient) -> None:
        destination = self._destinations.get(key)
        if destination is not None:
            destination.idle = [(c, t) for c, t in destination.idle if c is not client]
            if destination.empty and self._destinations.get(key) is destination:
                del self._destinations[key]
        client.quit()

    def stop(self) -> Deferred:
        """
        Refuse new jobs, close idle connections with QUIT and cut busy
        ones (their recipients are deferred); fires when all are closed.
        """
        self._stopped = True
        for destination in list(self._destinations.values()):
            for _, timer in destination.idle:
                if timer.active():
                    timer.cancel()
            destination.idle = []
            jobs, destination.jobs = destination.jobs, deque()
            for job in jobs:
                job.settle(ClientError("451 4.3.2 the relay is stopping"))
        closing = []
        for client in list(self._clients):
            closing.append(client.whenLost())
            client.usable = False
            client.transport.abortConnection()
        return DeferredList(closing, consumeErrors=True) if closing else succeed(None)
