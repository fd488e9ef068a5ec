# -*- test-case-name: tests.relay.test_integration -*-
"""
How the relay reaches a destination: C{relay.mode: smarthost} sends
everything to one server (implicit TLS, required STARTTLS, or plaintext to
loopback only; AUTH from C{smarthost_auth_file}); C{relay.mode: mx}
looks the recipient's domain up (L{twisted_mail_suite.relay.mx}) and uses
STARTTLS whenever it is offered.  Certificates are verified when
C{relay.tls_verify} is on, against the system's CAs plus C{relay.ca_file}.

L{Connector.connect} tries the servers in order and returns the first
connection that greeted, said EHLO, switched to TLS and logged in.
"""
from __future__ import annotations

import os
import re
import ssl as stdlibSSL
import stat
from typing import Any, Generator

from twisted.internet import ssl
from twisted.internet.defer import Deferred, inlineCallbacks
from twisted.internet.endpoints import TCP4ClientEndpoint, TCP6ClientEndpoint, connectProtocol, wrapClientTLS

from ..config import RelayConfig
from ..errors import ConfigError
from .client import ClientError, SMTPClient, Timeouts, handshake
from .mx import Hop, MXResolver

__all__ = ["Connector", "readCredentials", "SMARTHOST"]

SMARTHOST = "[smarthost]"


def readCredentials(path: str | None) -> tuple[str, str] | None:
    """
    C{relay.smarthost_auth_file}: one line C{user:password}; the file
    must not be readable by group or others.

    @raise ConfigError: unreadable, too open, or not C{user:password}.
    """
    if path is None:
        return None
    try:
        mode = os.stat(path).st_mode
        with open(path, encoding="utf-8") as f:
            line = f.readline().rstrip("\r\n")
    except OSError as e:
        raise ConfigError(path, "relay.smarthost_auth_file", f"cannot read: {e.strerror}") from None
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise ConfigError(path, "relay.smarthost_auth_file", "must be mode 0600 (it holds a password)")
    user, colon, password = line.partition(":")
    if not colon or not user or not password:
        raise ConfigError(path, "relay.smarthost_auth_file", 'expected one line "user:password"')
    return user, password


_PEM = re.compile(rb"-----BEGIN CERTIFICATE-----.+?-----END CERTIFICATE-----", re.DOTALL)


def trustRoot(caFile: str | None) -> Any:
    """
    The CAs to trust: the system's, plus those in C{caFile}.

    @raise ConfigError: C{caFile} cannot be read or holds no certificate.
    """
    if not caFile:
        return ssl.platformTrust()
    try:
        with open(caFile, "rb") as f:
            added = _PEM.findall(f.read())
    except OSError as e:
        raise ConfigError(caFile, "relay.ca_file", f"cannot read: {e.strerror}") from None
    if not added:
        raise ConfigError(caFile, "relay.ca_file", "no PEM certificate in it")
    system = stdlibSSL.get_default_verify_paths().cafile
    found = []
    if system and os.path.exists(system):
        with open(system, "rb") as f:
            found = _PEM.findall(f.read())
    certificates = []
    for pem in found + added:
        try:
            certificates.append(ssl.Certificate.loadPEM(pem))
        except Exception:
            continue
    return ssl.trustRootFromCertificates(certificates)


def clientTLSOptions(host: str, verify: bool, trust: Any) -> Any:
    """
    TLS options for a connection to C{host}: verified against C{trust}, or not at all.
    """
    if not verify:
        return ssl.CertificateOptions(verify=False, raiseMinimumTo=ssl.TLSVersion.TLSv1_2)
    return ssl.optionsForClientTLS(host, trustRoot=trust)


class Connector:
    """
    @param heloName: our name in EHLO.
    @param mx: the MX resolver (mode C{mx}).
    @param credentials: C{(user, password)} for the smarthost, or L{None}.
    """

    def __init__(self, reactor: Any, clock: Any, relay: RelayConfig, heloName: bytes, mx: MXResolver | None,
                 credentials: tuple[str, str] | None = None, timeouts: Timeouts = Timeouts()) -> None:
        self.reactor = reactor
        self.clock = clock
        self.relay = relay
        self.heloName = heloName
        self.mx = mx
        self.credentials = credentials
        self.timeouts = timeouts
        self.trust = trustRoot(relay.ca_file) if relay.tls_verify else None

    def destinationOf(self, address: str) -> str:
        """
        The key grouping recipients that go to the same servers.
        """
        if self.relay.mode == "smarthost":
            return SMARTHOST
        return address.rpartition("@")[2].lower().rstrip(".")

    def hops(self, key: str) -> Deferred:
        if key == SMARTHOST:
            assert self.relay.smarthost is not None and self.mx is not None
            host, _, port = self.relay.smarthost.rpartition(":")
            host = host.strip("[]")
            return self.mx.addresses(host).addCallback(
                lambda addresses: [Hop(host, address, int(port)) for address in addresses])
        assert self.mx is not None
        return self.mx.hops(key, self.relay.mx_port)

    @inlineCallbacks
    def connect(self, key: str) -> Generator[Deferred, Any, SMTPClient]:
        """
        A ready connection for destination C{key}.

        @raise ClientError: no server could be used (permanent for a null
            MX or a domain that does not exist).
        """
        hops = yield self.hops(key)
        reasons = []
        for hop in hops:
            try:
                client = yield self._open(hop, key == SMARTHOST)
                return client
            except ClientError as e:
                reasons.append(f"{hop.label}: {e.reason}")
        raise ClientError("; ".join(reasons[-2:]) or f"no server for {key}")

    @inlineCallbacks
    def _open(self, hop: Hop, smarthost: bool) -> Generator[Deferred, Any, SMTPClient]:
        relay = self.relay
        family = TCP6ClientEndpoint if ":" in hop.address else TCP4ClientEndpoint
        endpoint: Any = family(self.reactor, hop.address, hop.port, timeout=self.timeouts.connect)
        tlsMode = relay.smarthost_tls if smarthost else "starttls"
        options = None if tlsMode == "none" else clientTLSOptions(hop.host, relay.tls_verify, self.trust)
        if tlsMode == "tls":
            endpoint = wrapClientTLS(options, endpoint)
        client = SMTPClient(self.clock, self.timeouts, hop.label)
        client.secure = tlsMode == "tls"
        try:
            yield connectProtocol(endpoint, client)
        except Exception as e:
            raise ClientError(f"connect failed: {e.__class__.__name__}: {e}") from None
        try:
            yield handshake(client, self.heloName, None if client.secure else options,
                            requireTLS=smarthost and tlsMode == "starttls",
                            credentials=self.credentials if smarthost else None)
        except ClientError:
            client.transport.abortConnection()
            raise
        return client
