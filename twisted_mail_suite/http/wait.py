# -*- test-case-name: tests.http.test_wait -*-
"""
C{GET /api/v1/wait?to=ADDR&subject=TEXT&timeout=SECONDS}: the long poll
a test in any language uses to wait for mail.  It answers 200 with the
first message for C{to} (a user name or an address; default: me) whose
subject is C{subject} (exactly; any subject if not given) — one already
in the mailbox, or the next delivered, heard of through the event bus's
C{NewMailEvent} (no polling) — or 408 after C{timeout} seconds on the
suite's clock (default 30, at most C{http.max_wait}).

A user waits for their own mail; an admin for anyone's.  At shutdown the
waiting polls get a 503 at once.
"""
from __future__ import annotations

from typing import Any, Callable

from twisted.internet.defer import Deferred, gatherResults

from ..delivery.router import LocalRoute, UnknownRecipient
from ..events import NewMailEvent
from .endpoint import queryArgument
from .mail import MessageReader
from .replies import HTTPError

__all__ = ["DEFAULT_TIMEOUT", "Waiter"]

DEFAULT_TIMEOUT = 30.0


class Waiter:
    """
    The long polls of one suite.
    """

    def __init__(self, parts: Any, reader: MessageReader, maxWait: float) -> None:
        self.parts = parts
        self.reader = reader
        self.maxWait = maxWait
        self._waiting: dict[Deferred, Callable[[], None]] = {}

    def recipients(self, to: str) -> tuple[str, ...]:
        """
        The local users mail to C{to} reaches (C{to} a user name or an
        address).

        @raise HTTPError: 404 (nobody here), 400 (not a local address).
        """
        if "@" not in to:
            name = to.strip().lower()
            if self.parts.users.lookup(name) is None:
                raise HTTPError(404, "not-found", f"No user {to}.")
            return (name,)
        try:
            route = self.parts.router.route(to)
        except UnknownRecipient:
            raise HTTPError(404, "not-found", f"Nobody receives mail for {to} here.") from None
        if not isinstance(route, LocalRoute):
            raise HTTPError(400, "bad-request", f"{to} is not an address of a local domain.")
        return tuple(route.users)

    def timeout(self, request: Any) -> float:
        text = queryArgument(request, b"timeout")
        if text is None:
            return min(DEFAULT_TIMEOUT, self.maxWait)
        try:
            value = float(text)
        except ValueError:
            value = -1.0
        if not 0 <= value <= self.maxWait:
            raise HTTPError(400, "bad-request", f"timeout must be a number of seconds from 0 to {self.maxWait:g}.")
        return value

    def wait(self, request: Any, user: Any) -> Deferred[dict[str, Any]]:
        """
        The endpoint's handler; see the module docstring.
        """
        to = queryArgument(request, b"to") or user.name
        subject = queryArgument(request, b"subject")
        timeout = self.timeout(request)
        users = self.recipients(to)
        if not user.admin and set(users) != {user.name}:
            raise HTTPError(403, "forbidden", "You may wait for your own mail only.")

        def matches(summary: dict[str, Any]) -> bool:
            return subject is None or summary["subject"] == subject

        cleanups: list[Callable[[], object]] = []

        def finish() -> None:
            for cleanup in cleanups:
                cleanup()
            cleanups.clear()
            self._waiting.pop(result, None)

        result: Deferred[dict[str, Any]] = Deferred(lambda _: finish())
        self._waiting[result] = finish

        def answer(name: str, summary: dict[str, Any]) -> None:
            if not result.called:
                finish()
                result.callback({"user": name, "message": summary})

        def heard(event: NewMailEvent) -> None:
            if result.called or event.user not in users:
                return
            d = self.reader.find(event.user, event.uid)
            d.addCallback(lambda stored: self.reader.summary(event.user, stored))
            d.addCallback(lambda summary: answer(event.user, summary) if matches(summary) else None)
            d.addErrback(lambda _: None)      # deleted already: keep waiting

        def expired() -> None:
            if not result.called:
                finish()
                result.errback(HTTPError(408, "timeout", f"No matching message within {timeout:g} seconds."))

        cleanups.append(self.parts.bus.subscribe(NewMailEvent, heard))   # before looking: nothing slips by
        timer = self.parts.clock.callLater(timeout, expired)
        cleanups.append(lambda: timer.cancel() if timer.active() else None)
        self._lookInMailboxes(users, matches, answer, result)
        return result

    def _lookInMailboxes(self, users: tuple[str, ...], matches: Callable[[dict[str, Any]], bool],
                         answer: Callable[[str, dict[str, Any]], None], result: Deferred) -> None:
        def look(name: str) -> Deferred[None]:
            def listed(stored: list[Any]) -> Deferred[None]:
                d = gatherResults([self.reader.summary(name, message) for message in stored], consumeErrors=True)

                def check(summaries: list[dict[str, Any]]) -> None:
                    for summary in summaries:
                        if matches(summary):
                            answer(name, summary)
                            return

                return d.addCallback(check)
            return self.reader.list(name).addCallback(listed)

        for name in users:
            look(name).addErrback(self._lookFailed, result)

    def cancelAll(self) -> None:
        """
        The server is shutting down: every waiting poll gets a 503.
        """
        for waiting, finish in list(self._waiting.items()):
            finish()
            if not waiting.called:
                waiting.errback(HTTPError(503, "shutting-down", "The server is shutting down."))

    def _lookFailed(self, failure: Any, result: Deferred) -> None:
        finish = self._waiting.get(result)
        if finish is not None and not result.called:
            finish()
            result.errback(failure)
