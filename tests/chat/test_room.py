# -*- test-case-name: tests.chat.test_room -*-
"""
Tests for L{twisted_mail_suite.chat.room}: the chat model, without I/O.
"""
from __future__ import annotations

from typing import Optional

from twisted.trial.unittest import SynchronousTestCase
from zope.interface import implementer
from zope.interface.verify import verifyObject

from twisted_mail_suite.chat import lines
from twisted_mail_suite.chat.room import ChatError, ChatHub, IParticipant, Room, validName


@implementer(IParticipant)
class Member:
    """
    A participant that keeps what it is sent.
    """

    def __init__(self, user: Optional[str] = None) -> None:
        self.name: Optional[str] = None
        self.user = user
        self.room: Optional[Room] = None
        self.received: list[bytes] = []

    def deliver(self, data: bytes) -> None:
        self.received.append(data)

    def offer(self, data: bytes) -> None:
        self.received.append(data)

    def take(self) -> list[str]:
        out = b"".join(self.received).decode().splitlines()
        self.received.clear()
        return out


class RoomTestCase(SynchronousTestCase):
    def setUp(self) -> None:
        self.hub = ChatHub(lambda name: name.lower() if name.lower() in ("alice", "bob") else None)

    def enter(self, name: str, user: Optional[str] = None) -> Member:
        member = Member(user)
        self.hub.enter(member, name)
        return member

    def quiet(self, *members: Member) -> None:
        for member in members:
            member.take()


class NameTests(SynchronousTestCase):
    """
    L{validName}: 1 to 32 characters, no spaces, C{|} or control characters.
    """

    def test_valid(self) -> None:
        """
        Letters of any script, digits and punctuation are fine, up to 32.
        """
        for name in ("a", "guest-1", "Ann_B", "张三", "x" * 32, "o'neil", "#dev"):
            self.assertTrue(validName(name), name)

    def test_invalid(self) -> None:
        """
        Empty, too long, spaces, C{|}, controls and invisible characters are not.
        """
        for name in ("", "x" * 33, "a b", "a|b", "a\tb", "a\x00", "a\u200bb", "a\u00a0b", "a\x85"):
            self.assertFalse(validName(name), repr(name))


class MembershipTests(RoomTestCase):
    """
    Entering, leaving and names.
    """

    def test_verifyParticipant(self) -> None:
        """
        The test participant provides L{IParticipant}.
        """
        self.assertTrue(verifyObject(IParticipant, Member()))

    def test_enterTheLobby(self) -> None:
        """
        Everyone starts in the lobby, is told their name, and the room is told.
        """
        ann = self.enter("ann")
        self.assertEqual(ann.take(), ["*** you are ann", "*** you joined #lobby (1 here)"])
        ben = self.enter("ben")
        self.assertEqual(ann.take(), ["*** ben joined #lobby"])
        self.assertEqual(ben.take(), ["*** you are ben", "*** you joined #lobby (2 here)"])

    def test_namesCaseInsensitive(self) -> None:
        """
        A name differing only in case is taken.
        """
        self.enter("Ann")
        error = self.assertRaises(ChatError, self.enter, "aNN")
        self.assertEqual(error.text, "name is taken: aNN")

    def test_reservedForRegisteredUsers(self) -> None:
        """
        A registered user's name is refused to others.
        """
        error = self.assertRaises(ChatError, self.enter, "Alice")
        self.assertIn("reserved", error.text)

    def test_leaveAnnounced(self) -> None:
        """
        A departure is announced to the room and frees the name.
        """
        ann, ben = self.enter("ann"), self.enter("ben")
        self.quiet(ann, ben)
        self.hub.leave(ann)
        self.assertEqual(ben.take(), ["*** ann left #lobby"])
        self.assertIsNone(self.hub.find("ann"))
        self.hub.leave(ann)                      # idempotent
        self.assertEqual(ben.take(), [])

    def test_guestNames(self) -> None:
        """
        Guest names count up and skip names in use.
        """
        self.enter("guest-2")
        self.assertEqual([self.hub.guestName(), self.hub.guestName()], ["guest-1", "guest-3"])

    def test_announceLimit(self) -> None:
        """
        Arrivals and departures are not announced in rooms above the limit.
        """
        self.hub.announceLimit = 2
        ann, ben = self.enter("ann"), self.enter("ben")
        self.quiet(ann, ben)
        cat = self.enter("cat")
        self.assertEqual((ann.take(), ben.take()), ([], []))
        self.hub.leave(cat)
        self.assertEqual(ann.take(), ["*** cat left #lobby"])


