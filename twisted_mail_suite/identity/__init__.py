# -*- test-case-name: tests.identity -*-
"""
Who may log in, in one place, for every protocol: C{hashing} (password
schemes), C{passwd} (the users file and the one credentials checker),
C{policy} (failed-login policy, L{policy.LoginOutcome}, the per-connection
L{policy.AuthSession}), C{sasl} (server-side PLAIN and LOGIN, no I/O) and
C{realm} (the one realm: a registry of avatar factories each protocol
package fills in, and the portal).

This package imports only the bottom layer (C{interfaces}, C{errors},
C{events}) and C{config}; never a protocol.
"""
from __future__ import annotations
