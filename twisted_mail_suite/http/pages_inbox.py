# -*- test-case-name: tests.http.test_pages -*-
"""
The inbox pages::

    GET  /inbox                   the messages, newest first (sender, subject, date, size, unread)
    GET  /inbox/{id}              one message: its text part, or its HTML part in a sandboxed frame
    GET  /inbox/{id}/raw          its octets, as a download
    POST /inbox/{id}/delete       delete it (the session's CSRF token), back to the inbox

The messages are read through the API's L{MessageReader} (the same
summaries, parts and id checks as C{/api/v1/messages}).  No message HTML
ever runs: it is shown only in an C{<iframe sandbox srcdoc=...>} without
C{allow-scripts} (nor C{allow-same-origin}, so it is a unique origin
with no cookie and no access to this page), under the site's
Content-Security-Policy, which a C{srcdoc} frame inherits (no script, no
remote image, style sheet or font), plus a policy of its own in front
(C{default-src 'none'; img-src data:}).
"""
from __future__ import annotations

from datetime import datetime
from typing import Any

from twisted.internet.defer import Deferred, gatherResults

from .mail import MessageReader, checkID
from .pages import Page, csrfField, esc, formatSize, layout, redirect
from .replies import HTTPError, writeBody

__all__ = ["FRAME_POLICY", "InboxPage", "PAGE_SIZE"]

PAGE_SIZE = 50

# put in front of a message's HTML, inside its frame
FRAME_POLICY = ('<meta http-equiv="Content-Security-Policy" '
                'content="default-src \'none\'; img-src data:; style-src \'unsafe-inline\'">')


def _when(iso: str) -> str:
    try:
        return datetime.fromisoformat(iso).strftime("%Y-%m-%d %H:%M")
    except ValueError:
        return iso


def _offset(request: Any) -> int:
    values = request.args.get(b"offset") or [b"0"]
    return int(values[0]) if values[0].isdigit() else 0


