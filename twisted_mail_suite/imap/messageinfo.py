# -*- test-case-name: tests.imap.test_fetch -*-
"""
What IMAP learns by reading a message, read once and kept in the suite's
L{MessageCache} under the message's identity (its C{unique} and size:
stored content never changes under its identity): the
header block and its fields (for ENVELOPE, header sections and SEARCH),
the ENVELOPE itself, and the MIME structure (offsets only) for
BODYSTRUCTURE and part sections.  And the one place message content is
streamed from.  Opening content is a folder call answering a Deferred, so
the loaders are a handler's sub-generators (C{yield from}).
"""
from __future__ import annotations

from typing import Any, Generator, Iterator

from .mime import Header, Part, headerEnd, parseHeader, parseMessage
from .structure import envelope

__all__ = ["MessageInfo", "cacheKey", "loadFull", "loadHeader", "readAll", "streamRange", "MAX_HEADER"]

MAX_HEADER = 1024 * 1024     # a header block is read up to this; beyond, it is cut


class MessageInfo:
    """
    @ivar header: the header block, blank line included.
    @ivar headers: its fields.
    @ivar root: the MIME structure, once the whole message was read.
    """

    __slots__ = ("header", "headers", "root", "_envelopes")

    def __init__(self, header: bytes, root: Part | None = None) -> None:
        self.header = header
        self.headers: list[Header] = root.headers if root is not None else parseHeader(header)
        self.root = root
        self._envelopes: dict[bool, bytes] = {}

    def envelope(self, utf8: bool) -> bytes:
        value = self._envelopes.get(utf8)
        if value is None:
            value = self._envelopes[utf8] = envelope(self.headers, utf8)
        return value

    @property
    def weight(self) -> int:
        parts = 0
        if self.root is not None:
            stack = [self.root]
            while stack:
                part = stack.pop()
                parts += 1
                stack.extend(part.children)
                if part.message is not None:
                    stack.append(part.message)
        return 2 * len(self.header) + 200 + 300 * parts


def cacheKey(message: Any) -> tuple[Any, int]:
    """
    What the cache keeps C{message}'s information under.
    """
    return (message.unique, message.size)


def loadHeader(cache: Any, folder: Any, message: Any) -> Generator[Any, Any, MessageInfo]:
    """
    The message's header (from the cache, or read up to its blank line).

    @raise KeyError: the message is gone.
    """
    info = cache.get(cacheKey(message))
    if info is not None:
        return info  # type: ignore[no-any-return]
    content = yield folder.open(message)
    data = b""
    try:
        for chunk in content.chunks():
            data += chunk
            end = headerEnd(data)
            if end < len(data) or len(data) >= MAX_HEADER:
                break
    finally:
        content.close()
    end = headerEnd(data)
    info = MessageInfo(data[:min(end, MAX_HEADER)])
    cache.put(cacheKey(message), info, info.weight)
    return info


def readAll(folder: Any, message: Any) -> Generator[Any, Any, bytes]:
    """
    The whole message in wire form.

    @raise KeyError: the message is gone.
    """
    content = yield folder.open(message)
    try:
        return b"".join(content.chunks())
    finally:
        content.close()


def loadFull(cache: Any, folder: Any, message: Any,
             data: bytes | None = None) -> Generator[Any, Any, tuple[MessageInfo, bytes]]:
    """
    The message's structure and content (C{data} if already read).

    @raise KeyError: the message is gone.
    """
    if data is None:
        data = yield from readAll(folder, message)
    info = cache.get(cacheKey(message))
    if info is None or info.root is None:
        root = parseMessage(data)
        info = MessageInfo(data[:root.bodyStart], root)
        cache.put(cacheKey(message), info, info.weight)
    return info, data


def streamRange(folder: Any, message: Any,
                partial: tuple[int, int | None] | None) -> Generator[Any, Any, Iterator[bytes]]:
    """
    A literal of the message (or the C{partial} range of it), read from
    its file a chunk at a time.  The literal's size is announced before
    reading, so if the file turns out shorter or longer than its listed
    size, it is padded with spaces or cut, to keep the stream framed.

    @raise KeyError: the message is gone (raised before anything is sent).
    """
    size = message.size
    start, length = partial if partial is not None else (0, None)
    start = min(start, size)
    count = size - start if length is None else max(0, min(length, size - start))
    content = yield folder.open(message)
    return _stream(content, start, count)


def _stream(content: Any, start: int, count: int) -> Iterator[bytes]:
    yield b"{%d}\r\n" % count
    remaining = count
    skip = start
    try:
        if remaining:
            for chunk in content.chunks():
                if skip:
                    if len(chunk) <= skip:
                        skip -= len(chunk)
                        continue
                    chunk = chunk[skip:]
                    skip = 0
                if len(chunk) >= remaining:
                    yield chunk[:remaining]
                    remaining = 0
                    break
                remaining -= len(chunk)
                yield chunk
    finally:
        content.close()
    if remaining:
        yield b" " * remaining
