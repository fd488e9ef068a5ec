# -*- test-case-name: tests.net.test_tls,tests.test_service -*-
"""
The server's TLS: the configured certificate, or one signed by a local CA
generated into C{<data_dir>/tls/} on first start (L{certificates}); one
set of options for STARTTLS/STLS and every implicit-TLS (C{ssl:})
listener, with a modern default: TLS 1.2 and 1.3 only, and in TLS 1.2
only ECDHE key exchange with AES-GCM or ChaCha20-Poly1305 (Mozilla's
"intermediate" profile, less the DHE suites, for which we keep no
parameters).  TLS 1.3's suites are all AEAD and are left to OpenSSL.
"""
from __future__ import annotations

import os
import re
from typing import Any

from twisted.internet import ssl
from twisted.internet.endpoints import SSL4ServerEndpoint, serverFromString
from twisted.internet.interfaces import IStreamServerEndpoint
from twisted.logger import Logger

from ..config import Config
from .certificates import LocalCertificates

__all__ = ["CIPHERS", "ServerTLS", "certificatePaths", "serverOptions", "withCertificate"]

CIPHERS = ":".join([
    "ECDHE-ECDSA-AES128-GCM-SHA256", "ECDHE-RSA-AES128-GCM-SHA256",
    "ECDHE-ECDSA-AES256-GCM-SHA384", "ECDHE-RSA-AES256-GCM-SHA384",
    "ECDHE-ECDSA-CHACHA20-POLY1305", "ECDHE-RSA-CHACHA20-POLY1305",
])
_ACCEPTABLE = ssl.AcceptableCiphers.fromOpenSSLCipherString(CIPHERS)
_PEM_CERTIFICATE = re.compile(rb"-----BEGIN CERTIFICATE-----\r?\n.+?\r?\n-----END CERTIFICATE-----", re.DOTALL)
_OUR_SSL_OPTIONS = {"port", "interface", "backlog", "privatekey", "certkey", "extracertchain"}


class ServerTLS:
    """
    The suite's server certificate and TLS options, shared by every
    protocol: built without I/O, made ready by L{ensure} at start (the
    certificate generated or renewed if needed, the options loaded).

    @ivar certPath: the served certificate (its chain may follow it in the
        file).
    @ivar keyPath: its key.
    @ivar caPath: the local CA's certificate when the suite made its own
        (L{None} for a configured pair).
    @ivar options: the server context factory for STARTTLS/STLS, or
        L{None} before start and when C{tls.starttls} is off.
    @ivar listenOptions: the server context factory of implicit-TLS
        listeners (L{None} before start).
    """

    log = Logger()

    def __init__(self, config: Config) -> None:
        self._config = config
        self.certPath, self.keyPath = certificatePaths(config)
        configured = bool(config.tls.cert and config.tls.key)
        self._local = None if configured else LocalCertificates(os.path.dirname(self.certPath), config.hostname)
        self.caPath: str | None = None if self._local is None else self._local.caPath
        self.options: ssl.CertificateOptions | None = None
        self.listenOptions: ssl.CertificateOptions | None = None

    @property
    def trustPath(self) -> str:
        """
        The PEM file a client should trust: the local CA's certificate, or
        the configured certificate.
        """
        return self.caPath or self.certPath

    def ensure(self) -> None:
        """
        Generate or renew our own certificate if needed and load the
        options (once).
        """
        if self.listenOptions is not None:
            return
        if self._local is not None:
            replacing = os.path.exists(self.certPath)
            made = self._local.ensure()
            if made == "ca" and replacing:
                self.log.warn("New local certificate authority: clients must trust {path} again "
                              "(see docs/tls.md)", path=self.caPath)
            elif made == "ca":
                self.log.info("Made a local certificate authority: clients trust {path} (see docs/tls.md)",
                              path=self.caPath)
            elif made == "leaf":
                self.log.info("Server certificate renewed by the local CA ({path})", path=self.certPath)
        self.listenOptions = serverOptions(self.certPath, self.keyPath)
        if self._config.tls.starttls:
            self.options = self.listenOptions

    def endpoint(self, description: str) -> str:
        """
        C{description} with our certificate for an C{ssl:} endpoint.
        """
        return withCertificate(description, self.certPath, self.keyPath)

    def serverEndpoint(self, reactor: Any, description: str) -> IStreamServerEndpoint:
        """
        The endpoint to listen on for C{description}.  An C{ssl:} endpoint
        gets our TLS options (its own certificate if it names one); one
        with options we do not handle (C{sslmethod}, C{dhParameters}) is
        left to Twisted's parser, with our certificate unless it names one.
        """
        kind, *fields = _fields(description)
        if kind.lower() != "ssl":
            return serverFromString(reactor, description)
        positional = [value for value in fields if "=" not in value]
        named = {key.lower(): value for key, _, value in (f.partition("=") for f in fields if "=" in f)}
        if set(named) - _OUR_SSL_OPTIONS or len(positional) > 1:
            return serverFromString(reactor, self.endpoint(description))
        port = _unescape(positional[0] if positional else named["port"])
        if "privatekey" in named:
            keyPath = _unescape(named["privatekey"])
            options = serverOptions(_unescape(named.get("certkey", named["privatekey"])), keyPath,
                                    _unescape(named["extracertchain"]) if "extracertchain" in named else None)
        else:
            self.ensure()
            options = self.listenOptions
        return SSL4ServerEndpoint(reactor, int(port), options, backlog=int(_unescape(named.get("backlog", "50"))),
                                  interface=_unescape(named.get("interface", "")))


