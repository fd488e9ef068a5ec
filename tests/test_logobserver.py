# -*- test-case-name: tests.test_logobserver -*-
"""
The suite's log observer writes what twistd's default observer writes, and
C{twistd mailsuite} uses it unless told otherwise.
"""
from __future__ import annotations

import io
import os
import signal
import sys
from typing import Any

from twisted.logger import (FileLogObserver, Logger, LogLevel, LogPublisher, eventAsJSON, eventFromJSON,
                            formatEventAsClassicLogText, textFileLogObserver)
from twisted.python.failure import Failure
from twisted.python.logfile import LogFile
from twisted.scripts.twistd import ServerOptions
from twisted.trial.unittest import SynchronousTestCase

from twisted_mail_suite.logobserver import ClassicLogFormat, TwistdLogger, classicLogObserver, twistdLogger

NOW = 1796090118.25     # 2026-12-01T01:55:18 UTC


class Thing:
    name = "thing"

    def __repr__(self) -> str:
        return "<Thing>"


def failed() -> Failure:
    try:
        1 / 0
    except ZeroDivisionError:
        return Failure()
    raise AssertionError("unreachable")


def events() -> list[dict[str, Any]]:
    base = {"log_time": NOW, "log_level": LogLevel.info, "log_namespace": "twisted_mail_suite.smtp.protocol"}
    formats: list[Any] = [
        "{peer}: {count} messages accepted", "plain text", "{thing.name} {thing!r} {count:04d} {{braces}}",
        "{items[1]}", "{call()}", "{missing}", "{}", "two\nlines {peer}", b"bytes {peer}", 7, "", None,
    ]
    values = {"peer": "127.0.0.1", "count": 3, "thing": Thing(), "items": ["a", "b"], "call": lambda: "called"}
    result = [{**base, **values, "log_format": fmt} for fmt in formats]
    result += [
        {**base, **values, "log_format": "no level", "log_level": None},
        {**values, "log_format": "bare event"},
        {**base, **values, "log_format": "{peer}", "log_system": "custom"},
        {**base, **values, "log_format": "{peer}", "log_system": 42},
        {**base, **values, "log_format": "{peer}", "log_namespace": "multi\nline"},
        {**base, **values, "log_format": "boom {peer}", "log_failure": failed()},
        {**base, **values, "log_format": "", "log_failure": failed()},
        {**base, **values, "log_format": "{peer}", "log_time": None},
    ]
    result.append(eventFromJSON(eventAsJSON(result[0])))        # flattened (log_flattened)
    return result


class FormatTests(SynchronousTestCase):
    def test_sameAsTwisted(self) -> None:
        """
        Every kind of event (fields, conversions, attribute and index
        access, Twisted's call syntax, unformattable formats, no format,
        tracebacks, systems, odd times) is formatted as
        C{formatEventAsClassicLogText} formats it.
        """
        fmt = ClassicLogFormat()
        for event in events():
            self.assertEqual(fmt(event), formatEventAsClassicLogText(event), event.get("log_format"))

    def test_timeStamps(self) -> None:
        """
        Events in the same second and in the following ones get Twisted's
        time stamps, whatever the order.
        """
        fmt = ClassicLogFormat()
        for when in (NOW, NOW + 0.5, NOW + 0.76, NOW + 1, NOW - 3600.9, NOW + 86400 * 180, 0.0, NOW):
            event = {"log_time": when, "log_format": "x", "log_namespace": "n", "log_level": LogLevel.warn}
            self.assertEqual(fmt(event), formatEventAsClassicLogText(event), when)

    def test_observerWritesTheSame(self) -> None:
        """
        Through a publisher and a logger, the observer writes what
        C{textFileLogObserver} writes.
        """
        ours, theirs = io.StringIO(), io.StringIO()
        publisher = LogPublisher(classicLogObserver(ours), textFileLogObserver(theirs))
        log = Logger(namespace="mailsuite.test", observer=publisher)
        log.info("{peer}: {count} messages accepted", peer="::1", count=2)
        log.warn("Refused {peer}: {why}", peer="192.0.2.7", why="too many connections")
        log.failure("Unexpected error for {peer}", failed(), peer="192.0.2.7")
        self.assertEqual(ours.getvalue(), theirs.getvalue())
        self.assertIn("[mailsuite.test#info] ::1: 2 messages accepted\n", ours.getvalue())


