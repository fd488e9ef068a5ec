# -*- test-case-name: tests.pop3 -*-
"""
The POP3 server (RFC 1939, 2449, 2595, 5034), bottom to top:

  - C{actions} and C{session}: the state machine and what it asks for (no
    I/O, nothing from Twisted); C{commands}: a line -> one session input.
  - C{stream}: a stored message -> the RETR/TOP wire form, chunk by chunk;
    C{retrieve}: opening a message for RETR/TOP; C{login}: credentials,
    the APOP timestamp, outcome -> reply, the maildrop listing.
  - C{mailbox}: Twisted's C{IMailbox} over the mail store; C{locks}: one
    session per maildrop; C{avatars}: the mailbox avatar, registered with
    the realm.
  - C{connection}: a connection on the chassis (admission, idle timeout,
    shutdown), its line framing, command queue and output pacing;
    C{protocol}: lines -> session inputs -> replies and I/O.
  - C{factory}: what the connections share, built by C{makeFactory} (the
    registry's entry) from explicit pieces.
"""
from __future__ import annotations
