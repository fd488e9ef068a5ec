# -*- test-case-name: tests.reliability -*-
"""
Reliability proofs (issue 7): crash safety under SIGKILL, fuzzed parsers,
load and faults, graceful shutdown, connection limits.  See
C{docs/reliability.md}.
"""
from __future__ import annotations
