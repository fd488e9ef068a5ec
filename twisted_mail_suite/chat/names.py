# -*- test-case-name: tests.chat.test_names -*-
"""
When two chat names are the same name, without I/O.

L{nameKey} is the one normalisation of the chat: every name (a nick, a
registered user's name, a C{/msg} target, a room) is compared, reserved,
stored and looked up by its key.  It follows the PRECIS UsernameCaseMapped
profile (RFC 8265): width mapping and compatibility forms (NFKC: a
fullwidth C{ｓａｍ} is C{sam}), case mapping by Unicode full case folding
(C{SAM} and C{ſam}, with a long s, are C{sam}; C{STRASSE} is C{straße}),
and a final NFKC so the key is stable (C{nameKey(nameKey(x)) == nameKey(x)}).

L{skeleton} catches what the key does not: letters of another script that
look like Latin ones (Cyrillic C{ѕаm}, Greek C{Ѕαm}) and accents (C{sàm}).
It is used for one thing only: a non-ASCII nick whose skeleton is a
registered user's name is reserved for that user, as the name itself is
(L{lookupKeys}).  This is a small, conservative subset of Unicode's
confusables (UTS #39) for the scripts seen in impersonation — Cyrillic,
Greek, Armenian and Latin look-alikes — and not the whole table: ASCII
nicks are never mapped (so C{sam1} and C{saml} stay distinct names), and a
false match only ever refuses a non-ASCII nick that looks like a
registered name, which is the point.
"""
from __future__ import annotations

import unicodedata

__all__ = ["lookupKeys", "nameKey", "skeleton"]


def nameKey(name: str) -> str:
    """
    The key a name is compared by: NFKC, full case folding, NFKC.
    """
    if name.isascii():
        return name.lower()         # the same result, without the tables
    return unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", name).casefold())


# Non-Latin letters (before case folding, so that the capital and the
# small letter each map to what they look like) -> the Latin letter.
_LOOKALIKES = str.maketrans({
    # Cyrillic capitals and small letters
    "А": "A", "В": "B", "С": "C", "Е": "E", "Н": "H", "І": "I", "Ј": "J", "К": "K", "М": "M",
    "О": "O", "Р": "P", "Ѕ": "S", "Т": "T", "Х": "X", "У": "Y", "Ү": "Y", "Ԛ": "Q", "Ԝ": "W",
    "Ӏ": "l", "а": "a", "с": "c", "ԁ": "d", "е": "e", "һ": "h", "і": "i", "ј": "j", "ӏ": "l",
    "о": "o", "р": "p", "ԛ": "q", "ѕ": "s", "ԝ": "w", "х": "x", "у": "y", "ү": "y",
    # Greek
    "Α": "A", "Β": "B", "Ε": "E", "Ζ": "Z", "Η": "H", "Ι": "I", "Κ": "K", "Μ": "M", "Ν": "N",
    "Ο": "O", "Ρ": "P", "Τ": "T", "Υ": "Y", "Χ": "X", "α": "a", "ι": "i", "κ": "k", "ν": "v",
    "ο": "o", "ρ": "p", "υ": "u", "χ": "x", "ϲ": "c", "ϳ": "j", "Ϲ": "C",
    # Armenian
    "Օ": "O", "Ս": "U", "օ": "o", "ս": "u", "հ": "h", "ց": "g",
    # Latin letters outside ASCII that read as ASCII ones
    "ı": "i", "ȷ": "j", "ɑ": "a", "ɡ": "g", "ɩ": "i", "ʀ": "R", "ʏ": "Y", "ℓ": "l",
})


def skeleton(name: str) -> str:
    """
    What C{name} looks like, roughly: compatibility forms folded (NFKC),
    accents dropped, look-alike letters of other scripts mapped to the
    Latin ones, then L{nameKey}.  An ASCII name is its own key.
    """
    if name.isascii():
        return name.lower()
    decomposed = unicodedata.normalize("NFD", unicodedata.normalize("NFKC", name))
    bare = "".join(c for c in decomposed if not unicodedata.combining(c))
    return nameKey(bare.translate(_LOOKALIKES))


def lookupKeys(name: str) -> tuple[str, ...]:
    """
    The names to look up in the users database to find who owns C{name}:
    the name as given, its key, and for a non-ASCII name its skeleton
    (each once, in that order).
    """
    keys = [name]
    for candidate in (nameKey(name), skeleton(name) if not name.isascii() else None):
        if candidate and candidate not in keys:
            keys.append(candidate)
    return tuple(keys)