class InboxPage(Page):
    """
    C{/inbox} and everything below it.
    """

    def __init__(self, reader: MessageReader) -> None:
        super().__init__()
        self.reader = reader

    def _target(self, request: Any) -> tuple[str | None, str]:
        path = [segment for segment in request.postpath if segment]
        if not path:
            return None, ""
        if len(path) > 2:
            raise HTTPError(404, "not-found", "There is no such page.")
        try:
            messageID = checkID(path[0].decode("utf-8"))
        except UnicodeDecodeError:
            raise HTTPError(404, "not-found", "No such message.") from None
        return messageID, path[1].decode("ascii", "replace") if len(path) == 2 else ""

    def get(self, request: Any, user: Any) -> Any:
        messageID, action = self._target(request)
        if messageID is None:
            return self.listing(request, user)
        if action == "":
            return self.message(request, user, messageID)
        if action == "raw":
            return self.raw(request, user, messageID)
        raise HTTPError(404, "not-found", "There is no such page.")

    def post(self, request: Any, user: Any) -> Any:
        messageID, action = self._target(request)
        if messageID is None or action != "delete":
            raise HTTPError(405, "method-not-allowed", "This page takes no form.")
        d = self.reader.find(user.name, messageID)
        d.addCallback(lambda _: self.reader.store.deleteMessages(user.name, [messageID]))
        return d.addCallback(lambda _: redirect(request, "/inbox?deleted=1"))

    # -- the list ----------------------------------------------------------------

    def listing(self, request: Any, user: Any) -> Deferred:
        offset = _offset(request)

        def listed(stored: list[Any]) -> Deferred:
            shown = stored[offset:offset + PAGE_SIZE]
            d = gatherResults([self.reader.summary(user.name, message) for message in shown], consumeErrors=True)
            return d.addCallback(lambda summaries: self._listPage(request, user, summaries, offset, len(stored)))

        return self.reader.list(user.name).addCallback(listed)

    def _listPage(self, request: Any, user: Any, summaries: list[dict[str, Any]], offset: int,
                  total: int) -> bytes:
        unread = sum(1 for summary in summaries if not summary["seen"])
        parts = [f'<h1>Inbox <span class="muted">({total} message{"" if total == 1 else "s"}'
                 f'{f", {unread} unread" if unread else ""})</span></h1>']
        if request.args.get(b"deleted"):
            parts.append('<p class="notice" role="status">Message deleted.</p>')
        if not summaries:
            parts.append('<p class="empty">No messages.</p>')
        else:
            parts.append('<table class="messages"><thead><tr><th>From</th><th>Subject</th>'
                         '<th class="date">Date</th><th class="size">Size</th></tr></thead><tbody>')
            for summary in summaries:
                href = "/inbox/" + summary["id"]
                state = "read" if summary["seen"] else "unread"
                label = "" if summary["seen"] else '<span class="visually-hidden">unread: </span>'
                parts.append(
                    f'<tr class="{state}" data-id="{esc(summary["id"])}">'
                    f'<td class="from">{esc(summary["from"] or "(unknown sender)")}</td>'
                    f'<td class="subject">{label}<a href="{esc(href)}">{esc(summary["subject"] or "(no subject)")}</a></td>'
                    f'<td class="date"><time datetime="{esc(summary["date"])}">{esc(_when(summary["date"]))}</time></td>'
                    f'<td class="size">{esc(formatSize(summary["size"]))}</td></tr>')
            parts.append("</tbody></table>")
        links = []
        if offset > 0:
            links.append(f'<a href="/inbox?offset={max(0, offset - PAGE_SIZE)}">Newer</a>')
        if offset + PAGE_SIZE < total:
            links.append(f'<a href="/inbox?offset={offset + PAGE_SIZE}">Older</a>')
        if links:
            parts.append(f'<p class="actions">{" ".join(links)}</p>')
        return layout(request, "Inbox", "".join(parts), user, current="/inbox")

    # -- one message -------------------------------------------------------------

    def message(self, request: Any, user: Any, messageID: str) -> Deferred:
        d = self.reader.find(user.name, messageID)

        def found(stored: Any) -> Deferred:
            detail = self.reader.detail(user.name, stored)
            if not stored.seen:
                detail.addCallback(
                    lambda shown: self.reader.store.markSeen(user.name, [messageID]).addCallback(lambda _: shown))
            return detail

        d.addCallback(found)
        return d.addCallback(lambda detail: self._messagePage(request, user, detail))

    def _messagePage(self, request: Any, user: Any, detail: dict[str, Any]) -> bytes:
        messageID = detail["id"]
        wantText = (request.args.get(b"view") or [b""])[0] == b"text"
        rows = "".join(f"<dt>{label}</dt><dd>{esc(detail[key] or '-')}</dd>"
                       for label, key in (("From", "from"), ("To", "to")))
        rows += f'<dt>Date</dt><dd><time datetime="{esc(detail["date"])}">{esc(_when(detail["date"]))}</time></dd>'
        html, text = detail.get("html"), detail.get("text")
        switch = ""
        if html is not None and text is not None:
            switch = (f'<a href="/inbox/{esc(messageID)}">HTML</a>' if wantText
                      else f'<a href="/inbox/{esc(messageID)}?view=text">Plain text</a>')
        if html is not None and not (wantText and text is not None):
            shown = (f'<iframe class="body" title="Message" sandbox="" referrerpolicy="no-referrer" '
                     f'srcdoc="{esc(FRAME_POLICY + html)}"></iframe>')
        elif text is not None:
            plain = text.replace("\r\n", "\n")
            shown = f'<pre class="body">{esc(plain)}</pre>'
        else:
            shown = '<p class="empty">This message has no text to show; download it to read it.</p>'
        attachments = detail.get("attachments") or []
        listed = ""
        if attachments:
            items = "".join(f'<li>{esc(item["filename"] or "(unnamed)")} '
                            f'<span class="muted">{esc(item["content_type"])}, {esc(formatSize(item["size"]))}</span></li>'
                            for item in attachments)
            listed = f'<h2>Attachments</h2><ul class="attachments">{items}</ul>'
        body = (f'<h1 class="subject">{esc(detail["subject"] or "(no subject)")}</h1>'
                f'<dl class="headers">{rows}</dl>'
                f'<div class="actions"><a href="/inbox">Back to the inbox</a>'
                f'<a href="/inbox/{esc(messageID)}/raw" download>Download raw</a>{switch}'
                f'<form method="post" action="/inbox/{esc(messageID)}/delete" class="inline">{csrfField(request)}'
                f'<button type="submit" class="danger" id="delete">Delete</button></form></div>'
                f'{shown}{listed}')
        return layout(request, detail["subject"] or "(no subject)", body, user, current="/inbox")

    def raw(self, request: Any, user: Any, messageID: str) -> Deferred:
        d = self.reader.raw(user.name, messageID)

        def download(octets: bytes) -> None:
            request.setHeader(b"Content-Disposition", b'attachment; filename="%s.eml"' % messageID.encode("ascii"))
            writeBody(request, 200, b"message/rfc822", octets)

        return d.addCallback(download)
