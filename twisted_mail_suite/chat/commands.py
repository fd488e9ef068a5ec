# -*- test-case-name: tests.chat.test_commands -*-
"""
One chat line in, one command value out.  Pure: no I/O, no state.

The seed's commands are kept word for word (C{who}, C{rename|NAME},
C{to|NAME|TEXT}, anything else is said to the room) next to the slash
commands (C{/nick /who /msg /login /join /part /rooms /me /help /quit}).
A line starting with C{//} says the rest, starting with one C{/}.
Malformed and unknown commands become L{Invalid}, answered to the sender.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Union


@dataclass(frozen=True)
class Say:
    text: str


@dataclass(frozen=True)
class Action:
    text: str


@dataclass(frozen=True)
class Who:
    pass


@dataclass(frozen=True)
class Rename:
    name: str


@dataclass(frozen=True)
class Private:
    name: str
    text: str


@dataclass(frozen=True)
class Login:
    user: str
    password: str

    def __repr__(self) -> str:             # never show a password in a log
        return f"Login(user={self.user!r}, password=<hidden>)"


@dataclass(frozen=True)
class Join:
    room: str


@dataclass(frozen=True)
class Part:
    pass


@dataclass(frozen=True)
class Rooms:
    pass


@dataclass(frozen=True)
class Help:
    pass


@dataclass(frozen=True)
class Quit:
    pass


@dataclass(frozen=True)
class Nothing:
    """
    An empty line: ignored (it still counts as activity).
    """


@dataclass(frozen=True)
class Invalid:
    """
    A malformed or unknown command; C{message} is the public error text.
    """

    message: str


Command = Union[Say, Action, Who, Rename, Private, Login, Join, Part, Rooms, Help, Quit,
                Nothing, Invalid]

USAGE = {
    "nick": "/nick NAME  (or rename|NAME)",
    "msg": "/msg NAME TEXT  (or to|NAME|TEXT)",
    "login": "/login USER PASSWORD",
    "join": "/join ROOM",
    "me": "/me TEXT",
}

HELP = (
    "commands:",
    "TEXT                  say TEXT to everyone else in your room (//TEXT says /TEXT)",
    "who  or  /who         who is in your room",
    "rename|NAME  or  /nick NAME        change your name",
    "to|NAME|TEXT  or  /msg NAME TEXT   private message (mailed if NAME is a user who is offline)",
    "/login USER PASSWORD  log in with your mail password; your name becomes USER",
    "/join ROOM  /part  /rooms          move between rooms (everyone starts in #lobby)",
    "/me TEXT  /help  /quit",
)


def _usage(verb: str) -> Invalid:
    return Invalid(f"usage: {USAGE[verb]}")


def _split(rest: str) -> tuple[str, str]:
    head, _, tail = rest.strip(" ").partition(" ")
    return head, tail.strip(" ")


def _nick(rest: str) -> Command:
    name, extra = _split(rest)
    return Rename(name) if name and not extra else _usage("nick")


def _msg(rest: str) -> Command:
    name, text = _split(rest)
    return Private(name, text) if name and text else _usage("msg")


def _login(rest: str) -> Command:
    user, password = _split(rest)
    if not user or not password or " " in password:
        return _usage("login")
    return Login(user, password)


def _join(rest: str) -> Command:
    room, extra = _split(rest)
    if room.startswith("#"):
        room = room[1:]
    return Join(room) if room and not extra else _usage("join")


def _me(rest: str) -> Command:
    text = rest.strip(" ")
    return Action(text) if text else _usage("me")


def _noArguments(command: Command, verb: str) -> Callable[[str], Command]:
    def parse(rest: str) -> Command:
        return command if not rest.strip(" ") else Invalid(f"usage: /{verb}")
    return parse


_SLASH: dict[str, Callable[[str], Command]] = {
    "nick": _nick,
    "msg": _msg,
    "login": _login,
    "join": _join,
    "me": _me,
    "who": _noArguments(Who(), "who"),
    "part": _noArguments(Part(), "part"),
    "rooms": _noArguments(Rooms(), "rooms"),
    "help": _noArguments(Help(), "help"),
    "quit": _noArguments(Quit(), "quit"),
}


def _seedRename(rest: str) -> Command:
    if not rest:
        return _usage("nick")
    return Rename(rest)


def _seedTo(rest: str) -> Command:
    name, bar, text = rest.partition("|")
    if not name or not bar or not text:
        return _usage("msg")
    return Private(name, text)


def parseLine(line: str) -> Command:
    """
    Parse one decoded chat line (no terminator).
    """
    if not line.strip(" "):
        return Nothing()
    if line.startswith("/"):
        if line.startswith("//"):
            return Say(line[1:])
        verb, _, rest = line[1:].partition(" ")
        parse = _SLASH.get(verb.lower())
        if parse is None:
            return Invalid(f"unknown command /{verb[:32]}; /help lists the commands")
        return parse(rest)
    if line == "who":
        return Who()
    if line.startswith("rename|"):
        return _seedRename(line[len("rename|"):])
    if line.startswith("to|"):
        return _seedTo(line[len("to|"):])
    return Say(line)
