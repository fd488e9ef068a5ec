# -*- test-case-name: tests.net.test_budget -*-
"""
Tests for the process-wide connection budget of
L{twisted_mail_suite.net.admission}: shared by every registry, sized at
start from C{RLIMIT_NOFILE}, refusing limits the process cannot hold.
"""
from __future__ import annotations

import resource

from twisted.trial.unittest import SynchronousTestCase

from twisted_mail_suite.errors import ConfigError
from twisted_mail_suite.net.admission import (
    RESERVED_FILES, BudgetError, ConnectionBudget, ConnectionRegistry, Refusal, Share, Ticket, raiseFileLimit,
)

DEFAULTS = [Share("smtp.max_connections", 100), Share("submission.max_connections", 100),
            Share("pop3.max_connections", 100), Share("chat.max_connections", 150, files=0)]


class SharedBudgetTests(SynchronousTestCase):
    """
    Registries sharing a budget refuse newcomers once it is spent,
    whichever registry holds the connections.
    """

    def test_spentBudgetRefusesEveryRegistry(self) -> None:
        """
        With the budget spent by one registry, another refuses with BUSY
        (its protocol's polite "too many connections") and counts nothing.
        """
        budget = ConnectionBudget(2)
        chat, smtp = ConnectionRegistry(0, 0, budget), ConnectionRegistry(0, 0, budget)
        chat.admit("192.0.2.1", object())
        chat.admit("192.0.2.2", object())
        self.assertIs(smtp.admit("192.0.2.3", object()), Refusal.BUSY)
        self.assertEqual((smtp.connections, budget.used), (0, 2))

    def test_releaseGivesBack(self) -> None:
        """
        A released ticket gives its place back to every registry.
        """
        budget = ConnectionBudget(1)
        chat, smtp = ConnectionRegistry(0, 0, budget), ConnectionRegistry(0, 0, budget)
        ticket = chat.admit("192.0.2.1", object())
        assert isinstance(ticket, Ticket)
        ticket.release()
        ticket.release()
        self.assertEqual(budget.used, 0)
        self.assertIsInstance(smtp.admit("192.0.2.1", object()), Ticket)

    def test_addressCheckedFirst(self) -> None:
        """
        An address over its own limit is told so (ADDRESS) and takes
        nothing from the budget.
        """
        budget = ConnectionBudget(5)
        registry = ConnectionRegistry(0, 1, budget)
        registry.admit("192.0.2.1", object())
        self.assertIs(registry.admit("192.0.2.1", object()), Refusal.ADDRESS)
        self.assertEqual(budget.used, 1)

    def test_unlimited(self) -> None:
        """
        A budget of 0 (not sized yet) refuses nothing.
        """
        budget = ConnectionBudget()
        registry = ConnectionRegistry(0, 0, budget)
        for n in range(100):
            self.assertIsInstance(registry.admit(f"192.0.2.{n}", object()), Ticket)


