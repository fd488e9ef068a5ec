# -*- test-case-name: tests.chat.test_flood -*-
"""
Tests for L{twisted_mail_suite.chat.flood}: the budget one address's
connections share (lines, and the bytes their broadcasts cost), and the
slow-reader rule under a flood: a member that reads is never dropped for
someone else's flood, while the flooders are throttled and disconnected.
All on C{StringTransport}s and the fake suite's clock.
"""
from __future__ import annotations

from twisted.trial.unittest import SynchronousTestCase

from twisted_mail_suite.config import ChatConfig, configFromDict
from twisted_mail_suite.errors import ConfigError

from .support import Client, PacedTransport, chatSuite

FLOODER = "192.0.2.66"


class FloodTestCase(SynchronousTestCase):
    chatConfig: dict = {}
    # The flood comes over many connections from one address: admit them
    # all (the per-address connection limit is tested elsewhere).
    connectionLimits = {"max_connections": 1000, "max_connections_per_ip": 1000}

    def setUp(self) -> None:
        self.suite, self.factory = chatSuite(self, **{**self.connectionLimits, **self.chatConfig})
        self.clock = self.suite.reactor

    def connect(self, host: str = "127.0.0.1", transport: object = None) -> Client:
        client = Client(self.factory, host, transport)    # type: ignore[arg-type]
        client.lines()
        return client


class AddressBudgetTests(FloodTestCase):
    """
    One address's connections share one line budget (by default twice a
    connection's: 20 lines a second, 60 saved up).
    """

    def test_shared(self) -> None:
        """
        100 connections from one address, one line each: the address's
        burst of 60 is relayed, the other 40 are refused with an error.
        """
        member = self.connect()
        flooders = [self.connect(FLOODER) for _ in range(100)]
        member.lines()
        for flooder in flooders:
            flooder.lines()
        for i, flooder in enumerate(flooders):
            flooder.send(f"line {i}")
        self.assertEqual(len([line for line in member.lines() if line.startswith("[#lobby]")]), 60)
        errors = [[line for line in flooder.lines() if line.startswith("!!!")] for flooder in flooders]
        self.assertEqual(errors, [[]] * 60 + [
            ["!!! slow down: more than 20 lines a second from your address; line dropped"]] * 40)

    def test_otherAddressesUnaffected(self) -> None:
        """
        Another address has its own budget.
        """
        member = self.connect()
        flooders = [self.connect(FLOODER) for _ in range(70)]
        other = self.connect("198.51.100.7")
        member.lines()
        for flooder in flooders:
            flooder.send("spam")
        other.send("hello")
        self.assertEqual(member.lines()[-1], "[#lobby] guest-72: hello")

    def test_refills(self) -> None:
        """
        The budget refills at the address's rate.
        """
        member = self.connect()
        flooders = [self.connect(FLOODER) for _ in range(61)]
        for flooder in flooders:
            flooder.send("spam")
        member.lines()
        self.clock.advance(0.5)                    # ten lines' worth
        for flooder in flooders[:12]:
            flooder.send("again")
        self.assertEqual(len(member.lines()), 10)

    def test_ipv6Prefix(self) -> None:
        """
        IPv6 clients of one /64 share a budget; another /64 has its own.
        """
        member = self.connect()
        flooders = [self.connect(f"2001:db8:0:1::{i:x}") for i in range(1, 61)]
        for flooder in flooders:
            flooder.send("spam")
        neighbour, elsewhere = self.connect("2001:db8:0:1::ffff"), self.connect("2001:db8:0:2::1")
        member.lines(), neighbour.lines()
        neighbour.send("same /64")
        self.assertEqual(neighbour.lines(), ["!!! slow down: more than 20 lines a second from your address; line dropped"])
        elsewhere.send("other /64")
        self.assertEqual(member.lines(), ["[#lobby] guest-63: other /64"])

    def test_keptAcrossReconnects(self) -> None:
        """
        Reconnecting does not refill a spent budget; a budget with no
        connection is forgotten once it is full again.
        """
        flooders = [self.connect(FLOODER) for _ in range(61)]
        for flooder in flooders:
            flooder.send("spam")
            flooder.disconnect()
        again = self.connect(FLOODER)
        again.send("spam")
        self.assertEqual(again.lines(), ["!!! slow down: more than 20 lines a second from your address; line dropped"])
        again.disconnect()
        self.assertEqual(len(self.factory.budgets), 1)
        self.clock.advance(10)
        self.connect("198.51.100.7").send("hi")
        self.assertEqual(len(self.factory.budgets), 1)     # the new address's only


class FlooderDisconnectTests(FloodTestCase):
    """
    Connections that keep sending past their address's budget are
    disconnected for flooding, each after C{burst} dropped lines in a row.
    """

    chatConfig = {"lines_per_second": 10, "burst": 5}

    def test_disconnected(self) -> None:
        """
        Past the shared budget, each flooder is closed; the member is not.
        """
        member = self.connect()
        flooders = [self.connect(FLOODER) for _ in range(20)]
        for _ in range(6):
            for flooder in flooders:
                flooder.send("spam")
        closed = [flooder for flooder in flooders if flooder.closing]
        self.assertEqual(len(closed), 10)          # the 10 lines of the burst went to the other 10
        self.assertEqual(closed[0].lines()[-1], "!!! flooding; disconnecting")
        self.assertFalse(member.closing)


