# -*- test-case-name: tests.chat.test_room -*-
"""
The chat model without I/O: who is online under which name, which rooms
exist and who is in them.  Participants are anything with a C{name}, a
C{user}, a C{room} and a C{deliver(bytes)} method (the protocol in
production, a list in the tests).

Every line is formatted once (L{lines}) and the same bytes are handed to
each member that should see it.
"""
from __future__ import annotations

import unicodedata
from typing import Callable, Iterable, Optional, Protocol

from zope.interface import Attribute, Interface

from ..errors import ProtocolError
from . import lines
from .names import nameKey

LOBBY = "lobby"
MAX_NAME = 32

# Names may not hold spaces, "|", control, format or separator characters.
_BAD_CATEGORIES = frozenset({"Cc", "Cf", "Co", "Cs", "Cn", "Zs", "Zl", "Zp"})


class ChatError(ProtocolError):
    """
    A refused chat action; C{publicText} goes back to the sender alone as an
    error line.
    """

    def __init__(self, text: str, reason: str = "") -> None:
        super().__init__(lines.ERROR_PREFIX.strip(), text.encode("utf-8"), reason)
        self.text = text


class IParticipant(Interface):
    """
    Someone connected to the chat.
    """

    name = Attribute("The display name (str), or None before entering.")
    user = Attribute("The logged-in user name (str), or None for a guest.")
    room = Attribute("The L{Room} the participant is in, or None.")

    def deliver(data: bytes) -> None:
        """
        Send one or more complete, already formatted lines to this participant.
        """

    def offer(data: bytes) -> None:
        """
        Like L{deliver}, for lines from a sender over its budget (a flood):
        a participant that is behind on its output may skip them, rather
        than fall further behind (and be dropped as a slow reader).
        """


class Member(Protocol):
    """
    The typing view of an L{IParticipant}.
    """

    name: Optional[str]
    user: Optional[str]
    room: Optional[Room]

    def deliver(self, data: bytes) -> None: ...

    def offer(self, data: bytes) -> None: ...


def validName(name: str) -> bool:
    """
    1 to 32 characters; no spaces, C{|}, control or invisible characters,
    and none once compatibility forms are folded (a fullwidth C{｜} is C{|}).
    """
    if not 0 < len(name) <= MAX_NAME or "|" in name:
        return False
    if name.isascii():
        return name.isprintable() and " " not in name
    if any(unicodedata.category(c) in _BAD_CATEGORIES for c in name):
        return False
    key = fold(name)
    return bool(key) and "|" not in key and not any(
        unicodedata.category(c) in _BAD_CATEGORIES for c in key)


def fold(name: str) -> str:
    """
    The key names and rooms are compared, reserved and looked up by: the
    one normalisation of the chat (L{names.nameKey
    <twisted_mail_suite.chat.names.nameKey>}, PRECIS UsernameCaseMapped:
    NFKC and full case folding).
    """
    return nameKey(name)


class Room:
    """
    A named room and its members, in order of arrival.
    """

    __slots__ = ("name", "members")

    def __init__(self, name: str) -> None:
        self.name = name
        self.members: dict[Member, None] = {}

    def broadcast(self, data: bytes, exclude: Member | None = None, shed: bool = False) -> None:
        """
        Hand C{data} to every member but C{exclude}; with C{shed} (the
        sender is over its budget) through L{IParticipant.offer}, which a
        member that is behind may decline.
        """
        members = tuple(self.members)         # a delivery may end in a departure
        if shed:
            for member in members:
                if member is not exclude:
                    member.offer(data)
        else:
            for member in members:
                if member is not exclude:
                    member.deliver(data)

    def names(self) -> list[str]:
        return sorted((m.name for m in self.members), key=fold)


