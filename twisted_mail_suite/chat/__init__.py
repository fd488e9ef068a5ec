# -*- test-case-name: tests.chat -*-
"""
The chat room: C{commands} (a line -> a command value), C{room} (rooms,
names, broadcast; no I/O), C{lines} (the wire format), C{limits},
C{output} and C{protocol} (the Twisted side), C{client} (C{mailsuite-chat}),
C{avatars} (the chat user avatar, registered with the realm), C{offline}
(a private message to an offline user becomes mail).
"""
from __future__ import annotations
