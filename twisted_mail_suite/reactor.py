# -*- test-case-name: tests.test_service -*-
"""
The one module that names Twisted's global reactor.  Everything else takes
its reactor and clock as arguments; this is where a caller that gave none
(C{twistd}, C{makeService(config)} in a .tac, the test harness) gets the
running process's reactor.
"""
from __future__ import annotations

from typing import Any


def globalReactor() -> Any:
    """
    The global reactor, installed on first use as Twisted does.
    """
    from twisted.internet import reactor

    return reactor
