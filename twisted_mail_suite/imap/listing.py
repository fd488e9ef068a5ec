# -*- test-case-name: tests.imap.test_mailboxes -*-
"""
Listing mailboxes: LIST (with LIST-EXTENDED's selection and return
options, RFC 5258, SPECIAL-USE's attributes, RFC 6154, LIST-STATUS, RFC
5819, and CHILDREN), LSUB (IMAP4rev1), NAMESPACE and STATUS.
"""
from __future__ import annotations

import re
from typing import Any, Callable

from .connection import Handler
from .grammar import Arguments, Atom
from .mailbox import SelectedMailbox
from .mutf7 import MUTF7Error, storedName, wireName
from .responses import Bad, No, astring

__all__ = ["list_", "lsub", "matcher", "namespace", "status", "statusItems"]

STATUS_ITEMS = (b"MESSAGES", b"UIDNEXT", b"UIDVALIDITY", b"UNSEEN", b"RECENT", b"SIZE", b"DELETED")


def matcher(pattern: str) -> Callable[[str], bool]:
    """
    Does a name match C{pattern} (C{*} anything, C{%} anything but the
    hierarchy delimiter; INBOX in any case)?
    """
    if pattern[:5].upper() == "INBOX":
        pattern = "INBOX" + pattern[5:]
    regex = "".join(".*" if c == "*" else "[^.]*" if c == "%" else re.escape(c) for c in pattern)
    compiled = re.compile(regex + r"\Z", re.DOTALL)
    return lambda name: compiled.match(name) is not None


def _patternText(ctx: Any, raw: bytes) -> str:
    try:
        return storedName(raw, ctx.core.rev2) if raw else ""
    except MUTF7Error:
        raise Bad(b"Invalid mailbox name encoding.") from None


def list_(ctx: Any, perform: Any, args: Arguments) -> Handler:
    """
    C{LIST [(selection)] reference (pattern | (patterns)) [RETURN (options)]}.
    """
    selection: set[bytes] = set()
    if isinstance(args.peek(), list):
        selection = {bytes(o).upper() for o in args.list("selection options") if isinstance(o, bytes)}
    reference = _patternText(ctx, args.astring("reference"))
    token = args.peek()
    if isinstance(token, list):
        patterns = [_patternText(ctx, bytes(p)) for p in args.list("patterns") if isinstance(p, bytes)]
    else:
        patterns = [_patternText(ctx, args.astring("pattern"))]
    returns: set[bytes] = set()
    statusWanted: list[bytes] = []
    if args.more:
        if args.atom("RETURN").upper() != b"RETURN":
            raise Bad(b"Expected RETURN.")
        options = args.list("return options")
        i = 0
        while i < len(options):
            option = options[i]
            if not isinstance(option, Atom):
                raise Bad(b"Invalid return option.")
            if option.upper() == b"STATUS" and i + 1 < len(options) and isinstance(options[i + 1], list):
                statusWanted = statusItems(options[i + 1])
                i += 1
            returns.add(option.upper())
            i += 1
    args.end()
    unknown = selection - {b"SUBSCRIBED", b"SPECIAL-USE", b"RECURSIVEMATCH", b"REMOTE"}
    if unknown or (b"RECURSIVEMATCH" in selection and selection <= {b"RECURSIVEMATCH", b"REMOTE"}):
        raise Bad(b"Invalid selection options.")
    if patterns == [""]:
        yield b'* LIST (\\Noselect) "." ""\r\n'
        return b"OK List completed."
    rev2 = ctx.core.rev2
    account = perform.account
    names = yield account.folders.names()
    subscribed = yield account.folders.subscriptions()
    matchers = [matcher(reference + p) for p in patterns]
    wantSubscribed = b"SUBSCRIBED" in selection or b"SUBSCRIBED" in returns
    if b"SUBSCRIBED" in selection:
        candidates = subscribed
    else:
        candidates = _withParents(names)
    out = []
    for name in candidates:
        if not any(m(name) for m in matchers):
            continue
        exists = name in names
        attributes = account.attributes(name, names) if exists else []
        if not exists:
            attributes = [b"\\NonExistent"] if b"SUBSCRIBED" in selection else [b"\\Noselect", b"\\HasChildren"]
        if b"SPECIAL-USE" in selection and not any(a in attributes for a in
                                                   (b"\\Sent", b"\\Drafts", b"\\Trash", b"\\Junk", b"\\Archive")):
            continue
        if wantSubscribed and name in subscribed:
            attributes.append(b"\\Subscribed")
        out.append(b'* LIST (%s) "." %s\r\n' % (b" ".join(attributes), astring(wireName(name, rev2), rev2)))
        if statusWanted and exists:
            out.append((yield from _statusLine(ctx, account, name, statusWanted)))
    yield b"".join(out)
    return b"OK List completed."


