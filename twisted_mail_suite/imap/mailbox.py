# -*- test-case-name: tests.imap.test_mailbox -*-
"""
A selected mailbox as one session sees it: the messages it has told its
client about, in message-sequence order, next to the folder they live in
(an L{IMailFolder <twisted_mail_suite.mailfolders.IMailFolder>}, shared
with other sessions and changed by other programs and nodes).

L{SelectedMailbox.sync} brings the view up to date and returns the
untagged responses that tell the client (RFC 9051 §7.4, §7.5): C{EXPUNGE}
for messages gone (only where the command allows them: never during
FETCH, STORE or SEARCH), C{FETCH (FLAGS ...)} for flags changed by
others, C{EXISTS} (and C{RECENT} for IMAP4rev1) for new messages.

Storage calls answer with Deferreds (L{SelectedMailbox.load},
L{SelectedMailbox.sync}, L{SelectedMailbox.expungeDeleted}, and
L{flagLetters} as a handler's sub-generator).

Flags are Maildir info letters in the store and IMAP flags on the wire:
C{S} C{\\Seen}, C{R} C{\\Answered}, C{F} C{\\Flagged}, C{T} C{\\Deleted},
C{D} C{\\Draft}, C{P} C{$Forwarded}, C{a}-C{z} the folder's keywords.
"""
from __future__ import annotations

import bisect
from typing import Any, Generator, Iterable

from twisted.internet.defer import Deferred, succeed

from .grammar import SequenceSet
from .responses import Bad, No, flagList

__all__ = ["SelectedMailbox", "LETTER_FLAGS", "FLAG_LETTERS", "flagLetters"]

LETTER_FLAGS = {"S": b"\\Seen", "R": b"\\Answered", "F": b"\\Flagged", "T": b"\\Deleted", "D": b"\\Draft",
                "P": b"$Forwarded"}
FLAG_LETTERS = {flag.lower(): letter for letter, flag in LETTER_FLAGS.items()}
_KEYWORD_FORBIDDEN = frozenset(b'(){ %*"\\]')


def flagLetters(folder: Any, flags: Iterable[bytes], create: bool) -> Generator[Any, Any, str]:
    """
    The info letters for IMAP C{flags} in C{folder} (keywords get letters,
    made if C{create}; a keyword without one is left out when not), as a
    handler's sub-generator (making a letter is a folder change).

    @raise Bad: a flag that is not one (C{\\Recent} and unknown system
        flags, atom specials).
    @raise No: no letter is left for a new keyword (C{[LIMIT]}).
    """
    letters = []
    for flag in flags:
        letter = FLAG_LETTERS.get(bytes(flag).lower())
        if letter is not None:
            letters.append(letter)
            continue
        if flag.startswith(b"\\") or not flag or any(c <= 0x20 or c >= 0x7f or c in _KEYWORD_FORBIDDEN
                                                      for c in flag):
            if flag.lower() == b"\\recent":
                continue
            raise Bad(b"Invalid flag")
        keyword = flag.decode("ascii")
        letter = folder.keywordLetter(keyword)
        if letter is None and create:
            letter = yield folder.addKeyword(keyword)
            if letter is None:
                raise No(b"Too many keywords in this mailbox.", b"LIMIT")
        if letter is not None:
            letters.append(letter)
    return "".join(sorted(set(letters)))


