# -*- test-case-name: tests.test_interfaces -*-
"""
The few interfaces at real boundaries: the mail store, the users database,
the event bus and the chat user.  SMTP and POP3 use Twisted's own
C{IMessageDelivery} and C{IMailbox}.
"""
from __future__ import annotations

from zope.interface import Attribute, Interface


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
    Per-user mail storage.  UIDs are stable across sessions and restarts.
    """

    def beginDelivery(users, sender: str = "", subject: str = "") -> IPendingDelivery:  # type: ignore[misc]
        """
        Start one delivery to C{users} (a sequence of local user names).
        C{sender} and C{subject} go into the new-mail event on commit.
        """

    def listMessages(user: str):  # type: ignore[misc]
        """
        @return: a list of L{twisted_mail_suite.maildir.StoredMessage}, oldest first.
        """

    def openMessage(user: str, uid: str):  # type: ignore[misc]
        """
        @return: a binary file object reading the message as stored
            (line ends as stored: LF on a Maildir).
        """

    def markSeen(user: str, uids) -> None:  # type: ignore[misc]
        """
        Record that the messages were read (Maildir: move to C{cur/}, flag S).
        """

    def deleteMessages(user: str, uids) -> None:  # type: ignore[misc]
        """
        Remove the messages for good.
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
            frees the maildrop).
        @raise twisted_mail_suite.errors.MailboxInUse: if it is held.
        """

    def isHeld(user: str) -> bool:  # type: ignore[misc]
        """
        Is C{user}'s maildrop held?
        """
