# -*- test-case-name: tests.cluster.test_hub -*-
"""
L{ClusterHub} without Redis (a recording link, a L{Clock}): what it
publishes, what it does with what it hears, and presence forgotten when
not confirmed within the TTL.
"""
from __future__ import annotations

import base64
import json
from typing import Any, Callable

from twisted.internet.defer import succeed
from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase

from twisted_mail_suite.chat.cluster import CHANNEL, ClusterHub

from ..chat.test_room import Member as FakeParticipant


class RecordingLink:
    """
    The parts of L{SharedState} a hub uses, recording the commands.
    """

    def __init__(self) -> None:
        self.clock = Clock()
        self.origin = "here/1/aa"
        self.ttl = 30.0
        self.commands: list[tuple] = []
        self.channels: dict[bytes, Callable[[bytes], object]] = {}
        self.client = self
        self.subscriber = self
        self.connected = True
        self._onConnect: list[Any] = []

    def execute(self, *args: Any) -> Any:
        self.commands.append(args)
        return succeed(b"OK")

    def subscribe(self, channel: bytes, callback: Callable[[bytes], object]) -> Callable[[], None]:
        self.channels[channel] = callback
        return lambda: None

    def onConnect(self, callback: Any) -> None:
        self._onConnect.append(callback)

    def onLost(self, callback: Any) -> None:
        pass

    def published(self) -> list[dict]:
        return [json.loads(args[2].partition(b"\n")[2]) for args in self.commands if args[0] == b"PUBLISH"]

    def hear(self, origin: str, **message: Any) -> None:
        self.channels[CHANNEL](origin.encode() + b"\n" + json.dumps(message).encode())


class ClusterHubTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.link = RecordingLink()
        self.hub = ClusterHub(self.link)  # type: ignore[arg-type]
        self.hub.connected()

    def test_lineAndPresencePublished(self) -> None:
        ann = FakeParticipant()
        self.hub.enter(ann, "ann")
        self.hub.relay(ann, b"[#lobby] ann: hi\n")
        kinds = [m["k"] for m in self.link.published()]
        self.assertIn("here", kinds)
        lines = [base64.b64decode(m["d"]) for m in self.link.published() if m["k"] == "line"]
        self.assertIn(b"[#lobby] ann: hi\n", lines)
        self.assertIn((b"SET", b"mailsuite:chat:name:ann", b"here/1/aa", b"NX", b"PX", 30000), self.link.commands)

    def test_remoteLineAndOwnEcho(self) -> None:
        ben = FakeParticipant()
        self.hub.enter(ben, "ben")
        self.link.hear("there/2/bb", k="line", r="lobby", d=base64.b64encode(b"from there\n").decode())
        self.link.hear("here/1/aa", k="line", r="lobby", d=base64.b64encode(b"my own echo\n").decode())
        self.assertIn(b"from there\n", ben.received)
        self.assertNotIn(b"my own echo\n", ben.received)

    def test_presenceExpires(self) -> None:
        self.link.hear("there/2/bb", k="here", n="zed", u=None, r="lobby")
        self.assertIn("zed", self.hub.remote)
        self.link.clock.advance(20)
        self.link.hear("there/2/bb", k="alive")
        self.link.clock.advance(20)
        self.hub.heartbeat()
        self.assertIn("zed", self.hub.remote)          # confirmed 20 s ago
        self.link.clock.advance(31)
        self.hub.heartbeat()
        self.assertNotIn("zed", self.hub.remote)

    def test_whisperToRemote(self) -> None:
        ann = FakeParticipant()
        self.hub.enter(ann, "ann")
        self.link.hear("there/2/bb", k="here", n="Zed", u=None, r="lobby")
        self.assertTrue(self.hub.whisper(ann, "zed", "psst"))
        private = [m for m in self.link.published() if m["k"] == "private"]
        self.assertEqual(private[0]["to"], "zed")
        self.assertFalse(self.hub.whisper(ann, "nobody", "psst"))

    def test_evictRenamesAGuest(self) -> None:
        guest = FakeParticipant()
        self.hub.enter(guest, "alice")
        self.link.hear("there/2/bb", k="evict", n="alice")
        self.assertNotEqual(guest.name, "alice")
        self.assertTrue(guest.name.startswith("guest-"))

    def test_evictClosesTheSameUsersSession(self) -> None:
        """
        The user logged in on another process: the session here is taken
        offline and closed, as a second local login would.
        """
        closed: list[bytes] = []

        class Session(FakeParticipant):
            def close(self, data: bytes) -> None:
                closed.append(data)

        session = Session(user="alice")
        self.hub.enter(session, "alice")
        self.link.hear("there/2/bb", k="evict", n="alice")
        self.assertIsNone(self.hub.findUser("alice"))
        self.assertEqual(len(closed), 1)
        self.assertIn(b"logged in from elsewhere", closed[0])
        self.assertIn({"k": "gone", "n": "alice"}, self.link.published())
