# -*- test-case-name: tests.imap.test_messages -*-
"""
Commands on the messages of the selected mailbox: STORE, COPY, MOVE
(RFC 6851), EXPUNGE, CLOSE, UNSELECT, and the UID forms (UIDPLUS's
C{COPYUID} and C{UID EXPUNGE}, RFC 4315).
"""
from __future__ import annotations

from typing import Any

from . import fetch, search
from .connection import Handler
from .grammar import Arguments, formatPairs
from .mailbox import flagLetters
from .mailboxes import mailboxName
from .responses import Bad, No

__all__ = ["close", "copy", "expunge", "move", "store", "uid", "unselect"]

READ_ONLY = No(b"Mailbox is read-only.", b"READ-ONLY")


def close(ctx: Any, perform: Any, args: Arguments) -> Handler:
    args.end()
    mailbox = perform.mailbox
    if not mailbox.readOnly:
        doomed = [m.uid for m in mailbox.messages if "T" in mailbox.current(m).flags]
        if doomed:
            yield mailbox.folder.expunge(doomed)
    ctx.leaveMailbox()
    return b"OK Close completed."


def unselect(ctx: Any, perform: Any, args: Arguments) -> Handler:
    args.end()
    ctx.leaveMailbox()
    return b"OK Unselect completed."
    yield


def expunge(ctx: Any, perform: Any, args: Arguments, uid: bool = False) -> Handler:
    uids = None
    if uid:
        uids = {m.uid for _, m in perform.mailbox.resolve(args.sequenceSet(), uid=True)}
    args.end()
    if perform.mailbox.readOnly:
        raise READ_ONLY
    updates = yield perform.mailbox.expungeDeleted(uids)
    yield b"".join(updates)
    return b"OK Expunge completed."


def store(ctx: Any, perform: Any, args: Arguments, uid: bool = False) -> Handler:
    """
    C{STORE set [+|-]FLAGS[.SILENT] (flags)}.
    """
    mailbox = perform.mailbox
    targets = mailbox.resolve(args.sequenceSet(), uid)
    item = args.atom("data item").upper()
    if args.more and isinstance(args.peek(), list):
        flags = args.list("flag list")
    else:
        flags = []
        while args.more:
            flags.append(args.atom("flag"))
    args.end()
    silent = item.endswith(b".SILENT")
    if silent:
        item = item[:-len(b".SILENT")]
    if item not in (b"FLAGS", b"+FLAGS", b"-FLAGS"):
        raise Bad(b"Invalid STORE data item.")
    if any(not isinstance(f, bytes) for f in flags):
        raise Bad(b"Invalid flag list.")
    if mailbox.readOnly:
        raise READ_ONLY
    folder = mailbox.folder
    letters = yield from flagLetters(folder, flags, create=item != b"-FLAGS")
    uids = [m.uid for _, m in targets]
    if item == b"FLAGS":
        changed = yield folder.setFlags(uids, replaceWith=letters)
    elif item == b"+FLAGS":
        changed = yield folder.setFlags(uids, add=letters)
    else:
        changed = yield folder.setFlags(uids, remove=letters)
    mailbox.replace(changed)
    if not silent:
        out = []
        for seq, message in targets:
            current = mailbox.current(message)
            out.append(b"* %d FETCH (%sFLAGS %s)\r\n" % (
                seq, b"UID %d " % current.uid if uid else b"", mailbox.flagsResponse(current)))
        yield b"".join(out)
    return b"OK Store completed."


def _transfer(ctx: Any, perform: Any, args: Arguments, uid: bool, move: bool) -> Handler:
    mailbox = perform.mailbox
    targets = mailbox.resolve(args.sequenceSet(), uid)
    name = mailboxName(ctx, args)
    args.end()
    if move and mailbox.readOnly:
        raise READ_ONLY
    destination = yield perform.account.folder(name)
    uids = [m.uid for _, m in targets if m.uid in mailbox.folder.byUID]
    if not uids:
        if targets:
            raise No(b"Some of the messages no longer exist.", b"EXPUNGEISSUED")
        return b"OK No messages."
    pairs = yield mailbox.folder.copyTo(uids, destination, move=move)
    code = b"COPYUID %d %s %s" % (destination.uidValidity, formatPairs([a for a, _ in pairs]),
                                  formatPairs([b for _, b in pairs]))
    if move:
        yield b"* OK [%s] Moved.\r\n" % code
        updates = yield mailbox.sync(allowExpunge=True)
        yield b"".join(updates)
        return b"OK Move completed."
    return b"OK [%s] Copy completed." % code


def copy(ctx: Any, perform: Any, args: Arguments, uid: bool = False) -> Handler:
    return (yield from _transfer(ctx, perform, args, uid, move=False))


def move(ctx: Any, perform: Any, args: Arguments, uid: bool = False) -> Handler:
    return (yield from _transfer(ctx, perform, args, uid, move=True))


UID_COMMANDS = {b"FETCH": fetch.fetch, b"STORE": store, b"SEARCH": search.search, b"COPY": copy,
                b"MOVE": move, b"EXPUNGE": expunge}


def uid(ctx: Any, perform: Any, args: Arguments) -> Handler:
    verb = args.atom("command").upper()
    handler = UID_COMMANDS.get(verb)
    if handler is None:
        raise Bad(b"Unknown UID command.")
    return (yield from handler(ctx, perform, args, uid=True))