class FitTests(SynchronousTestCase):
    """
    L{ConnectionBudget.fit}: what the file descriptors hold.
    """

    def test_defaultsFitSmallestLimit(self) -> None:
        """
        The default limits of every protocol fit in 1,024 descriptors (a
        hard limit some systems keep); the budget is what is left after
        the process's own descriptors and a message file for each SMTP and
        POP3 connection.
        """
        budget = ConnectionBudget()
        self.assertEqual(budget.fit(DEFAULTS, 0, 1024), 1024 - RESERVED_FILES - 300)
        self.assertEqual(budget.limit, 1024 - RESERVED_FILES - 300)

    def test_limitsBeyondDescriptors(self) -> None:
        """
        Limits that add up to more than the descriptors hold are a config
        error naming the limits and what to do.
        """
        shares = DEFAULTS[:3] + [Share("chat.max_connections", 20000, files=0)]
        error = self.assertRaises(BudgetError, ConnectionBudget().fit, shares, 0, 1024)
        self.assertIsInstance(error, ConfigError)
        self.assertEqual(error.key, "chat.max_connections")
        self.assertIn("add up to 20300", str(error))
        self.assertIn("ulimit -n", str(error))

    def test_requestedBeyondDescriptors(self) -> None:
        """
        An explicit process budget the descriptors cannot hold is refused.
        """
        error = self.assertRaises(BudgetError, ConnectionBudget().fit, DEFAULTS, 5000, 1024)
        self.assertEqual(error.key, "max_connections")

    def test_requestedBelowLimits(self) -> None:
        """
        An explicit budget smaller than the protocols' limits added up is
        refused: one protocol could starve the others.
        """
        error = self.assertRaises(BudgetError, ConnectionBudget().fit, DEFAULTS, 400, 100_000)
        self.assertEqual(error.key, "max_connections")

    def test_requested(self) -> None:
        """
        An explicit budget that fits is the budget.
        """
        self.assertEqual(ConnectionBudget().fit(DEFAULTS, 500, 100_000), 500)

    def test_unlimitedProtocolsShareWhatIsLeft(self) -> None:
        """
        A protocol without a limit of its own (0) is bounded by the budget;
        if it may hold a message file per connection, every connection is
        counted for two descriptors.
        """
        self.assertEqual(ConnectionBudget().fit([Share("chat.max_connections", 0, files=0)], 0, 20000),
                         20000 - RESERVED_FILES)
        self.assertEqual(ConnectionBudget().fit([Share("smtp.max_connections", 0)], 0, 20000),
                         (20000 - RESERVED_FILES) // 2)

    def test_noFileLimit(self) -> None:
        """
        Where the system has no file limit to read, only an explicit
        budget bounds the connections.
        """
        self.assertEqual(ConnectionBudget().fit(DEFAULTS, 0, -1), 0)
        self.assertEqual(ConnectionBudget().fit(DEFAULTS, 2000, -1), 2000)

    def test_tinyLimit(self) -> None:
        """
        A file limit that leaves no room for connections is refused.
        """
        self.assertRaises(BudgetError, ConnectionBudget().fit, [], 0, RESERVED_FILES)


class RaiseFileLimitTests(SynchronousTestCase):
    """
    L{raiseFileLimit} raises the soft limit to the hard one.
    """

    def test_raised(self) -> None:
        """
        The soft limit becomes the hard one.
        """
        limits = {resource.RLIMIT_NOFILE: (1024, 65536)}

        def setrlimit(which: int, value: tuple[int, int]) -> None:
            limits[which] = value

        self.assertEqual(raiseFileLimit(limits.__getitem__, setrlimit), (65536, 65536))

    def test_cannotRaise(self) -> None:
        """
        Where the system refuses (macOS below an unlimited hard limit), the
        soft limit stays and is used.
        """
        def setrlimit(which: int, value: tuple[int, int]) -> None:
            raise ValueError("not allowed")

        self.assertEqual(raiseFileLimit(lambda which: (256, resource.RLIM_INFINITY), setrlimit),
                         (256, resource.RLIM_INFINITY))

    def test_unlimitedHardLimit(self) -> None:
        """
        Under an unlimited hard limit (macOS), the soft limit goes as high
        as the system takes.
        """
        limits = {resource.RLIMIT_NOFILE: (256, resource.RLIM_INFINITY)}

        def setrlimit(which: int, value: tuple[int, int]) -> None:
            if value[0] > 10240:
                raise ValueError("beyond kern.maxfilesperproc")
            limits[which] = value

        self.assertEqual(raiseFileLimit(limits.__getitem__, setrlimit), (10240, resource.RLIM_INFINITY))

    def test_alreadyRaised(self) -> None:
        """
        Nothing is set when soft and hard are equal.
        """
        def setrlimit(which: int, value: tuple[int, int]) -> None:
            raise AssertionError("not called")

        self.assertEqual(raiseFileLimit(lambda which: (4096, 4096), setrlimit), (4096, 4096))
