# -*- test-case-name: tests.http.test_adminapi -*-
"""
The admin endpoints, for the users of C{http.admins} (others get 403)::

    GET    /api/v1/admin/queue                 the outbound queue (as mailsuite-admin queue list)
    POST   /api/v1/admin/queue/flush           try every message now
    GET    /api/v1/admin/queue/{id}            one message, with its headers
    POST   /api/v1/admin/queue/{id}/flush|hold|release
    DELETE /api/v1/admin/queue/{id}
    GET    /api/v1/admin/online                who is connected: role -> sessions
    GET    /api/v1/admin/users                 the user names
    POST   /api/v1/admin/users                 {"name", "password"}: add (201)
    PUT    /api/v1/admin/users/{name}/password {"password"}: set it
    DELETE /api/v1/admin/users/{name}

The queue is the relay's (C{SuiteParts.queueControl}; 409 when the relay
is off); who is online comes from the live factories
(C{SuiteParts.online}); users go through the operations
C{mailsuite-admin users} performs (L{twisted_mail_suite.identity.operations}),
in a thread; a user deleted or given a new password is logged out of the
web pages and forgotten by the Basic credentials cache.
"""
from __future__ import annotations

from dataclasses import asdict, is_dataclass
from typing import Any

from twisted.internet.defer import Deferred, maybeDeferred
from twisted.web.resource import Resource

from ..errors import QueueControlError
from ..identity.operations import UserError, UserOperations, backendFor
from ..identity.passwd import inThreadPool
from .endpoint import Endpoint, Folder, NotFound, Reply, jsonArgument
from .replies import HTTPError

__all__ = ["buildAdmin"]

USER_ERRORS = {"bad-name": (400, "bad-request"), "bad-password": (400, "bad-request"),
               "exists": (409, "exists"), "missing": (404, "not-found"), "read-only": (409, "read-only")}
QUEUE_ACTIONS = (b"flush", b"hold", b"release")


class Queue:
    """
    The queue endpoints over C{control} (C{SuiteParts.queueControl}).
    """

    def __init__(self, control: Any) -> None:
        self.control = control

    def run(self, command: str, queueID: str | None = None) -> Deferred[Any]:
        if self.control is None:
            raise HTTPError(409, "relay-off", "The outbound relay is off (relay.mode: off): there is no queue.")
        d = maybeDeferred(self.control, command, queueID)

        def refused(failure: Any) -> Any:
            failure.trap(QueueControlError)
            message = failure.getErrorMessage()
            if message.startswith("no message"):
                raise HTTPError(404, "not-found", message)
            raise HTTPError(409, "queue", message)

        return d.addErrback(refused)

    def resource(self) -> Resource:
        queue = _Node({b"GET": lambda request, user: self.run("list")}, self._child)
        queue.access = "admin"
        return queue

    def _child(self, name: bytes, request: Any) -> Resource:
        if name == b"flush" and not request.postpath:
            return Endpoint({b"POST": lambda request, user: self.run("flush")}, "admin")
        queueID = name.decode("utf-8", "replace")
        entry = _Node({b"GET": lambda request, user: self.run("show", queueID),
                       b"DELETE": lambda request, user: self.run("delete", queueID)},
                      lambda action, request: self._action(queueID, action, request))
        entry.access = "admin"
        return entry

    def _action(self, queueID: str, action: bytes, request: Any) -> Resource:
        if action not in QUEUE_ACTIONS or request.postpath:
            return NotFound()
        command = action.decode("ascii")
        return Endpoint({b"POST": lambda request, user: self.run(command, queueID)}, "admin")


class _Node(Endpoint):
    """
    An endpoint with children made on demand by C{child(name, request)}.
    """

    isLeaf = False

    def __init__(self, handlers: dict[bytes, Any], child: Any) -> None:
        super().__init__(handlers)
        self._makeChild = child

    def getChild(self, path: bytes, request: Any) -> Resource:
        if path == b"":
            return self
        return self._makeChild(path, request)  # type: ignore[no-any-return]


class Users:
    """
    The users endpoints.
    """

    def __init__(self, parts: Any, auth: Any) -> None:
        self.parts = parts
        self.auth = auth
        backend = backendFor(parts.users)
        reload = getattr(parts.users, "reload", None)
        self.operations = UserOperations(backend, parts.config.auth) if backend is not None else None
        self._reload = reload
        self._inThread = parts.runInThread or inThreadPool(parts.reactor)

    def _run(self, method: str, *args: Any) -> Deferred[Any]:
        if self.operations is None:
            raise HTTPError(409, "read-only", "This server's users database cannot be changed here.")
        d = self._inThread(getattr(self.operations, method), *args)

        def refused(failure: Any) -> Any:
            failure.trap(UserError)
            status, error = USER_ERRORS[failure.value.kind]
            raise HTTPError(status, error, failure.value.message)

        def changed(result: Any) -> Any:
            if method != "names" and self._reload is not None:
                self._reload()                       # the running server sees it at once
            return result

        return d.addCallbacks(changed, refused)

    def list(self, request: Any, user: Any) -> Deferred[Any]:
        if self.operations is None:
            return maybeDeferred(lambda: {"users": sorted(self.parts.users.names())})
        return self._run("names").addCallback(lambda names: {"users": sorted(names)})

    def add(self, request: Any, user: Any) -> Deferred[Any]:
        body = jsonArgument(request)
        name, password = _text(body, "name"), _text(body, "password")
        d = self._run("add", name, password)
        return d.addCallback(lambda stored: Reply(201, {"added": stored}))

    def passwd(self, name: str, request: Any) -> Deferred[Any]:
        password = _text(jsonArgument(request), "password")
        d = self._run("passwd", name, password)
        return d.addCallback(self._loggedOut, "password_set")

    def delete(self, name: str) -> Deferred[Any]:
        return self._run("delete", name).addCallback(self._loggedOut, "deleted")

    def _loggedOut(self, name: str, what: str) -> dict[str, Any]:
        self.auth.forgetUser(name)
        return {what: name}

    def resource(self) -> Resource:
        users = _Node({b"GET": self.list, b"POST": self.add}, self._child)
        users.access = "admin"
        return users

    def _child(self, name: bytes, request: Any) -> Resource:
        text = name.decode("utf-8", "replace")
        one = _Node({b"DELETE": lambda request, user: self.delete(text)},
                    lambda sub, request: self._password(text, sub, request))
        one.access = "admin"
        return one

    def _password(self, name: str, sub: bytes, request: Any) -> Resource:
        if sub != b"password" or request.postpath:
            return NotFound()
        handler = lambda request, user: self.passwd(name, request)  # noqa: E731
        return Endpoint({b"PUT": handler, b"POST": handler}, "admin")


def _text(body: dict[str, Any], key: str) -> str:
    value = body.get(key)
    if not isinstance(value, str) or not value:
        raise HTTPError(400, "bad-request", f"Give {key} (a non-empty string).")
    return value


def online(parts: Any) -> Any:
    """
    Who is connected now, role -> list of sessions (plain data).
    """
    if parts.online is None:
        return {}
    return {role: [asdict(s) if is_dataclass(s) else s for s in sessions]
            for role, sessions in parts.online().items()}


def buildAdmin(factory: Any) -> Resource:
    """
    C{/api/v1/admin} for C{factory}.
    """
    parts = factory.parts
    admin = Folder()
    admin.putChild(b"queue", Queue(parts.queueControl).resource())
    admin.putChild(b"online", Endpoint({b"GET": lambda request, user: {"online": online(parts)}}, "admin"))
    admin.putChild(b"users", Users(parts, factory.auth).resource())
    return admin
