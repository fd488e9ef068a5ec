# -*- test-case-name: tests.store.test_mailfolders -*-
"""
The IMAP folder seam, beside the store's interfaces (L{interfaces}, which
has no room left): a user's folder tree and an open folder, as IMAP uses
them, asynchronous (Deferreds) so a folder may live in a database on
another machine.  Behind it: Maildir++
(L{twisted_mail_suite.store.maildir.mailboxes}) and PostgreSQL
(L{twisted_mail_suite.store.postgres.folders}).
"""
from __future__ import annotations

from zope.interface import Attribute, Interface

__all__ = ["IMailFolder", "IMailFolders", "IUserFolders"]


class IMailFolders(Interface):
    """
    Every user's IMAP folders in one store (one per suite): Maildir++
    (C{store/maildir/mailboxes}) or PostgreSQL (C{store/postgres/folders}).
    Every session of the process that opens a folder gets the same
    L{IMailFolder}, so a change made by one reaches the others at once.
    """

    def forUser(user):  # type: ignore[no-untyped-def]
        """
        @return: a Deferred firing with C{user}'s L{IUserFolders}; on the
            first login the usual folders (Sent, Drafts, Trash, Junk) are
            made and subscribed.
        """


class IUserFolders(Interface):
    """
    One user's folder tree.  Names are as stored (modified UTF-7, C{str}),
    the hierarchy delimiter C{"."}, INBOX always there.  Every method that
    touches storage answers with a Deferred; a refusal fails it with a
    L{twisted_mail_suite.errors.FolderError}.
    """

    user = Attribute("The user's name.")

    def check(name):  # type: ignore[no-untyped-def]
        """
        @return: C{name} as stored (INBOX in capitals); no I/O.
        @raise twisted_mail_suite.errors.BadFolderName: not a valid name.
        """

    def specialUse(name):  # type: ignore[no-untyped-def]
        """
        @return: the SPECIAL-USE attribute of C{name} (C{"\\Sent"}) or L{None}; no I/O.
        """

    def names():  # type: ignore[no-untyped-def]
        """
        @return: a Deferred of every folder's name, INBOX first, then sorted.
        """

    def exists(name):  # type: ignore[no-untyped-def]
        """
        @return: a Deferred of whether C{name} exists.
        """

    def open(name):  # type: ignore[no-untyped-def]
        """
        @return: a Deferred of the shared L{IMailFolder} C{name}; fails with
            C{NoSuchFolder}.
        """

    def create(name):  # type: ignore[no-untyped-def]
        """
        Make C{name} and the folders above it (C{FolderExists} if it is there).
        """

    def delete(name):  # type: ignore[no-untyped-def]
        """
        Delete C{name} and its messages (not INBOX, not one with children).
        """

    def rename(old, new):  # type: ignore[no-untyped-def]
        """
        Rename C{old} and the folders below it; INBOX's messages move into
        C{new} and INBOX stays, empty.
        """

    def subscriptions():  # type: ignore[no-untyped-def]
        """
        @return: a Deferred of the subscribed names.
        """

    def subscribe(name):  # type: ignore[no-untyped-def]
        pass

    def unsubscribe(name):  # type: ignore[no-untyped-def]
        """
        Fails with C{NoSuchFolder} if C{name} is not subscribed.
        """


class IMailFolder(Interface):
    """
    One open folder as IMAP sees it, shared by the sessions of a process.
    What it knows is as of its last L{refresh} (or its own changes); the
    changes of others (other processes, nodes, POP3, deliveries) show at the
    next L{refresh}.  Every change seen or made bumps L{version} and calls
    the L{listeners}.

    A message value has C{uid}, C{flags} (Maildir info letters, sorted:
    C{S R F T D P}, and C{a}-C{z} for the folder's L{keywords}), C{size}
    (wire-form octets), C{internalDate} (POSIX seconds), C{recent} (not yet
    claimed by a session) and C{unique} (a hashable identity of its
    content, which never changes).
    """

    uidValidity = Attribute("The folder's UIDVALIDITY (int).")
    uidNext = Attribute("The next UID it will give, as last known (int).")
    messages = Attribute("The messages by ascending UID, as last known.")
    byUID = Attribute("The same messages by UID (a dict).")
    version = Attribute("An int bumped by every change seen or made.")
    listeners = Attribute("A list of C{f(folder)} called after each change.")

    def refresh(force=False):  # type: ignore[no-untyped-def]
        """
        Look for changes made by others.

        @return: a Deferred of whether anything changed.
        """

    def open(message):  # type: ignore[no-untyped-def]
        """
        @return: a Deferred of the message's L{IMessageContent}; fails with
            C{KeyError} if it is gone.
        """

    def claimRecent():  # type: ignore[no-untyped-def]
        """
        Take IMAP's \\Recent for the calling session: each message is
        claimed once, by one session of any process.

        @return: a Deferred of the UIDs claimed.
        """

    def setFlags(uids, add="", remove="", replaceWith=None):  # type: ignore[no-untyped-def]
        """
        Change flags: C{replaceWith} (all of them) or C{add} and C{remove}.

        @return: a Deferred of the messages whose flags changed, as they are now.
        """

    def expunge(uids):  # type: ignore[no-untyped-def]
        """
        @return: a Deferred of the UIDs removed (those still there).
        """

    def append(data, flags="", internalDate=None):  # type: ignore[no-untyped-def]
        """
        Add a message (C{data} in wire form), durable when the Deferred fires.

        @return: a Deferred of its UID.
        """

    def copyTo(uids, target, move=False):  # type: ignore[no-untyped-def]
        """
        Copy (or move) messages into C{target}, a folder of the same store,
        in UID order, keeping flags and internal dates.

        @return: a Deferred of C{(source UID, target UID)} pairs.
        """

    def keywords():  # type: ignore[no-untyped-def]
        """
        @return: the keyword names, letter C{a} first, as last known.
        """

    def keywordOf(letter):  # type: ignore[no-untyped-def]
        """
        @return: the keyword of C{letter}, or L{None}.
        """

    def keywordLetter(keyword):  # type: ignore[no-untyped-def]
        """
        @return: the letter of C{keyword} (case-insensitive), or L{None}.
        """

    def addKeyword(keyword):  # type: ignore[no-untyped-def]
        """
        @return: a Deferred of the letter of C{keyword}, given one if it has
            none and one is free (else L{None}).
        """
