# -*- test-case-name: tests.pop3 -*-
"""
The POP3 server (RFC 1939, 2449, 2595, 5034): C{session} (the state
machine, no I/O), C{protocol} (bytes <-> session inputs, the factory the
service uses), C{stream} (stored message -> RETR/TOP wire form, chunk by
chunk), C{mailbox} (Twisted's C{IMailbox} over the mail store), C{locks}
(one session per maildrop) and C{avatars} (the mailbox avatar, registered
with the realm).
"""
from __future__ import annotations