def certificatePaths(config: Config) -> tuple[str, str]:
    if config.tls.cert and config.tls.key:
        return config.tls.cert, config.tls.key
    folder = os.path.join(config.data_dir, "tls")
    return os.path.join(folder, "cert.pem"), os.path.join(folder, "key.pem")


def serverOptions(certPath: str, keyPath: str, chainPath: str | None = None) -> ssl.CertificateOptions:
    """
    The TLS server options for STARTTLS/STLS and implicit-TLS listeners:
    the certificate (the first in C{certPath}; those after it, and those in
    C{chainPath}, are sent as its chain), its key, TLS 1.2 or later and
    L{CIPHERS}.
    """
    with open(certPath, "rb") as f:
        certPEM = f.read()
    with open(keyPath, "rb") as f:
        keyPEM = f.read()
    chainPEM = _PEM_CERTIFICATE.findall(certPEM)[1:]
    if chainPath is not None:
        with open(chainPath, "rb") as f:
            chainPEM += _PEM_CERTIFICATE.findall(f.read())
    served = ssl.PrivateCertificate.loadPEM(certPEM + b"\n" + keyPEM)
    return ssl.CertificateOptions(
        privateKey=served.privateKey.original, certificate=served.original,
        extraCertChain=[ssl.Certificate.loadPEM(pem).original for pem in chainPEM] or None,
        acceptableCiphers=_ACCEPTABLE, raiseMinimumTo=ssl.TLSVersion.TLSv1_2)


def _escape(path: str) -> str:
    return path.replace("\\", "\\\\").replace(":", "\\:").replace("=", "\\=")


def _unescape(value: str) -> str:
    return re.sub(r"\\(.)", r"\1", value)


def _fields(description: str) -> list[str]:
    """
    Split an endpoint string on its unescaped colons (escapes kept).
    """
    fields, current, escaped = [], "", False
    for character in description:
        if escaped or character != ":":
            current += character
            escaped = not escaped and character == "\\"
        else:
            fields.append(current)
            current = ""
    return fields + [current]


def withCertificate(description: str, certPath: str, keyPath: str) -> str:
    """
    Give an C{ssl:} endpoint string our certificate unless it names one.
    """
    if not description.lower().startswith("ssl:") or "privatekey=" in description.lower():
        return description
    return f"{description}:privateKey={_escape(keyPath)}:certKey={_escape(certPath)}"
