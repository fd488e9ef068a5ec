# -*- test-case-name: tests.imap -*-
"""
IMAP (RFC 9051 IMAP4rev2 and RFC 3501 IMAP4rev1) on the shared portal,
failed-login policy and Maildir store.

  - L{parser}: framing (lines, literals, limits), free of I/O;
  - L{grammar}: tokens, sequence sets, dates, free of I/O;
  - L{session}: the state machine, free of I/O;
  - L{connection}: a connection on the chassis (admission, idle timeout,
    drain, pacing) with its command queue;
  - L{protocol}: commands -> session inputs -> handlers;
  - L{factory}: C{makeFactory(parts, role)}; L{avatars}: C{register}.
"""
from __future__ import annotations