def _withParents(names: list[str]) -> list[str]:
    """
    The names, and those implied by the hierarchy but missing (a folder
    C{a.b} made by another program without C{a}).
    """
    known = set(names)
    out = list(names)
    for name in names:
        parts = name.split(".")
        for depth in range(1, len(parts)):
            parent = ".".join(parts[:depth])
            if parent not in known:
                known.add(parent)
                out.append(parent)
    return out


def lsub(ctx: Any, perform: Any, args: Arguments) -> Handler:
    reference = _patternText(ctx, args.astring("reference"))
    pattern = _patternText(ctx, args.astring("pattern"))
    args.end()
    match = matcher(reference + pattern)
    rev2 = ctx.core.rev2
    subscribed = yield perform.account.folders.subscriptions()
    out = [b'* LSUB () "." %s\r\n' % astring(wireName(name, rev2), rev2) for name in subscribed if match(name)]
    yield b"".join(out)
    return b"OK Lsub completed."


def namespace(ctx: Any, perform: Any, args: Arguments) -> Handler:
    args.end()
    yield b'* NAMESPACE (("" ".")) NIL NIL\r\n'
    return b"OK Namespace completed."


def statusItems(tokens: list) -> list[bytes]:
    items = []
    for token in tokens:
        if not isinstance(token, Atom) or token.upper() not in STATUS_ITEMS:
            raise Bad(b"Invalid status item.")
        items.append(token.upper())
    if not items:
        raise Bad(b"Missing status items.")
    return items


def _statusLine(ctx: Any, account: Any, name: str, items: list[bytes]) -> Handler:
    folder = yield account.folder(name)
    yield folder.refresh()
    messages = folder.messages
    selected = ctx.core.mailbox
    values = {
        b"MESSAGES": len(messages),
        b"UIDNEXT": folder.uidNext,
        b"UIDVALIDITY": folder.uidValidity,
        b"UNSEEN": sum(1 for m in messages if "S" not in m.flags),
        b"RECENT": len(selected.recent) if isinstance(selected, SelectedMailbox) and selected.name == name
        else sum(1 for m in messages if m.recent),
        b"SIZE": sum(m.size for m in messages),
        b"DELETED": sum(1 for m in messages if "T" in m.flags),
    }
    rev2 = ctx.core.rev2
    return b"* STATUS %s (%s)\r\n" % (astring(wireName(name, rev2), rev2),
                                      b" ".join(b"%s %d" % (item, values[item]) for item in items))


def status(ctx: Any, perform: Any, args: Arguments) -> Handler:
    name = _patternText(ctx, args.astring("mailbox name"))
    items = statusItems(args.list("status items"))
    args.end()
    exists = yield perform.account.folders.exists(name)
    if not exists:
        raise No(b"Mailbox doesn't exist.", b"NONEXISTENT")
    yield (yield from _statusLine(ctx, perform.account, perform.account.folders.check(name), items))
    return b"OK Status completed."
