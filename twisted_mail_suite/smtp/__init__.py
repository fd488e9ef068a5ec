# -*- test-case-name: tests.smtp -*-
"""
The ESMTP server (RFC 5321, 1870, 2920, 3207, 4954, 6152, 6531), bottom up:

  - C{session}: the session state machine (no I/O), declared once as a
    transition table: built as an automat machine and as the dict per
    input the protocol runs.
  - C{address}: MAIL/RCPT argument parsing; C{data}: the DATA text
    (end, dot-stuffing, limits) and the message writer.
  - C{delivery}: L{ISMTPDelivery} and our avatar, C{LocalDelivery};
    C{adapter}: an embedder's Twisted C{IMessageDelivery} at the edge.
  - C{auth}: AUTH's replies to the shared SASL and login outcomes.
  - C{wire}: the framing (lines, DATA handoff, pipelining order,
    pause/resume of reading, the chassis's busy and idle bookkeeping).
  - C{connection}: one connection on the chassis (admission, lifecycle,
    shutdown, timeouts) and the replies; C{protocol}: the verb table.
  - C{factory}: C{makeFactory(parts, role)}, the registry's maker;
    C{avatars}: the delivery avatar, registered with the realm.
"""
from __future__ import annotations
