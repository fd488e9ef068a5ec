# -*- test-case-name: tests.test_testing -*-
"""
The suite in-process, for people who test code that sends mail or chats
(L{harness}), with its fault seams (L{faults}); and, for tests, scripts and
benchmarks that need a real C{twistd}, the one config writer
(L{configfile}) and the one child-process launcher (L{process}).

    harness = MailSuiteHarness(users={"alice": "secret"})
    yield harness.start()
    ...  # send mail to harness.address("alice") on 127.0.0.1:harness.smtpPort
    message = yield harness.waitForMessage(to="alice", subject="Welcome")
    yield harness.stop()
"""
from __future__ import annotations

from .harness import DeliveredMessage, MailSuiteHarness, MessageTimeout, startHarness

__all__ = ["MailSuiteHarness", "DeliveredMessage", "MessageTimeout", "startHarness"]
