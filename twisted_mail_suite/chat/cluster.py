# -*- test-case-name: tests.cluster.test_twosuites -*-
"""
The chat across processes and nodes: L{ClusterHub} is the sans-I/O
L{ChatHub} of this process, plus what it shares through Redis
(docs/scaling.md):

  - B{names}: each online name is claimed under C{mailsuite:chat:name:KEY}
    (C{SET NX PX ttl}, renewed while its holder is online, deleted by its
    holder): two processes never keep the same name.  A claim lost to a
    race renames the loser (a guest gets a guest name, a /nick is undone).
  - B{presence}: every process tells the others who is online in which
    room (C{here}/C{gone} on the channel, all of it again when a process
    (re)connects or asks with C{hello}), and that it is alive every
    third of C{ttl}; what a process has not confirmed within C{ttl} is
    forgotten.  /who, /rooms, /msg and the name checks read this copy
    without waiting.
  - B{lines}: whatever a room broadcasts (chat lines, arrivals,
    departures, renames) is published once and broadcast again in the
    same room of every other process; private messages go to the process
    holding the name.

Everything travels on one channel, C{mailsuite:chat}: the sender's name,
a newline, and JSON with the line bytes in base64 (a process skips its
own messages by the name alone).  While Redis is unreachable the chat still works
among this process's members, who are told so once; /nick is refused
(names cannot be checked); on reconnection the names are claimed again
and the presence exchanged.
"""
from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from typing import Any, Callable, Optional

from twisted.application.internet import TimerService
from twisted.logger import Logger
from twisted.python.failure import Failure

from ..cluster.shared import SharedState
from . import lines
from .room import LOBBY, ChatError, ChatHub, Member, Room, fold

__all__ = ["CHANNEL", "ClusterHub"]

CHANNEL = b"mailsuite:chat"
NAMES = b"mailsuite:chat:name:"
GUESTS = b"mailsuite:chat:guests"
TTL = 30.0

DOWN = "the other chat servers are unreachable: only people on this server see your lines"
UP = "the other chat servers are reachable again"
RELEASE = b"if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0"


@dataclass
class Remote:
    """
    Someone online in another process.
    """

    origin: str
    name: str
    user: Optional[str]
    room: str
    seen: float


class SharedRoom(Room):
    """
    A room whose broadcasts reach its namesakes in the other processes.
    """

    __slots__ = ("hub",)

    def __init__(self, name: str, hub: ClusterHub) -> None:
        super().__init__(name)
        self.hub = hub

    def broadcast(self, data: bytes, exclude: Member | None = None, shed: bool = False) -> None:
        super().broadcast(data, exclude, shed)
        self.hub.publish({"k": "line", "r": fold(self.name), "d": base64.b64encode(data).decode("ascii")})


