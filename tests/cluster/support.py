# -*- test-case-name: tests.cluster.test_client -*-
"""
A real, private C{redis-server} per test (skipped, with the reason, where
Debian's C{redis-server} is not installed), and a wait for a condition on
the reactor without sleeping in the test.
"""
from __future__ import annotations

from typing import Any, Callable

from twisted.internet import defer, reactor, task
from twisted.trial.unittest import SkipTest

from twisted_mail_suite.testing.redisserver import RedisServer, redisServerPath


def startRedis(testCase: Any) -> RedisServer:
    """
    Start a private redis-server for C{testCase}, stopped by its PID at
    clean-up.
    """
    if redisServerPath() is None:
        raise SkipTest("redis-server is not installed (apt-get install redis-server)")
    server = RedisServer().start()
    testCase.addCleanup(server.close)
    return server


@defer.inlineCallbacks
def eventually(condition: Callable[[], Any], timeout: float = 10.0, step: float = 0.02) -> Any:
    """
    Poll C{condition} on the reactor until it is true (its value is the
    result) or C{timeout} passes (then fail).
    """
    waited = 0.0
    while True:
        value = condition()
        if value:
            return value
        if waited >= timeout:
            raise AssertionError(f"not true within {timeout} s: {condition!r}")
        yield task.deferLater(reactor, step, lambda: None)
        waited += step