class SelectedMailbox:
    """
    @ivar name: the mailbox's name as stored (modified UTF-7).
    @ivar readOnly: EXAMINE, or SELECT of a mailbox that cannot be changed.
    @ivar messages: the messages the client knows, in sequence order.
    @ivar recent: UIDs that are \\Recent for this session.
    @ivar saved: the saved search result (SEARCHRES), as UIDs.
    """

    def __init__(self, folder: Any, name: str, readOnly: bool, rev2: bool = False) -> None:
        self.folder = folder
        self.name = name
        self.readOnly = readOnly
        self.rev2 = rev2
        self.recent: set[int] = set()
        self.saved: set[int] = set()
        self.messages: list[Any] = []
        self.uids: list[int] = []
        self.version = -1
        self._syncing = False

    def load(self) -> Deferred:
        """
        Look at the folder (claiming \\Recent when read-write).

        @return: a Deferred firing with this mailbox.
        """
        folder = self.folder
        d = folder.refresh()
        if not self.readOnly:
            d.addCallback(lambda _: folder.claimRecent())
            d.addCallback(self.recent.update)

        def loaded(_: object) -> SelectedMailbox:
            self.messages = list(folder.messages)
            self.uids = [m.uid for m in self.messages]
            self.version = folder.version
            return self
        return d.addCallback(loaded)

    @property
    def exists(self) -> int:
        return len(self.messages)

    def close(self) -> None:
        """
        The session is done with the mailbox.
        """

    # Flags

    def flagsOf(self, message: Any) -> list[bytes]:
        flags = []
        for letter in message.flags:
            flag = LETTER_FLAGS.get(letter)
            if flag is None and "a" <= letter <= "z":
                keyword = self.folder.keywordOf(letter)
                flag = keyword.encode("ascii", "replace") if keyword else None
            if flag is not None:
                flags.append(flag)
        if not self.rev2 and message.uid in self.recent:
            flags.append(b"\\Recent")
        return flags

    def flagsResponse(self, message: Any) -> bytes:
        return flagList(self.flagsOf(message))

    def definedFlags(self) -> list[bytes]:
        return [b"\\Answered", b"\\Flagged", b"\\Deleted", b"\\Seen", b"\\Draft", b"$Forwarded",
                *(k.encode("ascii", "replace") for k in self.folder.keywords())]

    # Numbers

    def seqOf(self, uid: int) -> int | None:
        index = bisect.bisect_left(self.uids, uid)
        if index < len(self.uids) and self.uids[index] == uid:
            return index + 1
        return None

    def resolve(self, numbers: SequenceSet, uid: bool) -> list[tuple[int, Any]]:
        """
        The C{(sequence number, message)} pairs C{numbers} names, in order.

        @raise Bad: a message sequence number past the last message.
        """
        messages, uids = self.messages, self.uids
        if numbers.saved:
            return [(i + 1, messages[i]) for i, u in enumerate(uids) if u in self.saved]
        if not messages:
            return []
        chosen: set[int] = set()
        if uid:
            largest = uids[-1]
            for low, high in numbers.bounds(largest):
                start = bisect.bisect_left(uids, low)
                end = bisect.bisect_right(uids, high)
                chosen.update(range(start, end))
        else:
            count = len(messages)
            for low, high in numbers.bounds(count):
                if high > count:
                    raise Bad(b"Invalid message sequence number")
                chosen.update(range(low - 1, high))
        return [(i + 1, messages[i]) for i in sorted(chosen)]

    def current(self, message: Any) -> Any:
        """
        The folder's latest knowledge of C{message} (or C{message}, gone).
        """
        return self.folder.byUID.get(message.uid, message)

    def replace(self, changed: Iterable[Any]) -> None:
        """
        This session changed these messages: the view takes them as they
        are now (so they are not reported again as others' changes).
        """
        for message in changed:
            seq = self.seqOf(message.uid)
            if seq is not None:
                self.messages[seq - 1] = message

    # Updates

    def sync(self, allowExpunge: bool = True) -> Deferred:
        """
        Catch up with the folder.

        @return: a Deferred of the untagged responses telling the client.
        """
        if self._syncing:               # a change made while syncing (claiming \Recent) calls back
            return succeed([])
        self._syncing = True

        def done(result: object) -> object:
            self._syncing = False
            return result
        return self.folder.refresh().addCallback(self._claim, allowExpunge).addBoth(done)

    def _claim(self, changed: object, allowExpunge: bool) -> Any:
        folder = self.folder
        if folder.version == self.version:
            return []
        last = self.uids[-1] if self.uids else 0
        if not self.readOnly and folder.messages and folder.messages[-1].uid > last:
            def claimed(uids: list[int]) -> list[bytes]:
                self.recent.update(uids)
                return self._updates(allowExpunge)
            return folder.claimRecent().addCallback(claimed)
        return self._updates(allowExpunge)

    def _updates(self, allowExpunge: bool) -> list[bytes]:
        folder = self.folder
        current = folder.byUID
        out = []
        complete = True
        gone = [i for i, uid in enumerate(self.uids) if uid not in current]
        if gone:
            if allowExpunge:
                for index in reversed(gone):
                    out.append(b"* %d EXPUNGE\r\n" % (index + 1))
                    self.recent.discard(self.uids[index])
                    del self.messages[index]
                    del self.uids[index]
            else:
                complete = False
        for index, message in enumerate(self.messages):
            now = current.get(message.uid)
            if now is not None and now.flags != message.flags:
                self.messages[index] = now
                out.append(b"* %d FETCH (UID %d FLAGS %s)\r\n" % (index + 1, now.uid, self.flagsResponse(now)))
        last = self.uids[-1] if self.uids else 0
        fresh = [m for m in folder.messages if m.uid > last]
        if fresh:
            self.messages.extend(fresh)
            self.uids.extend(m.uid for m in fresh)
            out.append(b"* %d EXISTS\r\n" % len(self.messages))
            if not self.rev2:
                out.append(b"* %d RECENT\r\n" % len(self.recent))
        if complete:
            self.version = folder.version
        return out

    def expungeDeleted(self, uids: set[int] | None = None) -> Deferred:
        """
        Remove the messages flagged \\Deleted (of C{uids} only, if given).

        @return: a Deferred of their C{EXPUNGE} responses.
        """
        doomed = [m.uid for m in self.messages if "T" in self.current(m).flags
                  and (uids is None or m.uid in uids)]
        if not doomed:
            return succeed([])
        return self.folder.expunge(doomed).addCallback(lambda _: self.sync(allowExpunge=True))
