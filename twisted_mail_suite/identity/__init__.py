# -*- test-case-name: tests.identity -*-
"""
Who may log in, in one place, for every protocol: C{hashing} (password
schemes: libpass, bcrypt, argon2-cffi), C{entries} (one users-file line,
the one name normalisation), C{passwd} (the users file, read off the
reactor, and the one credentials checker), C{usersfile} (locked, atomic
rewrites for C{mailsuite-admin}), C{workers} (the bounded thread pool of
the password checks), C{policy} (failed-login policy, L{policy.LoginOutcome},
the per-connection L{policy.AuthSession}), C{sasl} (server-side PLAIN and
LOGIN, no I/O) and C{realm} (the one realm: a registry of avatar factories
each protocol package fills in, and the portal).

This package imports only the bottom layer (C{interfaces}, C{errors},
C{events}) and C{config}; never a protocol.
"""
from __future__ import annotations