class FactoryTests(SynchronousTestCase):
    def test_stdoutWithoutDaemon(self) -> None:
        """
        C{-n} without C{-l}, or C{-l -}: standard output, as twistd would.
        """
        out = io.StringIO()
        self.patch(sys, "stdout", out)
        for options in ({"nodaemon": True, "logfile": None}, {"nodaemon": True, "logfile": "-"}):
            factory = TwistdLogger()
            self.assertTrue(factory.use(options))
            observer = factory()
            self.assertIsInstance(observer, FileLogObserver)
            observer({"log_format": "hello", "log_time": NOW, "log_namespace": "n", "log_level": LogLevel.info})
        self.assertEqual(out.getvalue().count("[n#info] hello\n"), 2)

    def test_logFile(self) -> None:
        """
        C{-l FILE}: twistd's rotating log file at that path.
        """
        path = os.path.abspath(self.mktemp())
        factory = TwistdLogger()
        self.assertTrue(factory.use({"nodaemon": False, "logfile": path}))
        self.addCleanup(signal.signal, signal.SIGUSR1, signal.getsignal(signal.SIGUSR1))
        observer = factory()
        observer({"log_format": "to the file", "log_time": NOW, "log_namespace": "n", "log_level": LogLevel.info})
        self.assertIsInstance(factory.logFile, LogFile)
        assert factory.logFile is not None
        self.addCleanup(factory.logFile.close)
        with open(path) as f:
            self.assertTrue(f.read().endswith(" [n#info] to the file\n"))

    def test_rotateAtSIGUSR1(self) -> None:
        """
        SIGUSR1 rotates the log file (in the reactor thread), as twistd's
        own log file is rotated; a handler already there is left alone.
        """
        self.addCleanup(signal.signal, signal.SIGUSR1, signal.getsignal(signal.SIGUSR1))
        signal.signal(signal.SIGUSR1, signal.SIG_DFL)
        path = os.path.abspath(self.mktemp())
        factory = TwistdLogger()
        calls: list = []
        factory.reactor = type("Reactor", (), {"callFromThread": lambda self, f: (calls.append(f), f())})()
        self.assertTrue(factory.use({"nodaemon": False, "logfile": path}))
        observer = factory()
        assert factory.logFile is not None
        self.addCleanup(factory.logFile.close)
        observer({"log_format": "before", "log_time": NOW, "log_namespace": "n", "log_level": LogLevel.info})
        handler = signal.getsignal(signal.SIGUSR1)
        self.assertTrue(callable(handler))
        handler(signal.SIGUSR1, None)               # type: ignore[operator]
        self.assertEqual(len(calls), 1)
        observer({"log_format": "after", "log_time": NOW, "log_namespace": "n", "log_level": LogLevel.info})
        with open(path + ".1") as f:
            self.assertTrue(f.read().endswith(" [n#info] before\n"))
        with open(path) as f:
            self.assertTrue(f.read().endswith(" [n#info] after\n"))

        def mine(signum, frame):  # type: ignore[no-untyped-def]
            pass
        signal.signal(signal.SIGUSR1, mine)
        TwistdLogger.rotateOnSignal(factory, factory.logFile)
        self.assertIs(signal.getsignal(signal.SIGUSR1), mine)

    def test_twistdDecides(self) -> None:
        """
        An explicit C{--logger}, C{--syslog}, or a daemon told to log to
        standard output (which twistd refuses): twistd's own choice.
        """
        for options in ({"logger": print}, {"syslog": True}, {"logfile": "-", "nodaemon": False}):
            self.assertFalse(TwistdLogger().use(options), options)


class TwistdTests(SynchronousTestCase):
    def test_mailsuiteLogger(self) -> None:
        """
        C{twistd -n mailsuite} logs through the suite's observer (twistd's
        C{logger} option); an explicit C{--logger} is kept.
        """
        self.addCleanup(twistdLogger.__init__)
        config = ServerOptions()
        config.parseOptions(["-n", "mailsuite", "--config", "none"])
        self.assertIs(config["logger"], twistdLogger)
        out = io.StringIO()
        self.patch(sys, "stdout", out)
        observer = config["logger"]()
        observer({"log_format": "hello", "log_time": NOW, "log_namespace": "n", "log_level": LogLevel.info})
        self.assertTrue(out.getvalue().endswith(" [n#info] hello\n"))

        explicit = ServerOptions()
        explicit.parseOptions(["-n", "--logger", "twisted_mail_suite.logobserver.ClassicLogFormat",
                               "mailsuite", "--config", "none"])
        self.assertIs(explicit["logger"], ClassicLogFormat)