class ByteBudgetTests(FloodTestCase):
    """
    The address's byte budget is charged a line's size times the members
    it reaches; once it is spent, the address's lines are dropped until it
    is paid back.
    """

    chatConfig = {"lines_per_second": 0, "address_bytes_per_second": 1000, "address_bytes_burst": 2000}

    def test_chargedPerRecipient(self) -> None:
        """
        Two 600-byte lines to two members spend the 2000 bytes; the third
        is refused, and a second later the address may talk again.
        """
        ann, ben, cat = self.connect(), self.connect(), self.connect()
        ann.lines(), ben.lines()
        text = "x" * 600
        ann.send(text, text, text)
        self.assertEqual(len(ben.lines()), 2)
        self.assertEqual(ann.lines(), ["!!! slow down: too much chat from your address; line dropped"])
        self.clock.advance(1)
        ann.send("back")
        self.assertEqual(cat.lines()[-1], "[#lobby] guest-1: back")

    def test_aloneCostsNothing(self) -> None:
        """
        A line nobody else hears costs nothing.
        """
        ann = self.connect()
        ann.send(*["x" * 600] * 10)
        self.assertEqual(ann.lines(), [])


class SlowReaderUnderFloodTests(FloodTestCase):
    """
    A member that reads is never dropped as a slow reader for what
    flooders sent: the flooders are throttled and disconnected first.
    """

    chatConfig = {"max_line_length": 4096}

    def test_pacedMemberSurvivesFlood(self) -> None:
        """
        100 flooders from one address, each inside its own line limit (a
        burst of 30 lines of 4000 bytes, then 9.5 lines a second) for ten
        seconds; a member reading 40 KiB every 100 ms (400 KiB/s) is not
        dropped; the flooders are disconnected for flooding, but for the
        two that the address's 20 lines a second still cover.
        """
        member = self.connect(transport=PacedTransport())
        flooders = [self.connect(FLOODER) for _ in range(100)]
        member.transport.read(10 ** 6)
        text = "x" * 4000
        sent = [0] * 100
        for tick in range(100):
            due = 30 + int(tick * 0.95)
            for i, flooder in enumerate(flooders):
                if not flooder.closing and sent[i] < due:
                    flooder.send(*[text] * (due - sent[i]))
                    sent[i] = due
                flooder.transport.clear()              # the flooders read everything
            member.transport.read(40 * 1024)
            self.clock.advance(0.1)
        self.assertFalse(member.transport.aborted)
        self.assertFalse(member.closing)
        self.assertLessEqual(len([flooder for flooder in flooders if not flooder.closing]), 2)
        self.assertLess(member.transport.taken, 4 * 1024 * 1024)

    def test_shedNotDropped(self) -> None:
        """
        A member that does not read at all skips the lines of senders over
        their budget once it is half its bound behind (it is not dropped),
        and hears how many it missed once it catches up.
        """
        member = self.connect()
        flooders = [self.connect(FLOODER) for _ in range(60)]
        member.transport.drain()
        text = "y" * 4000
        for flooder in flooders:
            flooder.send(text)
        self.assertFalse(member.transport.aborted)
        pending = member.protocol.outputPending
        self.assertLessEqual(pending, self.factory.maxPending // 2)
        received = member.transport.drain().count(b"\n")
        self.assertEqual(member.lines(), [f"*** you missed {60 - received} lines from senders over their "
                                          "limit while you were behind"])

    def test_withinBudgetStillDropsNonReader(self) -> None:
        """
        Lines from senders within their budget are never skipped: a member
        that does not read them is dropped at its bound, as before.
        """
        self.suite, self.factory = chatSuite(self, max_pending_output="16KiB")
        self.clock = self.suite.reactor
        member = self.connect()
        talker = self.connect()
        for i in range(200):
            self.clock.advance(1)
            talker.send("z" * 900)
            if member.transport.aborted:
                break
        self.assertTrue(member.transport.aborted)


class ConfigTests(SynchronousTestCase):
    """
    The chat section's budget keys.
    """

    def test_derivedDefaults(self) -> None:
        """
        By default an address may send twice what one connection may;
        C{lines_per_second: 0} turns both line throttles off.
        """
        config = ChatConfig()
        self.assertEqual((config.addressLineRate, config.addressLineBurst), (20.0, 60))
        config = configFromDict({"chat": {"lines_per_second": 0}}).chat
        self.assertEqual(config.addressLineRate, 0)

    def test_explicit(self) -> None:
        """
        Explicit values win; sizes take units.
        """
        config = configFromDict({"chat": {"address_lines_per_second": 50, "address_burst": 5,
                                          "address_bytes_per_second": "1MiB", "address_ipv6_prefix": 48}}).chat
        self.assertEqual((config.addressLineRate, config.addressLineBurst, config.address_bytes_per_second,
                          config.address_ipv6_prefix), (50.0, 5, 1024 * 1024, 48))

    def test_badPrefix(self) -> None:
        """
        An IPv6 prefix outside 1..128 is a config error.
        """
        error = self.assertRaises(ConfigError, configFromDict, {"chat": {"address_ipv6_prefix": 129}}, "tap.yaml")
        self.assertIn("chat.address_ipv6_prefix", str(error))

    def test_offWhenZero(self) -> None:
        """
        Zero rates turn the address budget off altogether.
        """
        suite, factory = chatSuite(self, lines_per_second=0, address_bytes_per_second=0)
        self.assertFalse(factory.budgets.enabled)
