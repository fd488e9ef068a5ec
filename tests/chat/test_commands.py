# -*- test-case-name: tests.chat.test_commands -*-
"""
Tests for L{twisted_mail_suite.chat.commands}: a line in, a command value out.
"""
from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st
from twisted.trial.unittest import SynchronousTestCase

from twisted_mail_suite.chat import commands as C
from twisted_mail_suite.chat.commands import parseLine


class SeedCommandTests(SynchronousTestCase):
    """
    The seed's commands, word for word.
    """

    def test_who(self) -> None:
        """
        C{who} lists who is online.
        """
        self.assertEqual(parseLine("who"), C.Who())

    def test_whoIsExact(self) -> None:
        """
        Only the exact word C{who} is the command; C{who is here?} is chat.
        """
        self.assertEqual(parseLine("who is here?"), C.Say("who is here?"))
        self.assertEqual(parseLine("who "), C.Say("who "))

    def test_rename(self) -> None:
        """
        C{rename|NAME} asks for the name NAME.
        """
        self.assertEqual(parseLine("rename|Ann"), C.Rename("Ann"))

    def test_renameEmpty(self) -> None:
        """
        C{rename|} with no name is a usage error, not chat.
        """
        self.assertIsInstance(parseLine("rename|"), C.Invalid)

    def test_renameKeepsTheRest(self) -> None:
        """
        Everything after C{rename|} is the wanted name (the room refuses C{|}).
        """
        self.assertEqual(parseLine("rename|a|b"), C.Rename("a|b"))

    def test_to(self) -> None:
        """
        C{to|NAME|TEXT} is a private message; TEXT may contain C{|}.
        """
        self.assertEqual(parseLine("to|bob|hi | there"), C.Private("bob", "hi | there"))

    def test_toMalformed(self) -> None:
        """
        C{to|} without a name, a second C{|} or text is a usage error.
        """
        for line in ("to|", "to||hi", "to|bob", "to|bob|"):
            self.assertIsInstance(parseLine(line), C.Invalid, line)

    def test_anythingElseIsSaid(self) -> None:
        """
        Any other line is said to the room, unchanged.
        """
        self.assertEqual(parseLine("  hello |world|  "), C.Say("  hello |world|  "))

    def test_emptyLine(self) -> None:
        """
        An empty or blank line is nothing.
        """
        self.assertEqual(parseLine(""), C.Nothing())
        self.assertEqual(parseLine("   "), C.Nothing())


class SlashCommandTests(SynchronousTestCase):
    """
    The slash commands.
    """

    def test_each(self) -> None:
        """
        Every slash command parses to its value, verbs case-insensitively.
        """
        cases = {
            "/nick Ann": C.Rename("Ann"),
            "/NICK Ann": C.Rename("Ann"),
            "/who": C.Who(),
            "/msg bob hi there": C.Private("bob", "hi there"),
            "/login alice s3cret": C.Login("alice", "s3cret"),
            "/join dev": C.Join("dev"),
            "/join #dev": C.Join("dev"),
            "/part": C.Part(),
            "/rooms": C.Rooms(),
            "/me waves": C.Action("waves"),
            "/help": C.Help(),
            "/quit": C.Quit(),
        }
        for line, expected in cases.items():
            self.assertEqual(parseLine(line), expected, line)

    def test_malformed(self) -> None:
        """
        Missing or extra arguments are usage errors.
        """
        for line in ("/nick", "/nick a b", "/msg", "/msg bob", "/login alice",
                     "/login alice pw extra", "/join", "/join a b", "/me", "/who x",
                     "/part now", "/quit please"):
            result = parseLine(line)
            self.assertIsInstance(result, C.Invalid, line)
            self.assertIn("usage", result.message)  # type: ignore[union-attr]

    def test_unknown(self) -> None:
        """
        An unknown slash command is an error naming it.
        """
        self.assertEqual(parseLine("/dance now"),
                         C.Invalid("unknown command /dance; /help lists the commands"))

    def test_doubleSlash(self) -> None:
        """
        C{//TEXT} says C{/TEXT}.
        """
        self.assertEqual(parseLine("//shrug"), C.Say("/shrug"))

    def test_loginHidesPassword(self) -> None:
        """
        The repr of a login (as a log might show it) hides the password.
        """
        self.assertNotIn("s3cret", repr(parseLine("/login alice s3cret")))

    @given(st.text(max_size=200))
    def test_total(self, line: str) -> None:
        """
        Any text parses to some command value without raising.
        """
        result = parseLine(line)
        self.assertIsInstance(result, (C.Say, C.Action, C.Who, C.Rename, C.Private, C.Login,
                                       C.Join, C.Part, C.Rooms, C.Help, C.Quit, C.Nothing,
                                       C.Invalid))
