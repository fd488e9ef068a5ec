# -*- test-case-name: tests.http.test_api -*-
"""
The JSON API of a logged-in user (docs/http-api.md)::

    GET    /api/v1/me                          who am I (and the session's CSRF token)
    GET    /api/v1/messages?limit=&offset=     my messages, newest first, paged
    GET    /api/v1/messages/{id}               one message: headers, text, html (marks it seen)
    GET    /api/v1/messages/{id}/raw           its octets (message/rfc822)
    DELETE /api/v1/messages/{id}               delete it
    GET    /api/v1/wait?to=&subject=&timeout=  long poll (L{twisted_mail_suite.http.wait})
    /api/v1/admin/...                          for http.admins (L{twisted_mail_suite.http.adminapi})
"""
from __future__ import annotations

from typing import Any

from twisted.internet.defer import Deferred, gatherResults
from twisted.web.resource import Resource

from .adminapi import buildAdmin
from .auth import csrfToken
from .endpoint import Endpoint, Folder, NotFound, Reply, queryArgument
from .mail import MessageReader, checkID
from .replies import HTTPError
from .wait import Waiter

__all__ = ["DEFAULT_LIMIT", "MAX_LIMIT", "buildAPI", "pageArguments"]

DEFAULT_LIMIT = 50
MAX_LIMIT = 500


def pageArguments(request: Any) -> tuple[int, int]:
    """
    C{(limit, offset)} of C{?limit=&offset=}.

    @raise HTTPError: 400 for values that are not whole numbers in range.
    """
    values = []
    for name, default, high in ((b"limit", DEFAULT_LIMIT, MAX_LIMIT), (b"offset", 0, None)):
        text = queryArgument(request, name)
        if text is None:
            values.append(default)
            continue
        if not text.isdigit() or (high is not None and not 1 <= int(text) <= high):
            limit = f"1 to {high}" if high is not None else "0 or more"
            raise HTTPError(400, "bad-request", f"{name.decode()} must be a whole number, {limit}.")
        values.append(int(text))
    return values[0], values[1]


class Messages(Endpoint):
    """
    C{/api/v1/messages} and, below it, each message.
    """

    isLeaf = False

    def __init__(self, reader: MessageReader) -> None:
        super().__init__({b"GET": self.listMessages})
        self.reader = reader

    def getChild(self, path: bytes, request: Any) -> Resource:
        if path == b"":
            return self
        try:
            messageID = checkID(path.decode("utf-8"))
        except (UnicodeDecodeError, HTTPError):
            return NotFound()
        return OneMessage(self.reader, messageID)

    def listMessages(self, request: Any, user: Any) -> Deferred[dict[str, Any]]:
        limit, offset = pageArguments(request)

        def listed(stored: list[Any]) -> Deferred[dict[str, Any]]:
            page = stored[offset:offset + limit]
            d = gatherResults([self.reader.summary(user.name, message) for message in page], consumeErrors=True)
            return d.addCallback(lambda summaries: {"total": len(stored), "offset": offset, "limit": limit,
                                                    "messages": summaries})

        return self.reader.list(user.name).addCallback(listed)


class OneMessage(Endpoint):
    """
    C{/api/v1/messages/{id}} (GET, DELETE) and its C{raw}.
    """

    isLeaf = False

    def __init__(self, reader: MessageReader, messageID: str) -> None:
        super().__init__({b"GET": self.show, b"DELETE": self.delete})
        self.reader = reader
        self.messageID = messageID

    def getChild(self, path: bytes, request: Any) -> Resource:
        if path == b"":
            return self
        if path == b"raw" and not request.postpath:
            return Endpoint({b"GET": self.raw})
        return NotFound()

    def show(self, request: Any, user: Any) -> Deferred[dict[str, Any]]:
        d = self.reader.find(user.name, self.messageID)

        def found(stored: Any) -> Deferred[dict[str, Any]]:
            detail = self.reader.detail(user.name, stored)
            if not stored.seen:
                detail.addCallback(self._markSeen, user.name)
            return detail

        return d.addCallback(found)

    def _markSeen(self, detail: dict[str, Any], user: str) -> Deferred[dict[str, Any]]:
        d = self.reader.store.markSeen(user, [self.messageID])
        return d.addCallback(lambda _: {**detail, "seen": True})

    def raw(self, request: Any, user: Any) -> Deferred[Reply]:
        d = self.reader.raw(user.name, self.messageID)
        disposition = b'attachment; filename="%s.eml"' % self.messageID.encode("ascii")
        return d.addCallback(lambda raw: Reply(body=raw, contentType=b"message/rfc822",
                                               headers=((b"Content-Disposition", disposition),)))

    def delete(self, request: Any, user: Any) -> Deferred[dict[str, Any]]:
        d = self.reader.find(user.name, self.messageID)
        d.addCallback(lambda _: self.reader.store.deleteMessages(user.name, [self.messageID]))
        return d.addCallback(lambda _: {"deleted": self.messageID})


def me(request: Any, user: Any) -> dict[str, Any]:
    return {"user": user.name, "admin": user.admin, "csrf_token": csrfToken(request)}


def buildAPI(factory: Any) -> Resource:
    """
    C{/api/v1} for C{factory} (an L{twisted_mail_suite.http.factory.HTTPFactory}).
    """
    parts = factory.parts
    reader = MessageReader(parts.store)
    waiter = Waiter(parts, reader, factory.config.max_wait)
    factory.whenDraining.append(waiter.cancelAll)
    v1 = Folder()
    v1.putChild(b"me", Endpoint({b"GET": me}))
    v1.putChild(b"messages", Messages(reader))
    v1.putChild(b"wait", Endpoint({b"GET": waiter.wait}))
    v1.putChild(b"admin", buildAdmin(factory))
    return v1
