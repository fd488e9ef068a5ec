# -*- test-case-name: tests.http -*-
"""
The HTTP listener (DESIGN.md "HTTP: web pages, JSON API, metrics";
docs/http-api.md): one twisted.web C{Site} on the house's connection
chassis serving C{/metrics}, the JSON API under C{/api/v1/}, the login
form and the web pages.

  - L{factory}: C{HTTPFactory} (the Site: admission, idle timeouts, the
    drain) and C{makeFactory}, the registry's maker; C{HTTPFactory.mount}
    adds a resource (the web pages, the harness's fault switches).
  - L{channel}: the connection (request limits: header size, body size,
    slow clients) and the request (security headers on every response).
  - L{replies}: JSON bodies, C{HTTPError} and the security headers.
  - L{auth}: who is logged in (HTTP Basic, or the session cookie of the
    login form), CSRF tokens: the API the web pages use.
  - L{sessions}, L{login}, L{avatars}: cookie sessions, C{/login} and
    C{/logout}, the realm's C{IWebUser} avatar.
  - L{endpoint}: C{Endpoint}, a resource answering JSON through C{auth}.
  - L{api}, L{mail}, L{wait}, L{adminapi}: the endpoints.
  - L{metrics}: C{/metrics}.

It imports no other protocol: what it needs of them (the queue's
commands, who is online) comes through L{twisted_mail_suite.registry.SuiteParts}.
"""
from __future__ import annotations
