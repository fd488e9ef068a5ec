# -*- test-case-name: tests.chat.test_names -*-
"""
Tests for L{twisted_mail_suite.chat.names} (the chat's one normalisation
of names and its look-alike check) and for its use everywhere a name is
reserved, taken, renamed to or messaged: nobody takes or impersonates a
registered user's name by case, compatibility forms or look-alike letters.
"""
from __future__ import annotations

from twisted.trial.unittest import SynchronousTestCase

from twisted_mail_suite.chat.names import lookupKeys, nameKey, skeleton
from twisted_mail_suite.chat.room import ChatHub, fold

from .support import Client, chatSuite
from .test_room import Member

USERS = {"sam": "pw-sam", "alice": "secret", "bob": "hunter2"}

# A registered user's name written other ways: the case, a long s (U+017F,
# which folds to "s"), fullwidth forms, Cyrillic look-alikes ("ѕ" U+0455,
# "а" U+0430), a Cyrillic capital "Ѕ" (U+0405), an accent.
VARIANTS = ["SAM", "ſam", "ｓａｍ", "ѕаm", "Ѕam", "sàm"]


class NameKeyTests(SynchronousTestCase):
    """
    L{nameKey}: NFKC and full case folding (PRECIS UsernameCaseMapped).
    """

    def test_sameKey(self) -> None:
        """
        Case, the long s and fullwidth forms give the same key.
        """
        self.assertEqual({nameKey(name) for name in ("sam", "SAM", "Sam", "ſam", "ｓａｍ", "ＳＡＭ")}, {"sam"})

    def test_fullCaseFolding(self) -> None:
        """
        Full case folding, not lower(): C{STRASSE} and C{straße} are one name.
        """
        self.assertEqual(nameKey("STRASSE"), nameKey("straße"))

    def test_stable(self) -> None:
        """
        A key is its own key.
        """
        for name in ("ſam", "ＳＡＭ", "Straße", "ǅemal", "ﬁx", "張三"):
            self.assertEqual(nameKey(nameKey(name)), nameKey(name), name)

    def test_otherScriptsStayDistinct(self) -> None:
        """
        The key does not map look-alikes: that is L{skeleton}'s job.
        """
        self.assertNotEqual(nameKey("ѕаm"), "sam")

    def test_hubUsesIt(self) -> None:
        """
        The hub's L{fold} is the same function.
        """
        self.assertEqual(fold("ｓａｍ"), nameKey("ｓａｍ"))


class SkeletonTests(SynchronousTestCase):
    """
    L{skeleton}: what a non-ASCII name looks like.
    """

    def test_lookAlikes(self) -> None:
        """
        Cyrillic, Greek and accented look-alikes of C{sam} all look like it.
        """
        for name in ("ѕаm", "Ѕam", "ЅАМ", "sàm", "ѕαm", "ſam", "ｓａｍ"):
            self.assertEqual(skeleton(name), "sam", name)

    def test_asciiUntouched(self) -> None:
        """
        An ASCII name is its own key: digits and letters are never mapped.
        """
        self.assertEqual((skeleton("sam1"), skeleton("saml"), skeleton("S0M")), ("sam1", "saml", "s0m"))

    def test_otherNamesStayDistinct(self) -> None:
        """
        A name in another script that looks like nothing Latin is itself.
        """
        self.assertEqual(skeleton("张三"), "张三")


class LookupKeysTests(SynchronousTestCase):
    """
    L{lookupKeys}: what to look up in the users database.
    """

    def test_ascii(self) -> None:
        """
        An ASCII name: as given, then its key.
        """
        self.assertEqual(lookupKeys("Sam"), ("Sam", "sam"))
        self.assertEqual(lookupKeys("sam"), ("sam",))

    def test_nonAscii(self) -> None:
        """
        A non-ASCII name: as given, its key, its skeleton, each once.
        """
        self.assertEqual(lookupKeys("ſam"), ("ſam", "sam"))
        self.assertEqual(lookupKeys("Ѕаm"), ("Ѕаm", "ѕаm", "sam"))


class HubKeyTests(SynchronousTestCase):
    """
    The hub keeps names and logged-in users by the key.
    """

    def test_findUserByAnyForm(self) -> None:
        """
        A logged-in user is found by any form of the user name.
        """
        hub = ChatHub(lambda name: "sam" if nameKey(name) == "sam" else None)
        sam = Member()
        hub.enter(sam, "guest-1")
        hub.login(sam, "sam")
        for name in ("sam", "SAM", "ſam", "ｓａｍ"):
            self.assertIs(hub.findUser(name), sam, name)


class ReservedNameTests(SynchronousTestCase):
    """
    Over the protocol: a registered user's name, however written, is
    reserved for that user, and a private message to it never reaches a guest.
    """

    def setUp(self) -> None:
        self.suite, self.factory = chatSuite(self, users=USERS, lines_per_second=0)

    def connect(self, host: str = "127.0.0.1") -> Client:
        client = Client(self.factory, host)
        client.lines()
        return client

    def test_variantsReserved(self) -> None:
        """
        A guest cannot take C{sam} written in capitals, with a long s, in
        fullwidth forms or with look-alike letters.
        """
        guest = self.connect()
        for name in VARIANTS:
            guest.send(f"/nick {name}")
            self.assertEqual(guest.lines(), [f"!!! name is reserved for a registered user: {name}"], name)
        self.assertEqual(guest.name, "guest-1")

    def test_variantsReservedWhileOnline(self) -> None:
        """
        While sam is online under another nick, no variant of C{sam} is
        free for a guest either.
        """
        sam, guest = self.connect(), self.connect()
        sam.send("/login sam pw-sam", "/nick sammy")
        for name in VARIANTS:
            guest.send(f"/nick {name}")
        self.assertEqual(guest.name, "guest-2")
        self.assertEqual(self.factory.hub.find("sam"), None)

    def test_ownerMayUseVariants(self) -> None:
        """
        The owner may use any form of the name.
        """
        sam = self.connect()
        sam.send("/login sam pw-sam")
        sam.lines()
        sam.send("/nick ｓａｍ")
        self.assertEqual(sam.lines(), ["*** you are now ｓａｍ"])

    def test_privateReachesOwner(self) -> None:
        """
        C{/msg ſam} reaches sam under whatever nick, not anyone else.
        """
        sam, alice, guest = self.connect(), self.connect(), self.connect()
        sam.send("/login sam pw-sam", "/nick sammy")
        alice.send("/login alice secret")
        sam.lines(), alice.lines(), guest.lines()
        alice.send("/msg ſam hello")
        self.assertEqual((sam.lines(), guest.lines()), (["[private] alice: hello"], []))

    def test_privateNeverToGuestHoldingName(self) -> None:
        """
        A guest holding a name that became a registered user's (here
        C{ſam}, taken before C{sam} was registered) does not get the private
        messages for that user: they are mailed to the user.
        """
        self.suite, self.factory = chatSuite(self, users={"alice": "secret"}, lines_per_second=0)
        guest, alice = self.connect(), self.connect()
        guest.send("/nick ſam")
        self.assertEqual(guest.name, "ſam")
        self.suite.users.setPassword("sam", "pw-sam")
        alice.send("/login alice secret")
        guest.lines(), alice.lines()
        for target in ("sam", "ſam"):
            alice.send(f"/msg {target} for sam only")
            self.assertEqual(alice.lines(), ["*** sam is offline; your message was mailed to them"])
        self.assertEqual(guest.lines(), [])
        self.assertEqual(len(self.successResultOf(self.suite.store.listMessages("sam"))), 2)
