# -*- test-case-name: tests.test_service -*-
"""
The server certificate: the configured pair, or a self-signed one for the
hostname generated into C{<data_dir>/tls/} on first start and reused after.
"""
from __future__ import annotations

import datetime
import ipaddress
import os

from twisted.internet import ssl

from ..config import Config


class ServerTLS:
    """
    The suite's server certificate and TLS options, shared by every
    protocol: built without I/O, made ready by L{ensure} at start (the
    certificate generated if needed, the options loaded).

    @ivar options: the server context factory for STARTTLS/STLS, or
        L{None} before start and when C{tls.starttls} is off (implicit-TLS
        listeners work either way).
    """

    def __init__(self, config: Config) -> None:
        self._config = config
        self.certPath, self.keyPath = certificatePaths(config)
        self.options: ssl.CertificateOptions | None = None

    def ensure(self) -> None:
        """
        Generate the self-signed pair if needed and load the options.
        """
        self.certPath, self.keyPath = ensureCertificate(self._config)
        if self._config.tls.starttls and self.options is None:
            self.options = serverOptions(self.certPath, self.keyPath)

    def endpoint(self, description: str) -> str:
        """
        C{description} with our certificate for an C{ssl:} endpoint.
        """
        return withCertificate(description, self.certPath, self.keyPath)


def certificatePaths(config: Config) -> tuple[str, str]:
    if config.tls.cert and config.tls.key:
        return config.tls.cert, config.tls.key
    folder = os.path.join(config.data_dir, "tls")
    return os.path.join(folder, "cert.pem"), os.path.join(folder, "key.pem")


def ensureCertificate(config: Config) -> tuple[str, str]:
    """
    @return: C{(certPath, keyPath)}, generating a self-signed pair if the
        config names none and none was generated before.
    """
    certPath, keyPath = certificatePaths(config)
    if config.tls.cert and config.tls.key:
        return certPath, keyPath
    if os.path.exists(certPath) and os.path.exists(keyPath):
        return certPath, keyPath
    certPEM, keyPEM = selfSignedPEM(config.hostname)
    os.makedirs(os.path.dirname(keyPath), mode=0o700, exist_ok=True)
    fd = os.open(keyPath, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(keyPEM)
    with open(certPath, "wb") as f:
        f.write(certPEM)
    return certPath, keyPath


def selfSignedPEM(hostname: str) -> tuple[bytes, bytes]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, hostname)])
    now = datetime.datetime.now(datetime.timezone.utc)
    names = [x509.DNSName(hostname), x509.DNSName("localhost"),
             x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.IPAddress(ipaddress.ip_address("::1"))]
    cert = (
        x509.CertificateBuilder()
        .subject_name(name).issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=3650))
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    return (cert.public_bytes(serialization.Encoding.PEM),
            key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                              serialization.NoEncryption()))


def serverOptions(certPath: str, keyPath: str) -> ssl.CertificateOptions:
    """
    The TLS server options for STARTTLS/STLS and implicit-TLS listeners.
    """
    with open(certPath, "rb") as f:
        certPEM = f.read()
    with open(keyPath, "rb") as f:
        keyPEM = f.read()
    return ssl.PrivateCertificate.loadPEM(certPEM + b"\n" + keyPEM).options()


def _escape(path: str) -> str:
    return path.replace("\\", "\\\\").replace(":", "\\:").replace("=", "\\=")


def withCertificate(description: str, certPath: str, keyPath: str) -> str:
    """
    Give an C{ssl:} endpoint string our certificate unless it names one.
    """
    if not description.lower().startswith("ssl:") or "privatekey=" in description.lower():
        return description
    return f"{description}:privateKey={_escape(keyPath)}:certKey={_escape(certPath)}"
