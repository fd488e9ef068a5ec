# -*- test-case-name: tests.chat -*-
"""
The chat room: C{commands} (a line -> a command value), C{room} (rooms,
names, broadcast; no I/O), C{lines} (the wire format), C{limits} (the flood
throttle), C{protocol} (one client, on the connection chassis of
L{twisted_mail_suite.net}), C{factory} (the chat service and the registry's
C{makeFactory}), C{client} (C{mailsuite-chat}), C{avatars} (the chat user
avatar, registered with the realm).  A private message to a registered user
who is offline becomes mail (L{twisted_mail_suite.delivery.compose}).
"""
from __future__ import annotations