class ClusterHub(ChatHub):
    """
    L{ChatHub} shared with the other processes through L{SharedState};
    L{timer} (a service) renews the claims and says this process is alive.
    """

    log = Logger()

    def __init__(self, link: SharedState, ownerOf: Callable[[str], Optional[str]] = lambda name: None,
                 announceLimit: int = 0) -> None:
        super().__init__(ownerOf, announceLimit)
        self.link = link
        self._origin = link.origin.encode("utf-8")
        self.remote: dict[str, Remote] = {}
        self._guests: list[int] = []           # a block of guest numbers reserved in Redis
        self._up = False
        self.timer = TimerService(link.ttl / 3, self.heartbeat)
        self.timer.clock = link.clock
        link.subscriber.subscribe(CHANNEL, self.received)
        link.subscriber.onConnect(lambda protocol: link.clock.callLater(0, self.connected))
        self._reconnecting: Any = None
        link.subscriber.onLost(self.disconnected)

    def makeRoom(self, name: str) -> Room:
        return SharedRoom(name, self)

    # -- talking to the others -------------------------------------------------

    def publish(self, message: dict[str, Any]) -> None:
        payload = self._origin + b"\n" + json.dumps(message, separators=(",", ":")).encode("utf-8")
        self.link.client.execute(b"PUBLISH", CHANNEL, payload).addErrback(self._unsent)

    def _unsent(self, failure: Failure) -> None:
        self.log.debug("Chat event not published: {error}", error=failure.getErrorMessage())

    def _here(self, participant: Member) -> None:
        room = participant.room
        self.publish({"k": "here", "n": participant.name, "u": participant.user,
                      "r": room.name if room is not None else LOBBY})

    def _claim(self, participant: Member, name: str) -> None:
        key = fold(name)
        ttl = int(self.link.ttl * 1000)
        origin = self.link.origin.encode("utf-8")
        if participant.user is not None and fold(participant.user) == key:     # a user's own name: take it
            self.link.client.execute(b"SET", NAMES + key.encode("utf-8"), origin, b"PX", ttl).addErrback(
                self._unsent)
            return
        d = self.link.client.execute(b"SET", NAMES + key.encode("utf-8"), origin, b"NX", b"PX", ttl)
        d.addCallback(self._claimed, participant, name).addErrback(self._unsent)

    def _claimed(self, reply: object, participant: Member, name: str) -> None:
        if reply is not None or participant.name != name or self.online.get(fold(name)) is not participant:
            return
        self.log.info("Chat name {name} is held elsewhere; renaming", name=name)
        participant.deliver(lines.error(f"name is taken: {name}"))
        self.rename(participant, self.guestName(), force=True)

    def _release(self, name: str) -> None:
        self.link.client.execute(b"EVAL", RELEASE, 1, NAMES + fold(name).encode("utf-8"),
                                 self.link.origin.encode("utf-8")).addErrback(self._unsent)

    # -- hearing from the others -----------------------------------------------

    def received(self, payload: bytes) -> None:
        origin, _, body = payload.partition(b"\n")
        if origin == self._origin:          # our own, back from Redis: not even decoded
            return
        try:
            message = json.loads(body.decode("utf-8"))
            origin = origin.decode("utf-8")
            getattr(self, "_on" + message["k"].capitalize())(origin, message)
        except (ValueError, KeyError, TypeError, AttributeError) as e:
            self.log.warn("Ignored a malformed chat event: {error}", error=e)

    def _onLine(self, origin: str, message: dict) -> None:
        room = self.rooms.get(message["r"])
        if room is not None:
            Room.broadcast(room, base64.b64decode(message["d"]))

    def _onHere(self, origin: str, message: dict) -> None:
        self.remote[fold(message["n"])] = Remote(origin, message["n"], message["u"], message["r"],
                                                 self.link.clock.seconds())

    def _onGone(self, origin: str, message: dict) -> None:
        key = fold(message["n"])
        entry = self.remote.get(key)
        if entry is not None and entry.origin == origin:
            del self.remote[key]

    def _onAlive(self, origin: str, message: dict) -> None:
        now = self.link.clock.seconds()
        for entry in self.remote.values():
            if entry.origin == origin:
                entry.seen = now

    def _onHello(self, origin: str, message: dict) -> None:
        for participant in self.everyone():
            self._here(participant)

    def _onPrivate(self, origin: str, message: dict) -> None:
        target = self.online.get(message["to"]) or self.findUser(message["to"])
        if target is not None:
            target.deliver(base64.b64decode(message["d"]))

    def _onEvict(self, origin: str, message: dict) -> None:
        holder = self.online.get(message["n"])
        if holder is None:
            return
        if holder.user is not None and fold(holder.user) == message["n"]:
            self.leave(holder)
            close = getattr(holder, "close", None)
            if close is not None:
                close(lines.system("you logged in from elsewhere; disconnecting"))
        else:
            self.rename(holder, self.guestName(), force=True)

    # -- the connection's life ---------------------------------------------------

    def connected(self) -> None:
        """
        (Re)connected: claim our names again, tell the others who is here
        and ask who is there, reserve guest numbers.
        """
        if not self.link.client.connected:      # the two connections come back one after the other
            self._reconnecting = self.link.clock.callLater(0.1, self.connected)
            return
        if not self.link.subscriber.connected:
            return
        wasDown, self._up = not self._up, True
        for participant in self.everyone():
            self._claim(participant, participant.name)
            self._here(participant)
        self.publish({"k": "hello"})
        self.link.client.execute(b"INCRBY", GUESTS, 1000).addCallback(self._reserved).addErrback(self._unsent)
        if wasDown and self.online:
            self._tellEveryone(UP)

    def _reserved(self, top: int) -> None:
        self._guests = list(range(top - 999, top + 1))

    def stop(self) -> None:
        """
        The chat stopped: no more heartbeats or reconnection checks.
        """
        if self.timer.running:
            self.timer.stopService()
        if self._reconnecting is not None and self._reconnecting.active():
            self._reconnecting.cancel()

    def disconnected(self) -> None:
        if self._up:
            self._up = False
            self._tellEveryone(DOWN)

    def _tellEveryone(self, text: str) -> None:
        line = lines.system(text)
        for participant in self.everyone():
            participant.deliver(line)

    def heartbeat(self) -> None:
        """
        Renew our claims, say we are alive, forget who was not heard of.
        """
        now = self.link.clock.seconds()
        for key, entry in list(self.remote.items()):
            if now - entry.seen > self.link.ttl:
                del self.remote[key]
        if not self._up:
            return
        ttl = int(self.link.ttl * 1000)
        for key in self.online:
            self.link.client.execute(b"PEXPIRE", NAMES + key.encode("utf-8"), ttl).addErrback(self._unsent)
        self.publish({"k": "alive"})

    # -- the hub, shared ---------------------------------------------------------

    def _checkName(self, participant: Member, name: str) -> None:
        super()._checkName(participant, name)
        entry = self.remote.get(fold(name))
        if entry is not None and not (participant.user is not None and fold(participant.user) == fold(name)):
            raise ChatError(f"name is taken: {name}")

    def guestName(self) -> str:
        while self._guests:
            name = f"guest-{self._guests.pop(0)}"
            if fold(name) not in self.online and fold(name) not in self.remote and self._ownerOf(name) is None:
                return name
        while True:
            name = super().guestName()
            if fold(name) not in self.remote:
                return name

    def enter(self, participant: Member, name: str) -> None:
        super().enter(participant, name)
        self._claim(participant, name)

    def _enterRoom(self, participant: Member, room: Room) -> None:
        super()._enterRoom(participant, room)
        self._here(participant)

    def leave(self, participant: Member) -> None:
        name = participant.name
        if name is None or self.online.get(fold(name)) is not participant:
            return
        super().leave(participant)
        self._release(name)
        self.publish({"k": "gone", "n": name})

    def login(self, participant: Member, user: str) -> Member | None:
        entry = self.remote.get(fold(user))
        if entry is not None:                  # held elsewhere: a guest there is renamed, our session there closed
            del self.remote[fold(user)]
            self.publish({"k": "evict", "n": fold(user)})
        return super().login(participant, user)

    def rename(self, participant: Member, newName: str, force: bool = False) -> None:
        if not force and not self._up:
            raise ChatError("names cannot be checked with the other chat servers now; try again later")
        old = participant.name
        super().rename(participant, newName, force)
        self._release(old)
        self.publish({"k": "gone", "n": old})
        self._claim(participant, newName)
        self._here(participant)

    def whisper(self, participant: Member, name: str, text: str, shed: bool = False) -> bool:
        if super().whisper(participant, name, text, shed):
            return True
        key = fold(name)
        entry = self.remote.get(key)
        if entry is None:
            owner = self._ownerOf(name)
            entry = next((e for e in self.remote.values() if owner is not None and e.user == owner), None)
        if entry is None:
            return False
        self.publish({"k": "private", "to": fold(entry.name),
                      "d": base64.b64encode(lines.private(participant.name, text)).decode("ascii")})
        return True

    def _remoteIn(self, room: Room) -> list[str]:
        key = fold(room.name)
        return [entry.name for entry in self.remote.values() if fold(entry.room) == key]

    def who(self, participant: Member) -> None:
        room: Room = participant.room
        names = sorted(room.names() + self._remoteIn(room), key=fold)
        participant.deliver(lines.listing(f"who #{room.name} ({len(names)})", names))

    def listRooms(self, participant: Member) -> None:
        counts: dict[str, tuple[str, int]] = {key: (room.name, len(room.members)) for key, room in self.rooms.items()}
        for entry in self.remote.values():
            name, count = counts.get(fold(entry.room), (entry.room, 0))
            counts[fold(entry.room)] = (name, count + 1)
        rooms = sorted(counts.values(), key=lambda pair: fold(pair[0]))
        participant.deliver(lines.listing(f"rooms ({len(rooms)})", [f"#{name}({count})" for name, count in rooms]))