class TalkTests(RoomTestCase):
    """
    Saying, acting, whispering.
    """

    def test_sayNoEcho(self) -> None:
        """
        A line reaches everyone else in the room, with the sender's name,
        and not the sender.
        """
        ann, ben, cat = self.enter("ann"), self.enter("ben"), self.enter("cat")
        self.quiet(ann, ben, cat)
        self.hub.relay(ann, lines.chat("lobby", "ann", "hello"))
        self.assertEqual((ann.take(), ben.take(), cat.take()),
                         ([], ["[#lobby] ann: hello"], ["[#lobby] ann: hello"]))

    def test_sameBytesToEveryone(self) -> None:
        """
        A broadcast is formatted once: every member gets the same object.
        """
        ann, ben, cat = self.enter("ann"), self.enter("ben"), self.enter("cat")
        self.quiet(ann, ben, cat)
        self.hub.relay(ann, lines.chat("lobby", "ann", "hello"))
        self.assertIs(ben.received[0], cat.received[0])

    def test_action(self) -> None:
        """
        C{/me} reaches the others as an action line.
        """
        ann, ben = self.enter("ann"), self.enter("ben")
        self.quiet(ann, ben)
        self.hub.relay(ann, lines.action("lobby", "ann", "waves"))
        self.assertEqual(ben.take(), ["[#lobby] * ann waves"])

    def test_whisper(self) -> None:
        """
        A private line reaches only its target, whatever its room.
        """
        ann, ben, cat = self.enter("ann"), self.enter("ben"), self.enter("cat")
        self.hub.join(ben, "dev")
        self.quiet(ann, ben, cat)
        self.assertTrue(self.hub.whisper(ann, "BEN", "psst"))
        self.assertEqual((ben.take(), cat.take()), (["[private] ann: psst"], []))

    def test_whisperNobody(self) -> None:
        """
        A whisper to nobody online sends nothing and says so.
        """
        ann = self.enter("ann")
        self.assertFalse(self.hub.whisper(ann, "zed", "hi"))

    def test_whisperLoggedInUnderAnotherName(self) -> None:
        """
        A logged-in user renamed away from their user name still gets
        whispers sent to the user name.
        """
        alice = Member()
        self.hub.enter(alice, "guest-1")
        self.hub.login(alice, "alice")
        self.hub.rename(alice, "ally")
        ann = self.enter("ann")
        self.quiet(alice)
        self.assertTrue(self.hub.whisper(ann, "alice", "hi"))
        self.assertEqual(alice.take(), ["[private] ann: hi"])


class RenameTests(RoomTestCase):
    """
    Renames: announced, refused when taken or reserved.
    """

    def test_rename(self) -> None:
        """
        A rename is announced to the room and confirmed to the renamer.
        """
        ann, ben = self.enter("ann"), self.enter("ben")
        self.quiet(ann, ben)
        self.hub.rename(ann, "Annie")
        self.assertEqual(ann.take(), ["*** you are now Annie"])
        self.assertEqual(ben.take(), ["*** ann is now Annie"])
        self.assertIs(self.hub.find("annie"), ann)
        self.assertIsNone(self.hub.find("ann"))

    def test_renameTaken(self) -> None:
        """
        A name held by someone else online is refused.
        """
        ann = self.enter("ann")
        self.enter("ben")
        self.assertRaises(ChatError, self.hub.rename, ann, "BEN")
        self.assertEqual(ann.name, "ann")

    def test_renameChangeCase(self) -> None:
        """
        Changing only the case of your own name is allowed.
        """
        ann = self.enter("ann")
        self.hub.rename(ann, "Ann")
        self.assertEqual(ann.name, "Ann")

    def test_renameReserved(self) -> None:
        """
        A registered user's name is refused, unless it is you.
        """
        ann = self.enter("ann")
        self.assertRaises(ChatError, self.hub.rename, ann, "bob")
        alice = self.enter("guest-9")
        self.hub.login(alice, "alice")
        self.hub.rename(alice, "ally")
        self.hub.rename(alice, "Alice")
        self.assertEqual(alice.name, "Alice")

    def test_renameInvalid(self) -> None:
        """
        An invalid name is refused.
        """
        ann = self.enter("ann")
        self.assertRaises(ChatError, self.hub.rename, ann, "a|b")


