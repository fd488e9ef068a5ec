# -*- test-case-name: tests.http.test_pages_admin -*-
"""
The admin pages, for the users of C{http.admins}::

    GET /admin            the three pages below, with their counts
    GET /admin/queue      the outbound queue: retry (flush) or delete a message, retry all
    GET /admin/users      the users: add, set a password, delete
    GET /admin/online     who is connected, per protocol

The lists are read through the admin API's own operations
(L{twisted_mail_suite.http.adminapi}: the relay's queue commands, the
users operations of C{mailsuite-admin}, the live factories' presence);
the buttons and forms change things through the JSON API itself
(C{static/admin.js} sends them with the session's CSRF token and reloads
the page), so there is one implementation of each change.
"""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from twisted.internet.defer import Deferred, maybeDeferred

from .adminapi import Queue, Users, online
from .pages import Page, csrfField, esc, formatSize, layout
from .replies import HTTPError

__all__ = ["AdminPage"]

SECTIONS = (("queue", "Outbound queue"), ("users", "Users"), ("online", "Who is online"))


def _time(value: Any) -> str:
    if not isinstance(value, (int, float)) or not value:
        return "-"
    return datetime.fromtimestamp(value, timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")


def _apiForm(request: Any, method: str, url: str, label: str, fields: str = "", danger: bool = False,
             confirm: str = "") -> str:
    """
    A form C{admin.js} sends to the JSON API: C{method} C{url} with its
    named fields as a JSON object.
    """
    kind = ' class="danger"' if danger else ""
    button = f'<button type="submit"{kind}>{esc(label)}</button>'
    ask = f' data-confirm="{esc(confirm)}"' if confirm else ""
    return (f'<form class="api" data-method="{esc(method)}" data-url="{esc(url)}"{ask}>'
            f'{csrfField(request)}{fields}{button}<span class="form-error error" role="alert"></span></form>')


class AdminPage(Page):
    """
    C{/admin} and its pages.

    @param parts: the suite's parts (C{queueControl}, C{online}, C{users}).
    @param auth: the web's logins (L{twisted_mail_suite.http.auth.Authenticator}).
    """

    admin = True

    def __init__(self, parts: Any, auth: Any) -> None:
        super().__init__()
        self.parts = parts
        self.queue = Queue(parts.queueControl)
        self.users = Users(parts, auth)

    def get(self, request: Any, user: Any) -> Any:
        path = [segment for segment in request.postpath if segment]
        if not path:
            return self.overview(request, user)
        if len(path) == 1:
            shown = {b"queue": self.queuePage, b"users": self.usersPage, b"online": self.onlinePage}.get(path[0])
            if shown is not None:
                return shown(request, user)
        raise HTTPError(404, "not-found", "There is no such page.")

    def _page(self, request: Any, user: Any, title: str, body: str) -> bytes:
        tabs = "".join(f'<a href="/admin/{name}">{esc(label)}</a>' for name, label in SECTIONS)
        return layout(request, title, f'<p class="actions admin-tabs">{tabs}</p>{body}', user,
                      scripts=("admin.js",), current="/admin")

    def _queueEntries(self) -> Deferred:
        try:
            d = self.queue.run("list")
        except HTTPError as e:
            return maybeDeferred(lambda: e)
        return d.addErrback(lambda failure: failure.value if failure.check(HTTPError) else failure)

    # -- overview ----------------------------------------------------------------

    def overview(self, request: Any, user: Any) -> Deferred:
        d = self._queueEntries()

        def counted(entries: Any) -> bytes:
            queued = f"{len(entries)} queued" if isinstance(entries, list) else "no queue"
            present = online(self.parts)
            counts = {"queue": queued, "users": f"{len(self.parts.users.names())} users",
                      "online": f"{sum(len(v) for v in present.values())} connected"}
            items = "".join(f'<li><a href="/admin/{name}">{esc(label)}</a> '
                            f'<span class="muted">{esc(counts[name])}</span></li>' for name, label in SECTIONS)
            return self._page(request, user, "Admin", f"<h1>Admin</h1><ul>{items}</ul>")

        return d.addCallback(counted)

    # -- the queue ---------------------------------------------------------------

    def queuePage(self, request: Any, user: Any) -> Deferred:
        return self._queueEntries().addCallback(lambda entries: self._queueTable(request, user, entries))

    def _queueTable(self, request: Any, user: Any, entries: Any) -> bytes:
        if isinstance(entries, HTTPError):
            return self._page(request, user, "Outbound queue",
                              f'<h1>Outbound queue</h1><p class="empty">{esc(entries.message)}</p>')
        parts = [f'<h1>Outbound queue <span class="muted">({len(entries)})</span></h1>']
        if not entries:
            parts.append('<p class="empty">The queue is empty.</p>')
        else:
            parts.append(_apiForm(request, "POST", "/api/v1/admin/queue/flush", "Retry all now"))
            parts.append('<table class="queue"><thead><tr><th>Id</th><th>From</th><th>To</th>'
                         '<th class="size">Size</th><th>Attempts</th><th>Next attempt</th>'
                         '<th>Last error</th><th></th></tr></thead><tbody>')
            for entry in entries:
                queueID = str(entry.get("id", ""))
                recipients = ", ".join(str(r.get("address", r)) if isinstance(r, dict) else str(r)
                                       for r in entry.get("recipients", []))
                state = " (held)" if entry.get("held") else (" (sending)" if entry.get("active") else "")
                base = "/api/v1/admin/queue/" + queueID
                actions = (_apiForm(request, "POST", base + "/flush", "Retry")
                           + _apiForm(request, "DELETE", base, "Delete", danger=True,
                                      confirm=f"Delete queued message {queueID}?"))
                parts.append(
                    f'<tr data-id="{esc(queueID)}"><td><code>{esc(queueID)}</code>{esc(state)}</td>'
                    f'<td>{esc(entry.get("sender") or "<>")}</td><td>{esc(recipients)}</td>'
                    f'<td class="size">{esc(formatSize(int(entry.get("size") or 0)))}</td>'
                    f'<td>{esc(entry.get("attempts", 0))}</td><td class="date">{esc(_time(entry.get("next_attempt")))}</td>'
                    f'<td>{esc(entry.get("last_error") or "")}</td><td class="actions">{actions}</td></tr>')
            parts.append("</tbody></table>")
        return self._page(request, user, "Outbound queue", "".join(parts))

    # -- users -------------------------------------------------------------------

    def usersPage(self, request: Any, user: Any) -> Deferred:
        d = maybeDeferred(self.users.list, request, user)
        return d.addCallback(lambda listed: self._usersTable(request, user, listed["users"]))

    def _usersTable(self, request: Any, user: Any, names: list[str]) -> bytes:
        password = ('<label>New password <input type="password" name="password" required '
                    'autocomplete="new-password"></label>')
        rows = "".join(
            f'<tr data-user="{esc(name)}"><td>{esc(name)}</td><td class="actions">'
            + _apiForm(request, "PUT", f"/api/v1/admin/users/{name}/password", "Set password", password)
            + _apiForm(request, "DELETE", f"/api/v1/admin/users/{name}", "Delete", danger=True,
                       confirm=f"Delete the user {name} and log them out?")
            + "</td></tr>" for name in names)
        add = _apiForm(request, "POST", "/api/v1/admin/users", "Add user",
                       '<label>User name <input type="text" name="name" required autocomplete="off"></label>'
                       '<label>Password <input type="password" name="password" required '
                       'autocomplete="new-password"></label>')
        body = (f'<h1>Users <span class="muted">({len(names)})</span></h1>'
                f'<div class="admin-forms">{add}</div>'
                f'<table class="users"><thead><tr><th>Name</th><th></th></tr></thead><tbody>{rows}</tbody></table>')
        return self._page(request, user, "Users", body)

    # -- who is online -----------------------------------------------------------

    def onlinePage(self, request: Any, user: Any) -> bytes:
        present = online(self.parts)
        parts = ["<h1>Who is online</h1>"]
        if not any(present.values()):
            parts.append('<p class="empty">Nobody is connected.</p>')
        for role in sorted(present):
            sessions = present[role]
            if not sessions:
                continue
            columns = sorted({key for session in sessions if isinstance(session, dict) for key in session})
            head = "".join(f"<th>{esc(column)}</th>" for column in columns)
            rows = "".join("<tr>" + "".join(f"<td>{esc(_cell(session.get(column)))}</td>" for column in columns)
                           + "</tr>" for session in sessions if isinstance(session, dict))
            parts.append(f'<h2>{esc(role)} <span class="muted">({len(sessions)})</span></h2>'
                         f'<table class="online" data-role="{esc(role)}"><thead><tr>{head}</tr></thead>'
                         f'<tbody>{rows}</tbody></table>')
        return self._page(request, user, "Who is online", "".join(parts))


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value > 1e9:       # a time
        return _time(value)
    if isinstance(value, (list, tuple)):
        return ", ".join(map(str, value))
    return str(value)
