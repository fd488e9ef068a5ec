# -*- test-case-name: tests.test_layout -*-
"""
The few interfaces at real boundaries: the mail store (and the values it
hands out), the users database, the event bus, the chat user and the
metrics (with L{NullMetrics}, the default of every part that counts).  SMTP and POP3 use Twisted's own
C{IMessageDelivery} and C{IMailbox}.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from zope.interface import Attribute, Interface, implementer


class IPendingDelivery(Interface):
    """
    One message being written for one or more users: two-phase.
    """

    def write(data: bytes) -> None:  # type: ignore[misc]
        """
        Append message bytes.  C{data} uses CRLF line ends (wire form, dots
        already unstuffed); the store may keep another form on disk.
        """

    def commit():  # type: ignore[misc]
        """
        Make the message durable for every recipient.

        @return: a Deferred firing with a list of the new UIDs (one per
            recipient, in order) once the message is on disk for all of them,
            or failing with L{twisted_mail_suite.errors.DeliveryFailed} after
            which nothing of the message is kept.
        """

    def abort() -> None:  # type: ignore[misc]
        """
        Forget the message; nothing of it stays anywhere.  Idempotent.
        """

    size = Attribute("Number of octets written so far (wire form).")


class IMailStore(Interface):
    """
    Per-user mail storage, as a database could implement it: every read and
    every change answers with a Deferred.  UIDs are stable across sessions
    and restarts.  A store is also an C{IService}: C{startService} readies
    it (clean-up, a connection pool), C{stopService} closes it.  A store
    publishes no events (see L{twisted_mail_suite.store.notifying}) and its
    errors carry no wire code.
    """

    def beginDelivery(users, sender: str = "", subject: str = "") -> IPendingDelivery:  # type: ignore[misc]
        """
        Start one delivery to C{users} (a sequence of local user names).
        C{sender} and C{subject} describe the message for whoever announces
        it after commit.

        @raise twisted_mail_suite.errors.DeliveryFailed: nothing can be
            written for these users now.
        """

    def listMessages(user: str):  # type: ignore[misc]
        """
        @return: a Deferred firing with a list of L{StoredMessage}, oldest
            first.
        """

    def readMessage(user: str, uid: str):  # type: ignore[misc]
        """
        @return: a Deferred firing with the L{IMessageContent} of the
            message, or failing with C{KeyError} if there is no such message.
        """

    def markSeen(user: str, uids):  # type: ignore[misc]
        """
        Record that the messages were read (Maildir: move to C{cur/}, flag S).
        Unknown UIDs are skipped.

        @return: a Deferred firing when the change is made.
        """

    def deleteMessages(user: str, uids):  # type: ignore[misc]
        """
        Remove the messages for good.  Unknown UIDs are skipped.

        @return: a Deferred firing when they are gone.
        """


class IUserDatabase(Interface):
    """
    Who exists and how their password is stored.
    """

    def lookup(name: str):  # type: ignore[misc]
        """
        @return: a L{twisted_mail_suite.identity.passwd.UserEntry} or L{None}.
        """

    def names():  # type: ignore[misc]
        """
        @return: the list of user names.
        """


class IEventBus(Interface):
    """
    In-process publish/subscribe; a cluster implementation may fan out.
    """

    def subscribe(eventType: type, callback):  # type: ignore[misc]
        """
        Call C{callback(event)} for each published event of C{eventType}.

        @return: a no-argument callable that unsubscribes.
        """

    def publish(event) -> None:  # type: ignore[misc]
        """
        Deliver C{event} to the subscribers of its type.  A subscriber that
        raises is logged and does not stop the others.
        """


class IChatUser(Interface):
    """
    The chat avatar: a logged-in user of the chat room.
    """

    name = Attribute("The user's name (str), which becomes the chat nick.")


class IVerifiedLogin(Interface):
    """
    A line protocol that can be logged in by whoever bridges it to another
    transport (the chat under a WebSocket of a logged-in web session): the
    user was authenticated through the same portal already.
    """

    def loginVerified(user: str, logout: Any) -> None:
        """
        Log this connection in as C{user}, as a successful login of its
        own would; C{logout} (no arguments) is called when it ends.
        """


# --- identity ---

class IMaildropLocks(Interface):
    """
    Which maildrops have a POP3 session: one at a time (RFC 1939 §8).  An
    in-process implementation now; a shared one (Redis) when several
    processes serve POP3.
    """

    def acquire(user: str):  # type: ignore[misc]
        """
        Take C{user}'s maildrop.

        @return: the release callable (idempotent: only its first call
            frees the maildrop), or a Deferred firing with it (a shared
            lock), failing as this raises.
        @raise twisted_mail_suite.errors.MailboxInUse: if it is held.
        """

    def isHeld(user: str) -> bool:  # type: ignore[misc]
        """
        Is C{user}'s maildrop held (by this process, for a shared lock)?
        """


class IFailureCounters(Interface):
    """
    Failed-login counts shared by several processes (the in-process
    policy keeps its own when there are none): each count lives for a
    window from its first failure.
    """

    def current(key: str):  # type: ignore[misc]
        """
        @return: a Deferred firing with C{key}'s count (0 when none).
        """

    def bump(key: str, window: float):  # type: ignore[misc]
        """
        Add one failure to C{key} (atomically), starting its C{window}
        seconds when it is the first.

        @return: a Deferred firing with the new count.
        """

    def reset(key: str):  # type: ignore[misc]
        """
        Forget C{key}'s count: a Deferred.
        """


# --- store ---


class IMessageContent(Interface):
    """
    One stored message, read in wire form: CRLF line ends, no dot-stuffing
    (each protocol frames it its own way).  Read once, then closed.
    """

    size = Attribute("The number of octets L{chunks} yields in all (int), "
                     "or L{None} where the store cannot tell without reading.")

    def chunks():  # type: ignore[misc]
        """
        @return: an iterator of non-empty C{bytes} chunks, in order; at most
            a few chunks are held in memory at a time, so a big message
            streams.
        """

    def close() -> None:  # type: ignore[misc]
        """
        Release what the content holds (a file, a cursor); idempotent.
        Stopping early is allowed.
        """


@dataclass(frozen=True)
class StoredMessage:
    """
    One message as a store lists it.

    @ivar uid: the store's stable unique name for the message.
    @ivar size: its size in wire form (CRLF line ends), the octets
        L{IMessageContent.chunks} yields.
    @ivar flags: the Maildir info letters (C{"S"} seen, C{"R"} replied,
        C{"F"} flagged, C{"T"} trashed, C{"D"} draft) set on it.
    @ivar internalDate: when the store received it (POSIX seconds).
    """

    uid: str
    size: int
    flags: frozenset[str] = frozenset()
    internalDate: float = 0.0

    @property
    def seen(self) -> bool:
        return "S" in self.flags


# --- outbound ---


class IPendingOutbound(Interface):
    """
    One message on its way into the outbound queue, two-phase so that it
    can commit together with a local delivery: L{prepare} makes it durable
    but invisible, L{commit} makes it visible to the relay.
    """

    size = Attribute("Number of octets written so far (wire form).")

    def write(data: bytes) -> None:  # type: ignore[misc]
        """
        Append message bytes (CRLF lines, wire form, not dot-stuffed).
        """

    def prepare():  # type: ignore[misc]
        """
        Make the message durable without handing it to the relay yet
        (optional: L{commit} prepares first when needed).

        @return: a Deferred firing with L{None}, or failing with
            L{twisted_mail_suite.errors.DeliveryFailed}, nothing kept.
        """

    def commit():  # type: ignore[misc]
        """
        Hand the message to the relay, durably.

        @return: a Deferred firing with the queue id, or failing with
            L{twisted_mail_suite.errors.DeliveryFailed}, nothing kept.
        """

    def abort() -> None:  # type: ignore[misc]
        """
        Forget the message (even after L{prepare}); idempotent.
        """


class IOutboundQueue(Interface):
    """
    Where mail for other domains goes: the seam between the delivery
    target (and C{sendMail}) and whatever takes the mail out.  The suite's
    own is the relay's durable queue (L{twisted_mail_suite.relay.queue});
    a test harness may pass one that keeps the mail in memory
    (L{twisted_mail_suite.relay.memory.MemoryOutbox}).
    """

    def begin(sender: str, recipients) -> IPendingOutbound:  # type: ignore[misc]
        """
        Start one message from C{sender} (C{""}: the null sender, as in a
        bounce) to C{recipients} (a sequence of C{local@domain} strings).

        @raise twisted_mail_suite.errors.DeliveryFailed: nothing can be
            queued now.
        """


class IMetrics(Interface):
    """
    What the suite counts, called where each event happens (the protocols,
    the connection chassis, the login policy, the delivery target, the
    store's fsyncs, the relay): one method per event, cheap enough for the
    hot path.  Label values (C{protocol}, C{reason}, C{outcome},
    C{result}) come from small fixed sets, never from client input.
    L{twisted_mail_suite.metrics.PrometheusMetrics} keeps them in a
    Prometheus registry of its own; L{NullMetrics} drops them.
    """

    registry = Attribute("The prometheus_client CollectorRegistry to expose, or None (nothing kept).")

    def connectionOpened(protocol: str) -> None:  # type: ignore[misc]
        """A connection of C{protocol} (a listener role) was admitted."""

    def connectionClosed(protocol: str) -> None:  # type: ignore[misc]
        """An admitted connection of C{protocol} is gone."""

    def connectionRefused(protocol: str) -> None:  # type: ignore[misc]
        """A connection of C{protocol} was refused at admission (a limit, the shutdown)."""

    def messageAccepted() -> None:  # type: ignore[misc]
        """SMTP answered 250 to a message's text: it is durable."""

    def messageRejected(reason: str) -> None:  # type: ignore[misc]
        """SMTP refused a sender, a recipient or a message's text, for C{reason}."""

    def deliveryLatency(seconds: float) -> None:  # type: ignore[misc]
        """A delivery's commit took C{seconds} until every copy was durable."""

    def fsyncLatency(seconds: float) -> None:  # type: ignore[misc]
        """One fsync of the mail store took C{seconds} (called from its commit thread)."""

    def loginFailed(protocol: str, outcome: str) -> None:  # type: ignore[misc]
        """A login over C{protocol} ended with C{outcome} (a C{LoginOutcome} value other than succeeded)."""

    def sessionOpened(protocol: str) -> None:  # type: ignore[misc]
        """A user logged in over C{protocol}."""

    def sessionClosed(protocol: str) -> None:  # type: ignore[misc]
        """A logged-in session of C{protocol} logged out (once per L{sessionOpened})."""

    def chatLine() -> None:  # type: ignore[misc]
        """A chat line (said or an action) went to a room."""

    def relayDelivery(result: str) -> None:  # type: ignore[misc]
        """One recipient's outbound attempt ended: C{sent}, C{deferred} or C{bounced}."""

    def watchChatMembers(count: Callable[[], int]) -> None:  # type: ignore[misc]
        """C{count()} tells the chat members online, asked when the metrics are read."""

    def watchRelayQueue(size: Callable[[], int]) -> None:  # type: ignore[misc]
        """C{size()} tells the messages in the outbound queue, asked when the metrics are read."""

    def nodeInfo(node: str, worker: int) -> None:  # type: ignore[misc]
        """Which node (C{cluster.node} or the host name) and worker (0: none) these metrics describe."""


@implementer(IMetrics)
class NullMetrics:
    """
    Metrics that keep nothing: the default wherever none are given.
    """

    registry = None

    def connectionOpened(self, protocol: str) -> None:
        pass

    connectionClosed = connectionRefused = sessionOpened = sessionClosed = connectionOpened

    def messageAccepted(self) -> None:
        pass

    chatLine = messageAccepted

    def messageRejected(self, reason: str) -> None:
        pass

    relayDelivery = messageRejected

    def deliveryLatency(self, seconds: float) -> None:
        pass

    fsyncLatency = deliveryLatency

    def loginFailed(self, protocol: str, outcome: str) -> None:
        pass

    def watchChatMembers(self, count: Callable[[], int]) -> None:
        pass

    watchRelayQueue = watchChatMembers

    def nodeInfo(self, node: str, worker: int) -> None:
        pass


NULL_METRICS = NullMetrics()
