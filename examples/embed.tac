# -*- test-case-name: tests.test_examples -*-
"""
The suite embedded next to a small twisted.web site in one process:

    twistd -n -y examples/embed.tac

The web page shows how many messages each user has; mail sent to
alice@example.test on port 2525 shows up there.  The config is built in code
and the users live in memory: no YAML file, no users file.

Environment (optional): EMBED_DATA (data folder, default ./embed-data),
EMBED_WEB / EMBED_SMTP / EMBED_POP3 (endpoint strings; defaults tcp:8080,
tcp:2525, tcp:1110 on 127.0.0.1).
"""
import html
import os

from twisted.application import service, strports
from twisted.internet import defer
from twisted.web import resource, server

from twisted_mail_suite.config import configFromDict
from twisted_mail_suite.identity.passwd import InMemoryUsers
from twisted_mail_suite.service import makeService

config = configFromDict({
    "hostname": "embedded.example.test",
    "domains": ["example.test"],
    "data_dir": os.environ.get("EMBED_DATA", "./embed-data"),
    "smtp": {"listen": [os.environ.get("EMBED_SMTP", "tcp:2525:interface=127.0.0.1")]},
    "submission": {"listen": []},
    "pop3": {"listen": [os.environ.get("EMBED_POP3", "tcp:1110:interface=127.0.0.1")]},
    "chat": {"listen": []},
    "imap": {"listen": []},
})
users = InMemoryUsers({"alice": "secret", "bob": "hunter2"})
mail = makeService(config, users=users)


class Mailboxes(resource.Resource):
    isLeaf = True

    def render_GET(self, request):
        request.setHeader(b"content-type", b"text/html; charset=utf-8")
        names = users.names()

        def page(listings):
            rows = "".join(f"<li>{html.escape(name)}: {len(messages) if ok else '?'}</li>"
                           for name, (ok, messages) in zip(names, listings))
            request.write(f"<!doctype html><title>mailboxes</title><ul>{rows}</ul>".encode("utf-8"))
            request.finish()

        # The store answers with Deferreds (a database store would too).
        listings = [mail.store.listMessages(name) for name in names]
        defer.DeferredList(listings, consumeErrors=True).addCallback(page)
        return server.NOT_DONE_YET


application = service.Application("embedded-mailsuite")
mail.setServiceParent(application)
web = strports.service(os.environ.get("EMBED_WEB", "tcp:8080:interface=127.0.0.1"), server.Site(Mailboxes()))
web.setServiceParent(application)
