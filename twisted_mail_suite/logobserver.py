# -*- test-case-name: tests.test_logobserver -*-
"""
The suite's log observer: the text twistd's default observer writes
(C{twisted.logger.textFileLogObserver}: C{"2026-12-01T01:55:18+0000
[namespace#info] text"}), line for line, for a fraction of its cost.

The default observer formats every event from scratch: its time stamp
through a new time zone object and C{strftime} (6 us), its text through
C{string.Formatter} (5 us).  That is most of the cost of an info line,
and a server logs one per SMTP connection (as Postfix logs its
C{disconnect from} line).  L{ClassicLogFormat} keeps the time stamp of
the current second, and formats an event's text with C{str.format_map}
where that gives the same text (else, and for events with a traceback,
it asks Twisted's own formatter).

L{twistdLogger} makes it twistd's observer for C{twistd mailsuite} through
twistd's public C{--logger} option (the C{mailsuite} options name it),
writing where twistd's own observer would (C{--logfile}, standard output
for C{-n}); an explicit C{--logger} or C{--syslog} wins.  Embedders keep their own observers: the
events are the same.
"""
from __future__ import annotations

import signal
import sys
from typing import Any, Mapping

from twisted.logger import FileLogObserver, ILogObserver, formatEventAsClassicLogText, formatTime
from twisted.python.logfile import LogFile
from twisted.python.runtime import platformType

__all__ = ["ClassicLogFormat", "TWISTD_LOGGER", "TwistdLogger", "classicLogObserver", "twistdLogger"]


class ClassicLogFormat:
    """
    C{formatEventAsClassicLogText(event)} with the default RFC 3339 time
    stamps, cheaper: a callable for L{FileLogObserver}.
    """

    __slots__ = ("_second", "_stamp")

    def __init__(self) -> None:
        self._second = -1
        self._stamp = ""

    def formatTime(self, when: float | None) -> str:
        """
        C{twisted.logger.formatTime(when)}: the stamp of a whole second
        (local time and offset) is computed once.
        """
        if when is None or not 0 <= when < 1e11:       # (also NaN): Twisted's way
            return formatTime(when)
        second = int(when)
        if second != self._second:
            self._stamp = formatTime(second)
            self._second = second
        return self._stamp

    def __call__(self, event: Mapping[str, Any]) -> str | None:
        text = event.get("log_format")
        if type(text) is not str or "()" in text or "log_failure" in event or "log_flattened" in event:
            return formatEventAsClassicLogText(event, formatTime=self.formatTime)
        try:
            text = text.format_map(event)
        except Exception:       # Twisted's formatter says why (or knows a syntax str.format does not)
            return formatEventAsClassicLogText(event, formatTime=self.formatTime)
        if not text:
            return None
        system = event.get("log_system")
        if system is None:
            level = event.get("log_level")
            system = f"{event.get('log_namespace', '-')}#{'-' if level is None else level.name}"
        elif type(system) is not str:
            return formatEventAsClassicLogText(event, formatTime=self.formatTime)
        line = f"{self.formatTime(event.get('log_time'))} [{system}] {text}"
        return (line.replace("\n", "\n\t") if "\n" in line else line) + "\n"


def classicLogObserver(outFile: Any) -> ILogObserver:
    """
    An observer writing what C{textFileLogObserver(outFile)} writes, with
    L{ClassicLogFormat}.
    """
    return FileLogObserver(outFile, ClassicLogFormat())


class TwistdLogger:
    """
    twistd's C{--logger} for C{twistd mailsuite} (twistd calls it with no
    arguments, after it read its options): L{classicLogObserver} on the
    file twistd's own observer would write to.  The C{mailsuite} options
    call L{use} with twistd's options and name L{twistdLogger} as its
    C{logger}.

    @ivar logfile: twistd's C{--logfile} (L{None}: none given).
    @ivar nodaemon: twistd's C{-n}.
    @ivar logFile: the L{LogFile} made by the last call, if it made one.
    @ivar reactor: where SIGUSR1's rotation runs (L{None}: the global
        reactor).
    """

    def __init__(self) -> None:
        self.logfile: str | None = None
        self.nodaemon = False
        self.logFile: LogFile | None = None
        self.reactor: Any = None

    def use(self, options: Mapping[str, Any]) -> bool:
        """
        Take twistd's parsed C{options}.

        @return: whether this is to be twistd's observer: not where twistd
            is to choose (an explicit C{--logger} or C{--syslog}, a daemon
            told to log to standard output (twistd refuses it), a platform
            other than POSIX).
        """
        logfile, nodaemon = options.get("logfile"), bool(options.get("nodaemon"))
        if options.get("logger") or options.get("syslog") or platformType != "posix" or (logfile == "-" and not nodaemon):
            return False
        self.logfile, self.nodaemon = logfile, nodaemon
        return True

    def __call__(self) -> ILogObserver:
        """
        On POSIX as twistd chooses: C{-l -} or C{-n} without C{-l}: standard
        output; else C{-l FILE} or C{twistd.log}, rotated as twistd rotates
        it (by size, and at SIGUSR1: L{rotateOnSignal}).
        """
        if self.logfile == "-" or (self.nodaemon and not self.logfile):
            return classicLogObserver(sys.stdout)
        self.logFile = logFile = LogFile.fromFullPath(self.logfile or "twistd.log")
        self.rotateOnSignal(logFile)
        return classicLogObserver(logFile)

    def rotateOnSignal(self, logFile: LogFile) -> None:
        """
        As twistd does for the log file it opens itself: unless something
        already handles SIGUSR1, that signal rotates C{logFile} (in the
        reactor thread), so that C{logrotate}'s usual C{kill -USR1} works.
        """
        if signal.getsignal(signal.SIGUSR1) not in (signal.SIG_DFL, None):
            return

        def rotate(signum: int, frame: Any) -> None:
            reactor = self.reactor
            if reactor is None:
                from twisted.internet import reactor
            reactor.callFromThread(logFile.rotate)

        signal.signal(signal.SIGUSR1, rotate)


twistdLogger = TwistdLogger()
TWISTD_LOGGER = f"{__name__}.twistdLogger"      # its name, for twistd's --logger
