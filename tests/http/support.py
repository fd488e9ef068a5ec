# -*- test-case-name: tests.http.test_channel -*-
"""
Shared helpers of the HTTP tests: a connection to the suite's HTTP
factory over a C{StringTransport} (unit tests, the suite's clock), a
parser of the responses it wrote, and a blocking client for the real
port (run in a thread by the integration tests).
"""
from __future__ import annotations

import base64
import http.client
import json
import ssl
from dataclasses import dataclass, field
from typing import Any, Mapping

from twisted.internet.address import IPv4Address

from ..fakes import makeSuite, peerTransport


@dataclass
class Response:
    status: int
    headers: dict[str, list[str]]
    body: bytes
    cookies: dict[str, str] = field(default_factory=dict)

    def header(self, name: str) -> str | None:
        values = self.headers.get(name.lower())
        return values[0] if values else None

    def json(self) -> Any:
        return json.loads(self.body)


def parseResponses(data: bytes) -> list[Response]:
    """
    The HTTP/1.1 responses in C{data} (each with a Content-Length).
    """
    found = []
    while data:
        head, _, rest = data.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ")[1])
        headers: dict[str, list[str]] = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers.setdefault(name.strip().lower(), []).append(value.strip())
        length = int(headers.get("content-length", ["0"])[0])
        found.append(Response(status, headers, rest[:length], _cookies(headers)))
        data = rest[length:]
    return found


def _cookies(headers: Mapping[str, list[str]]) -> dict[str, str]:
    cookies = {}
    for value in headers.get("set-cookie", []):
        name, _, rest = value.partition("=")
        cookies[name] = rest.split(";", 1)[0]
    return cookies


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode("ascii")


class Connection:
    """
    One client connection to C{factory} over a C{StringTransport}.
    """

    def __init__(self, factory: Any, host: str = "127.0.0.1") -> None:
        self.factory = factory
        self.transport = peerTransport(host)
        self.channel = factory.buildProtocol(IPv4Address("TCP", host, 40000))
        self.channel.makeConnection(self.transport)
        self.lost = False

    def send(self, data: bytes) -> None:
        self.channel.dataReceived(data)

    def request(self, method: str, path: str, headers: Mapping[str, str] | None = None,
                body: bytes = b"") -> None:
        lines = [f"{method} {path} HTTP/1.1", "Host: localhost"]
        lines += [f"{name}: {value}" for name, value in (headers or {}).items()]
        if body:
            lines.append(f"Content-Length: {len(body)}")
        self.send("\r\n".join(lines).encode("latin-1") + b"\r\n\r\n" + body)

    def responses(self) -> list[Response]:
        data = self.transport.value()
        self.transport.clear()
        return parseResponses(data)

    def response(self) -> Response:
        found = self.responses()
        assert len(found) == 1, found
        return found[0]

    def closeIfAsked(self) -> bool:
        """
        If the server closed the connection, tell the channel it is gone.
        """
        if self.transport.disconnecting and not self.lost:
            self.lost = True
            from twisted.internet.error import ConnectionDone
            from twisted.python.failure import Failure
            self.channel.connectionLost(Failure(ConnectionDone()))
        return self.lost


def unitSuite(testCase: Any, **overrides: Any) -> Any:
    """
    A suite on a C{MemoryReactorClock} (L{makeSuite}) with users alice
    (an admin) and bob; its HTTP factory is C{suite.factories["http"]}.
    """
    overrides.setdefault("http.admins", ["alice"])
    overrides.setdefault("auth.failure_delay", 1.0)
    return makeSuite(testCase, **overrides)


def deliver(suite: Any, user: str, message: bytes) -> Any:
    """
    Put C{message} into C{user}'s mailbox through the suite's store.
    """
    delivery = suite.store.beginDelivery([user])
    delivery.write(message)
    return delivery.commit()


class Client:
    """
    A blocking HTTP client of a real port (run it in a thread).
    """

    def __init__(self, port: int, context: ssl.SSLContext | None = None) -> None:
        self.port = port
        self.context = context

    def connect(self) -> http.client.HTTPConnection:
        if self.context is not None:
            return http.client.HTTPSConnection("127.0.0.1", self.port, timeout=30, context=self.context)
        return http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)

    def request(self, method: str, path: str, body: Any = None, headers: Mapping[str, str] | None = None,
                auth: tuple[str, str] | None = None, cookie: str | None = None) -> Response:
        connection = self.connect()
        try:
            sent = dict(headers or {})
            if auth is not None:
                sent["Authorization"] = basic(*auth)
            if cookie is not None:
                sent["Cookie"] = cookie
            if isinstance(body, (dict, list)):
                body = json.dumps(body).encode("utf-8")
                sent.setdefault("Content-Type", "application/json")
            connection.request(method, path, body=body, headers=sent)
            answer = connection.getresponse()
            headers_: dict[str, list[str]] = {}
            for name, value in answer.getheaders():
                headers_.setdefault(name.lower(), []).append(value)
            return Response(answer.status, headers_, answer.read(), _cookies(headers_))
        finally:
            connection.close()
