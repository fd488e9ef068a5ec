# -*- test-case-name: tests.relay -*-
"""
Outbound delivery (docs/relay.md): the durable queue (L{queue}), the
retry state machine (L{scheduler}), MX resolution (L{mx}), the SMTP
client (L{session} without I/O, L{client}, L{connector}, L{pool},
L{dispatch}), bounces (L{dsn}), DKIM signing (L{dkim}), the operator's
control socket (L{control}) and the service tying them together
(L{service}).  A protocol-level package: it imports the seams below it
(delivery, the bottom layer, config), never another protocol.
"""
from __future__ import annotations
