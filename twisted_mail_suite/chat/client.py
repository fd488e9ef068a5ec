# -*- test-case-name: tests.chat.test_client -*-
"""
C{mailsuite-chat HOST PORT}: a line-mode terminal client on Twisted's stdio,
the seed's interactive client in Twisted form.  What you type is sent a line
at a time; what the server sends is shown as it arrives, while you type.

    mailsuite-chat 127.0.0.1 7000
    mailsuite-chat --tls mail.example.test 7443
    mailsuite-chat --tls --cafile mailsuite-data/tls/cert.pem 127.0.0.1 7443
    python -m twisted_mail_suite.chat.client 127.0.0.1 7000
"""
from __future__ import annotations

import argparse
import sys
from typing import Any, BinaryIO, Callable, Sequence

from twisted.internet.defer import Deferred, inlineCallbacks
from twisted.internet.endpoints import clientFromString, connectProtocol
from twisted.internet.protocol import Protocol
from twisted.protocols.basic import LineOnlyReceiver
from twisted.python.failure import Failure


def _printable(data: bytes) -> bytes:
    """
    Keep line feeds and text; never pass a control character (an escape
    sequence from a hostile server) to the terminal.
    """
    return bytes(b if b >= 0x20 or b in (0x0A, 0x09) else 0x3F for b in data.replace(b"\r\n", b"\n"))


class ServerConnection(Protocol):
    """
    The connection to the chat server: shows what arrives.
    """

    def __init__(self, show: Callable[[bytes], object]) -> None:
        self._show = show
        self.done: Deferred = Deferred()

    def dataReceived(self, data: bytes) -> None:
        self._show(_printable(data))

    def sendLine(self, line: bytes) -> None:
        self.transport.write(line + b"\n")

    def connectionLost(self, reason: Failure) -> None:
        self._show(b"--- connection closed\n")
        self.done.callback(None)


class Keyboard(LineOnlyReceiver):
    """
    Standard input: each typed line goes to the server; end of input
    closes the connection.
    """

    delimiter = b"\n"
    MAX_LENGTH = 64 * 1024

    def __init__(self, server: ServerConnection) -> None:
        self._server = server

    def lineReceived(self, line: bytes) -> None:
        self._server.sendLine(line.rstrip(b"\r"))

    def connectionLost(self, reason: Failure) -> None:
        if self._server.transport is not None:
            self._server.transport.loseConnection()


def _writer(stream: BinaryIO) -> Callable[[bytes], None]:
    def show(data: bytes) -> None:
        stream.write(data)
        stream.flush()
    return show


@inlineCallbacks
def run(reactor: Any, endpoint: Any, stdout: BinaryIO) -> Any:
    """
    Connect to C{endpoint} (an endpoint or its description) and chat.
    """
    from twisted.internet.stdio import StandardIO

    server = ServerConnection(_writer(stdout))
    if isinstance(endpoint, str):
        endpoint = clientFromString(reactor, endpoint)
    try:
        yield connectProtocol(endpoint, server)
    except Exception as e:
        stdout.write(f"--- cannot connect: {e}\n".encode())
        stdout.flush()
        raise SystemExit(1) from None
    StandardIO(Keyboard(server), reactor=reactor)
    yield server.done


def endpointFor(host: str, port: int, tls: bool) -> str:
    """
    The client endpoint string for C{host}:C{port} (colons in IPv6 escaped).
    """
    host = host.replace(":", r"\:")
    return f"tls:{host}:{port}" if tls else f"tcp:{host}:{port}"


def trustingEndpoint(reactor: Any, host: str, port: int, cafile: str) -> Any:
    """
    A TLS client endpoint that trusts every certificate in C{cafile}, e.g.
    the suite's local CA, C{data_dir/tls/ca.pem}.
    """
    from twisted.internet.endpoints import HostnameEndpoint, wrapClientTLS
    from twisted.internet.ssl import Certificate, optionsForClientTLS, trustRootFromCertificates

    with open(cafile, "rb") as f:
        pems = f.read().split(b"-----END CERTIFICATE-----")
    authorities = [Certificate.loadPEM(pem + b"-----END CERTIFICATE-----\n")
                   for pem in pems if b"-----BEGIN CERTIFICATE-----" in pem]
    options = optionsForClientTLS(host, trustRoot=trustRootFromCertificates(authorities))
    return wrapClientTLS(options, HostnameEndpoint(reactor, host, port))


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="mailsuite-chat",
                                     description="Talk to a twisted-mail-suite chat server.")
    parser.add_argument("host")
    parser.add_argument("port", type=int)
    parser.add_argument("--tls", action="store_true", help="connect with TLS (an ssl: listener)")
    parser.add_argument("--cafile", help="with --tls: trust the PEM certificates in this file (e.g. the suite's "
                                         "local CA, data_dir/tls/ca.pem) instead of the system's")
    args = parser.parse_args(argv)
    from twisted.internet.task import react

    def start(reactor: Any) -> Any:
        if args.tls and args.cafile:
            endpoint = trustingEndpoint(reactor, args.host, args.port, args.cafile)
        else:
            endpoint = endpointFor(args.host, args.port, args.tls)
        return run(reactor, endpoint, sys.stdout.buffer)

    react(start)


if __name__ == "__main__":
    main()