class LoginTests(RoomTestCase):
    """
    L{ChatHub.login}: the name becomes the user name.
    """

    def test_loginRenames(self) -> None:
        """
        A guest who logs in becomes their user name.
        """
        guest, other = self.enter("guest-1"), self.enter("ann")
        self.quiet(guest, other)
        self.assertIsNone(self.hub.login(guest, "alice"))
        self.assertEqual(guest.take(), ["*** logged in as alice", "*** you are now alice"])
        self.assertEqual(other.take(), ["*** guest-1 is now alice"])
        self.assertIs(self.hub.findUser("alice"), guest)

    def test_loginBeforeEntering(self) -> None:
        """
        A participant not yet online (login required) enters as the user.
        """
        member = Member()
        self.hub.login(member, "alice")
        self.assertEqual(member.take(), ["*** logged in as alice", "*** you are alice",
                                         "*** you joined #lobby (1 here)"])

    def test_secondSessionReplacesFirst(self) -> None:
        """
        Logging in again returns the earlier session, already offline.
        """
        first, second = self.enter("guest-1"), self.enter("guest-2")
        self.hub.login(first, "alice")
        self.assertIs(self.hub.login(second, "alice"), first)
        self.assertIs(self.hub.find("alice"), second)
        self.assertNotIn(first, self.hub.rooms["lobby"].members)


class RoomMoveTests(RoomTestCase):
    """
    Joining, parting and listing rooms.
    """

    def test_join(self) -> None:
        """
        Joining leaves the old room (announced there) and enters the new one.
        """
        ann, ben = self.enter("ann"), self.enter("ben")
        self.quiet(ann, ben)
        self.hub.join(ann, "Dev")
        self.assertEqual(ann.take(), ["*** you left #lobby", "*** you joined #Dev (1 here)"])
        self.assertEqual(ben.take(), ["*** ann left #lobby"])
        self.hub.join(ben, "dev")
        self.assertEqual(ann.take(), ["*** ben joined #Dev"])

    def test_roomsIsolated(self) -> None:
        """
        Lines said in one room do not reach another.
        """
        ann, ben = self.enter("ann"), self.enter("ben")
        self.hub.join(ann, "dev")
        self.quiet(ann, ben)
        self.hub.relay(ann, lines.chat("dev", "ann", "anyone?"))
        self.assertEqual(ben.take(), [])

    def test_joinSameRoom(self) -> None:
        """
        Joining the room you are in is an error.
        """
        ann = self.enter("ann")
        self.assertRaises(ChatError, self.hub.join, ann, "LOBBY")

    def test_partBackToLobby(self) -> None:
        """
        C{/part} goes back to the lobby; an emptied room disappears.
        """
        ann = self.enter("ann")
        self.hub.join(ann, "dev")
        self.hub.part(ann)
        self.assertIs(ann.room, self.hub.rooms["lobby"])
        self.assertNotIn("dev", self.hub.rooms)
        self.assertRaises(ChatError, self.hub.part, ann)

    def test_listRoomsAndWho(self) -> None:
        """
        C{/rooms} lists rooms with sizes; C{who} lists the room's names.
        """
        ann, ben = self.enter("ann"), self.enter("Ben")
        self.hub.join(ann, "dev")
        self.quiet(ann, ben)
        self.hub.listRooms(ann)
        self.assertEqual(ann.take(), ["*** rooms (2): #dev(1) #lobby(1)"])
        self.hub.join(ben, "dev")
        self.quiet(ann, ben)
        self.hub.who(ann)
        self.assertEqual(ann.take(), ["*** who #dev (2): ann Ben"])

    def test_invalidRoom(self) -> None:
        """
        A room name follows the name rules.
        """
        ann = self.enter("ann")
        self.assertRaises(ChatError, self.hub.join, ann, "a|b")
