# -*- test-case-name: tests.relay.test_integration -*-
"""
Shared test pieces for the relay: a DNS zone served by twisted.names
(in memory, or on a loopback UDP port as C{relay.nameservers}), scripted
SMTP servers (answer 4xx then 250, 5xx, drop mid-DATA, stall, garbage),
and a config for a relaying suite.
"""
from __future__ import annotations

from typing import Any, Callable, Mapping, Sequence

from twisted.internet.defer import Deferred, fail
from twisted.internet.protocol import Factory, Protocol
from twisted.names import authority, dns, error, server

__all__ = ["ZoneAuthority", "FailingResolver", "ScriptedSMTP", "ScriptedFactory", "mx", "a", "aaaa",
           "serveDNS", "PLAIN"]

PLAIN = b"AUTH PLAIN AGFsaWNlAHNlY3JldA==\r\n"      # alice / secret


def mx(preference: int, name: str) -> dns.Record_MX:
    return dns.Record_MX(preference, name.encode(), ttl=60)


def a(address: str) -> dns.Record_A:
    return dns.Record_A(address, ttl=60)


def aaaa(address: str) -> dns.Record_AAAA:
    return dns.Record_AAAA(address, ttl=60)


class ZoneAuthority(authority.FileAuthority):
    """
    An authority for the zone C{test} holding C{records} (name -> records);
    other names in it do not exist (NXDOMAIN).
    """

    def __init__(self, records: Mapping[str, Sequence[Any]]) -> None:
        super().__init__(records)

    def loadFile(self, records: Mapping[str, Sequence[Any]]) -> None:  # type: ignore[override]
        self.soa = (b"test", dns.Record_SOA(mname=b"ns.test", rname=b"root.test", serial=1, refresh=1,
                                            retry=1, expire=1, minimum=1, ttl=1))
        self.records = {name.lower().encode(): list(recs) for name, recs in records.items()}
        self.records[b"test"] = [self.soa[1]]


class FailingResolver:
    """
    A resolver whose every lookup fails with C{error} (a DNS server
    failure by default).
    """

    def __init__(self, error: Exception | None = None) -> None:
        self.error = error or dns_error()
        self.lookups: list[str] = []

    def _fail(self, name: str, timeout: Any = None) -> Any:
        self.lookups.append(name)
        return fail(self.error)

    lookupMailExchange = lookupAddress = lookupIPV6Address = _fail


def dns_error() -> Exception:
    return error.DNSServerError("SERVFAIL")


def serveDNS(reactor: Any, zone: ZoneAuthority) -> Any:
    """
    Serve C{zone} on a loopback UDP port; returns the port (stop it in a cleanup).
    """
    factory = server.DNSServerFactory(authorities=[zone])
    return reactor.listenUDP(0, dns.DNSDatagramProtocol(factory), interface="127.0.0.1")


class ScriptedSMTP(Protocol):
    """
    A small SMTP server following its factory's script: C{replies} maps a
    verb (C{b"MAIL"}, C{b"RCPT"}, C{b"DATA"}, C{b"."} for the end of the
    text, C{b"EHLO"}) to the reply (or a callable of the attempt number
    and line giving one, or C{"drop"}, C{"stall"}); everything else gets
    the usual 250.
    """

    def connectionMade(self) -> None:
        self.factory.connections += 1
        self.buffer = b""
        self.inData = False
        self.text = b""
        greeting = self.factory.replies.get(b"GREETING", b"220 scripted.test ESMTP")
        if greeting == "stall":
            return
        self.transport.write(greeting + b"\r\n")

    def dataReceived(self, data: bytes) -> None:
        self.buffer += data
        while b"\r\n" in self.buffer:
            line, self.buffer = self.buffer.split(b"\r\n", 1)
            if self.inData:
                if line == b".":
                    self.inData = False
                    text, self.text = self.text, b""
                    self.answer(b".", line)
                    self.factory.received(text)
                else:
                    self.text += (line[1:] if line.startswith(b".") else line) + b"\r\n"
                    if self.factory.replies.get(b"MID-DATA") == "drop" and len(self.text) > 10:
                        self.transport.abortConnection()
                        return
                continue
            self.factory.commands.append(line)
            verb = line.split(b" ", 1)[0].split(b":", 1)[0].upper()
            self.answer(verb, line)

    def answer(self, verb: bytes, line: bytes) -> None:
        default = {b"EHLO": b"250-scripted.test\r\n250-PIPELINING\r\n250-8BITMIME\r\n250 SIZE 100000",
                   b"DATA": b"354 go ahead", b"QUIT": b"221 bye", b".": b"250 2.0.0 Ok: queued as X1"}
        reply = self.factory.replies.get(verb, default.get(verb, b"250 2.0.0 Ok"))
        if callable(reply):
            reply = reply(self.factory.connections, line)
        if verb in (b"MAIL", b"RSET"):
            self.accepted = 0
        if verb == b"RCPT" and reply[:1] == b"2":
            self.accepted = getattr(self, "accepted", 0) + 1
        if verb == b"DATA" and reply[:3] == b"354" and not getattr(self, "accepted", 0):
            reply = b"554 5.5.1 Error: no valid recipients"
        if verb == b"DATA" and reply[:3] == b"354":
            self.inData = True
        if reply == "drop":
            self.transport.abortConnection()
        elif reply == "stall":
            pass
        else:
            self.transport.write(reply + b"\r\n")
            if verb == b"QUIT":
                self.transport.loseConnection()


class ScriptedFactory(Factory):
    protocol = ScriptedSMTP

    def __init__(self, replies: Mapping[bytes, Any] | None = None) -> None:
        self.replies = dict(replies or {})
        self.connections = 0
        self.commands: list[bytes] = []
        self.messages: list[bytes] = []
        self._waiting: list[tuple[int, Deferred]] = []

    def received(self, text: bytes) -> None:
        self.messages.append(text)
        waiting, self._waiting = self._waiting, []
        for count, d in waiting:
            if len(self.messages) >= count:
                d.callback(self.messages)
            else:
                self._waiting.append((count, d))

    def whenMessages(self, count: int = 1) -> Deferred:
        """
        Fires with the messages once C{count} have been accepted.
        """
        d: Deferred = Deferred()
        if len(self.messages) >= count:
            d.callback(self.messages)
        else:
            self._waiting.append((count, d))
        return d

    def rcpts(self) -> list[bytes]:
        return [c for c in self.commands if c.upper().startswith(b"RCPT")]


def countingReply(*replies: bytes) -> Callable[[int, bytes], bytes]:
    """
    The n-th call answers C{replies[n]} (the last one repeated).
    """
    calls = [0]

    def reply(connection: int, line: bytes) -> bytes:
        calls[0] += 1
        return replies[min(calls[0], len(replies)) - 1]

    return reply
