# -*- test-case-name: tests.test_pytest_plugin -*-
"""
The Deferred-API fixture asked for without pytest-twisted active (run with
C{-p no:twisted} by L{tests.test_pytest_plugin}): a clear failure, no hang.
"""
from __future__ import annotations

from typing import Any


def test_needsPytestTwisted(mailsuite_twisted: Any) -> None:
    raise AssertionError("not reached")
