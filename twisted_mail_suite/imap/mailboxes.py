# -*- test-case-name: tests.imap.test_mailboxes -*-
"""
Commands on mailboxes as wholes: ENABLE, SELECT/EXAMINE, CREATE, DELETE,
RENAME, SUBSCRIBE, UNSUBSCRIBE and APPEND (flag list and date optional,
UIDPLUS's C{APPENDUID}).
"""
from __future__ import annotations

from typing import Any

from .connection import Handler
from .grammar import Arguments, parseDateTime
from .mailbox import flagLetters
from .mutf7 import MUTF7Error, storedName, wireName
from .responses import Bad, astring, flagList

__all__ = ["append", "create", "delete", "enable", "examine", "mailboxName", "rename", "select",
           "subscribe", "unsubscribe"]


def mailboxName(ctx: Any, args: Arguments) -> str:
    """
    The next argument as a stored mailbox name.
    """
    raw = args.astring("mailbox name")
    try:
        return storedName(raw, ctx.core.rev2)
    except MUTF7Error:
        raise Bad(b"Invalid mailbox name encoding.") from None


def enable(ctx: Any, perform: Any, args: Arguments) -> Handler:
    names = []
    while args.more:
        names.append(args.atom("capability").upper())
    if not names:
        raise Bad(b"Missing capability.")
    if ctx.core.mailbox is not None:
        raise Bad(b"ENABLE is not valid with a mailbox selected.")
    enabled = []
    if b"IMAP4REV2" in names and not ctx.core.rev2:
        ctx.core.rev2 = True
        enabled.append(b"IMAP4rev2")
    yield b"* ENABLED" + b"".join(b" " + name for name in enabled) + b"\r\n"
    return b"OK Enabled."


def select(ctx: Any, perform: Any, args: Arguments) -> Handler:
    return (yield from _open(ctx, perform, args, readOnly=False))


def examine(ctx: Any, perform: Any, args: Arguments) -> Handler:
    return (yield from _open(ctx, perform, args, readOnly=True))


def _open(ctx: Any, perform: Any, args: Arguments, readOnly: bool) -> Handler:
    name = mailboxName(ctx, args)
    if args.more:                                        # (CONDSTORE) etc.: no parameters are supported
        args.list("select parameters")
    args.end()
    core = ctx.core
    if core.mailbox is not None:
        ctx.leaveMailbox()
        if core.rev2:
            yield b"* OK [CLOSED] Previous mailbox closed.\r\n"
    mailbox = yield perform.account.select(name, rw=not readOnly)
    ctx.enterMailbox(mailbox)
    rev2 = core.rev2
    flags = flagList(mailbox.definedFlags())
    permanent = b"()" if readOnly else flagList([*mailbox.definedFlags(), b"\\*"])
    lines = [b"* %d EXISTS\r\n" % mailbox.exists]
    if not rev2:
        lines.append(b"* %d RECENT\r\n" % len(mailbox.recent))
    lines.append(b"* FLAGS %s\r\n" % flags)
    lines.append(b"* OK [PERMANENTFLAGS %s] Flags permitted.\r\n" % permanent)
    if not rev2:
        unseen = next((i + 1 for i, m in enumerate(mailbox.messages) if "S" not in m.flags), None)
        if unseen is not None:
            lines.append(b"* OK [UNSEEN %d] First unseen.\r\n" % unseen)
    lines.append(b"* OK [UIDVALIDITY %d] UIDs valid.\r\n" % mailbox.folder.uidValidity)
    lines.append(b"* OK [UIDNEXT %d] Predicted next UID.\r\n" % mailbox.folder.uidNext)
    if rev2:
        attributes = yield perform.account.attributesOf(mailbox.name)
        lines.append(b'* LIST (%s) "." %s\r\n' % (b" ".join(attributes),
                                                  astring(wireName(mailbox.name, True), True)))
    yield b"".join(lines)
    return b"OK [READ-ONLY] Examine completed." if readOnly else b"OK [READ-WRITE] Select completed."


def create(ctx: Any, perform: Any, args: Arguments) -> Handler:
    name = mailboxName(ctx, args)
    args.end()
    yield perform.account.create(name)
    return b"OK Create completed."


def delete(ctx: Any, perform: Any, args: Arguments) -> Handler:
    name = mailboxName(ctx, args)
    args.end()
    mailbox = ctx.core.mailbox
    if mailbox is not None and mailbox.name == perform.account.folders.check(name):
        ctx.leaveMailbox()
    yield perform.account.delete(name)
    return b"OK Delete completed."


def rename(ctx: Any, perform: Any, args: Arguments) -> Handler:
    old = mailboxName(ctx, args)
    new = mailboxName(ctx, args)
    args.end()
    yield perform.account.rename(old, new)
    return b"OK Rename completed."


def subscribe(ctx: Any, perform: Any, args: Arguments) -> Handler:
    name = mailboxName(ctx, args)
    args.end()
    yield perform.account.subscribe(name)
    return b"OK Subscribe completed."


def unsubscribe(ctx: Any, perform: Any, args: Arguments) -> Handler:
    name = mailboxName(ctx, args)
    args.end()
    yield perform.account.unsubscribe(name)
    return b"OK Unsubscribe completed."


def append(ctx: Any, perform: Any, args: Arguments) -> Handler:
    """
    C{APPEND mailbox [(flags)] [date-time] message}.
    """
    name = mailboxName(ctx, args)
    flags: list = []
    date = None
    if isinstance(args.peek(), list):
        flags = args.list("flag list")
    if len(args.tokens) - args.index == 2:
        date = parseDateTime(args.astring("date-time"))
    message = args.astring("message")
    args.end()
    if any(not isinstance(flag, bytes) for flag in flags):
        raise Bad(b"Invalid flag list.")
    folder = yield perform.account.folder(name)
    letters = yield from flagLetters(folder, flags, create=True)
    uid = yield folder.append(message, letters, date)
    return b"OK [APPENDUID %d %d] Append completed." % (folder.uidValidity, uid)
