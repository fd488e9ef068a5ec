# -*- test-case-name: tests.test_testing -*-
"""
The suite in-process, for people who test code that sends mail or chats:
L{ThreadedHarness} (blocking methods, its own reactor thread: smtplib,
Django, Flask, any plain test) and L{MailSuiteHarness} (Deferreds, on the
reactor trial or pytest-twisted runs), with their fault seams
(L{faults}); and, for tests, scripts and benchmarks that need a real
C{twistd}, the one config writer (L{configfile}) and the one child-process
launcher (L{process}).

    with ThreadedHarness() as mail:          # users alice and bob, passwords in mail.users
        ...  # send mail to mail.address("alice") on 127.0.0.1:mail.smtpPort
        message = mail.waitForMessage(to="alice", subject="Welcome", timeout=5)
"""
from __future__ import annotations

from .harness import DeliveredMessage, MailSuiteHarness, MessageTimeout, randomUsers, startHarness
from .outbound import OutboundMessage, OutboundTimeout
from .threaded import HarnessTimeout, ThreadedHarness

__all__ = ["MailSuiteHarness", "ThreadedHarness", "DeliveredMessage", "MessageTimeout", "HarnessTimeout",
           "OutboundMessage", "OutboundTimeout", "randomUsers", "startHarness"]