class ChatHub:
    """
    All rooms and online names of one chat service.

    @param ownerOf: returns the registered user owning a name (such names
        are reserved for their owner), or L{None}.
    @param announceLimit: arrivals and departures are announced only in
        rooms with at most this many members (0: always).  Renames are
        always announced.
    """

    def __init__(self, ownerOf: Callable[[str], Optional[str]] = lambda name: None,
                 announceLimit: int = 0) -> None:
        self._ownerOf = ownerOf
        self.announceLimit = announceLimit
        self.rooms: dict[str, Room] = {LOBBY: self.makeRoom(LOBBY)}
        self.online: dict[str, Member] = {}
        self.users: dict[str, Member] = {}
        self._guestSerial = 0

    def makeRoom(self, name: str) -> Room:
        """
        A new room (a hub shared across processes makes rooms that
        publish what they broadcast).
        """
        return Room(name)

    # -- names -------------------------------------------------------------

    def find(self, name: str) -> Member | None:
        return self.online.get(fold(name))

    def findUser(self, user: str) -> Member | None:
        """
        The session of logged-in user C{user} (compared by L{fold}), if any.
        """
        return self.users.get(fold(user))

    def guestName(self) -> str:
        """
        The next free C{guest-N} name.
        """
        while True:
            self._guestSerial += 1
            name = f"guest-{self._guestSerial}"
            if fold(name) not in self.online and self._ownerOf(name) is None:
                return name

    def _checkName(self, participant: Member, name: str) -> None:
        if not validName(name):
            raise ChatError("invalid name: 1 to 32 characters, no spaces, '|' or control characters")
        holder = self.online.get(fold(name))
        if holder is not None and holder is not participant:
            raise ChatError(f"name is taken: {name}")
        owner = self._ownerOf(name)
        if owner is not None and owner != participant.user:
            raise ChatError(f"name is reserved for a registered user: {name}")

    # -- arriving and leaving ----------------------------------------------

    def enter(self, participant: Member, name: str) -> None:
        """
        Put C{participant} online as C{name} in the lobby.

        @raise ChatError: if C{name} is invalid, taken or reserved.
        """
        self._checkName(participant, name)
        participant.name = name
        self.online[fold(name)] = participant
        user = participant.user
        if user is not None:
            self.users[fold(user)] = participant
        participant.deliver(lines.system(f"you are {name}"))
        self._enterRoom(participant, self.rooms[LOBBY])

    def leave(self, participant: Member) -> None:
        """
        Take C{participant} offline (it disconnected); idempotent.
        """
        name = participant.name
        if name is None or self.online.get(fold(name)) is not participant:
            return
        self._leaveRoom(participant)
        del self.online[fold(name)]
        user = participant.user
        if user is not None and self.users.get(fold(user)) is participant:
            del self.users[fold(user)]

    def login(self, participant: Member, user: str) -> Member | None:
        """
        C{participant} logged in as C{user}: its name becomes C{user}.  A
        guest holding that name is renamed to a guest name; an earlier
        session of the same user is taken offline and returned (the caller
        disconnects it).
        """
        previous = self.findUser(user)
        if previous is participant:
            return None
        if previous is not None:
            self.leave(previous)
        holder = self.find(user)
        if holder is not None and holder is not participant:
            self.rename(holder, self.guestName(), force=True)
        participant.user = user
        participant.deliver(lines.system(f"logged in as {user}"))
        if participant.name is None:
            self.enter(participant, user)
        else:
            self.users[fold(user)] = participant
            if participant.name != user:
                self.rename(participant, user)
        return previous

    # -- rooms ---------------------------------------------------------------

    def _announces(self, room: Room) -> bool:
        return not self.announceLimit or len(room.members) <= self.announceLimit

    def _enterRoom(self, participant: Member, room: Room) -> None:
        participant.room = room
        room.members[participant] = None
        if self._announces(room):
            room.broadcast(lines.system(f"{participant.name} joined #{room.name}"),
                           participant)
        participant.deliver(lines.system(
            f"you joined #{room.name} ({len(room.members)} here)"))

    def _leaveRoom(self, participant: Member) -> None:
        room: Room | None = participant.room
        if room is None:
            return
        participant.room = None
        room.members.pop(participant, None)
        if self._announces(room):
            room.broadcast(lines.system(f"{participant.name} left #{room.name}"))
        if not room.members and room.name != LOBBY:
            del self.rooms[fold(room.name)]

    def join(self, participant: Member, roomName: str) -> None:
        """
        Move C{participant} to room C{roomName}, creating it if needed.
        """
        if not validName(roomName):
            raise ChatError("invalid room name: 1 to 32 characters, no spaces, '|' or control characters")
        current: Room | None = participant.room
        key = fold(roomName)
        if current is not None and fold(current.name) == key:
            raise ChatError(f"you are already in #{current.name}")
        room = self.rooms.get(key)
        if room is None:
            room = self.rooms[key] = self.makeRoom(roomName)
        self._leaveRoom(participant)
        if current is not None:
            participant.deliver(lines.system(f"you left #{current.name}"))
        self._enterRoom(participant, room)

    def part(self, participant: Member) -> None:
        """
        Leave the current room for the lobby.
        """
        current: Room | None = participant.room
        if current is None or current.name == LOBBY:
            raise ChatError("you are in #lobby; /join ROOM to go elsewhere")
        self.join(participant, LOBBY)

    def listRooms(self, participant: Member) -> None:
        rooms = sorted(self.rooms.values(), key=lambda r: fold(r.name))
        participant.deliver(lines.listing(
            f"rooms ({len(rooms)})", [f"#{r.name}({len(r.members)})" for r in rooms]))

    def who(self, participant: Member) -> None:
        room: Room = participant.room
        names = room.names()
        participant.deliver(lines.listing(
            f"who #{room.name} ({len(names)})", names))

    # -- talking -------------------------------------------------------------

    def relay(self, participant: Member, data: bytes, shed: bool = False) -> None:
        """
        Hand C{data}, one or more chat or action lines already formatted for
        C{participant} in its current room, to everyone else in that room
        (with C{shed}: only to those keeping up, see L{Room.broadcast}).
        """
        room = participant.room
        if room is not None:
            room.broadcast(data, participant, shed)

    def whisper(self, participant: Member, name: str, text: str, shed: bool = False) -> bool:
        """
        Send C{text} privately to the participant called C{name}, or to the
        registered user owning C{name} under whatever nick; never to a
        guest holding a registered user's name (one registered since).

        @param shed: the sender is over its budget (see L{Room.broadcast}).
        @return: C{False} if nobody by that name is online (nothing sent).
        """
        target = self.find(name)
        if target is None or target.user is None:
            owner = self._ownerOf(name)
            if owner is not None:
                target = self.findUser(owner)
        if target is None:
            return False
        line = lines.private(participant.name, text)
        if shed:
            target.offer(line)
        else:
            target.deliver(line)
        return True

    def rename(self, participant: Member, newName: str, force: bool = False) -> None:
        """
        Change C{participant}'s name, announced to its room.

        @param force: skip the checks (the server renames a guest).
        @raise ChatError: if C{newName} is invalid, taken or reserved.
        """
        if not force:
            self._checkName(participant, newName)
        old: str = participant.name
        if old == newName:
            raise ChatError(f"you are already {old}")
        del self.online[fold(old)]
        self.online[fold(newName)] = participant
        participant.name = newName
        room: Room | None = participant.room
        if room is not None:
            room.broadcast(lines.system(f"{old} is now {newName}"), participant)
        participant.deliver(lines.system(f"you are now {newName}"))

    def everyone(self) -> Iterable[Member]:
        return list(self.online.values())


__all__ = ["ChatHub", "ChatError", "IParticipant", "Room", "LOBBY", "validName", "fold"]
