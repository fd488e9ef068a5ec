# -*- test-case-name: tests.net.test_tls -*-
"""
The certificate the suite makes for itself when the config names none: a
small local certificate authority and a server certificate it signs, in
C{<data_dir>/tls/}.

  - C{ca.pem}: the local CA's certificate, the one file clients are told
    to trust (C{docs/tls.md}).  It is a CA (C{CA:TRUE}, path length 0) that
    can only vouch for this server's names (name constraints: the
    hostname, C{localhost}, C{127.0.0.1}, C{::1}), so neither its key nor
    anything it signs can impersonate another site to a client that
    trusts it.  Ten years.
  - C{ca-key.pem}: its key, used only to sign the server certificate,
    never to serve.  It may be moved offline: the next renewal then makes
    a new CA (and clients must trust the new C{ca.pem}).
  - C{cert.pem}, C{key.pem}: the served certificate, a leaf (C{CA:FALSE},
    C{serverAuth}, the names above), valid 397 days and renewed at start
    when it has less than 30 left, when the hostname changed, or when it
    is not signed by C{ca.pem}.  C{cert.pem} holds the leaf followed by
    the CA's certificate (the chain served), so a client told by an older
    version to trust C{cert.pem} as a CA file (curl C{--cacert}, fetchmail
    C{sslcertfile}, Python's C{cafile}) trusts the new CA through it.

Every file is written with mode 0600 and the folder is 0700, whatever the
umask.  A folder left by an older version (a self-signed C{cert.pem} that
was its own CA, and no C{ca.pem}) gets a new CA and leaf.
"""
from __future__ import annotations

import datetime
import ipaddress
import os
from dataclasses import dataclass
from typing import Any

__all__ = [
    "CA_LIFETIME", "LEAF_LIFETIME", "LocalCertificates", "RENEW_BEFORE", "serverNames",
]

CA_LIFETIME = datetime.timedelta(days=3650)
LEAF_LIFETIME = datetime.timedelta(days=397)    # the longest a browser accepts from a public CA
RENEW_BEFORE = datetime.timedelta(days=30)
_BACKDATE = datetime.timedelta(hours=1)         # clients whose clock is a little behind


def serverNames(hostname: str) -> list[str]:
    """
    The names the server certificate carries: C{hostname} (IDNA), then
    C{localhost}, C{127.0.0.1} and C{::1}, without repeats.
    """
    try:
        ipaddress.ip_address(hostname)
        first = hostname
    except ValueError:
        first = hostname.rstrip(".").lower().encode("idna").decode("ascii")
    return list(dict.fromkeys([first, "localhost", "127.0.0.1", "::1"]))


def _generalNames(names: list[str]) -> list[Any]:
    from cryptography import x509

    result: list[Any] = []
    for name in names:
        try:
            result.append(x509.IPAddress(ipaddress.ip_address(name)))
        except ValueError:
            result.append(x509.DNSName(name))
    return result


def _subtrees(names: list[str]) -> list[Any]:
    from cryptography import x509

    result: list[Any] = []
    for name in names:
        try:
            result.append(x509.IPAddress(ipaddress.ip_network(name)))   # a single address: /32 or /128
        except ValueError:
            result.append(x509.DNSName(name))
    return result


def _privateFolder(path: str) -> None:
    if os.path.isdir(path):
        return
    parent = os.path.dirname(path)
    if parent and parent != path:
        _privateFolder(parent)
    try:
        os.mkdir(path, 0o700)
    except FileExistsError:
        if os.path.isdir(path):
            return
        raise
    os.chmod(path, 0o700)


def _writePrivate(path: str, data: bytes) -> None:
    """
    Replace C{path} with C{data}, mode 0600 whatever the umask, all or
    nothing (a new file renamed over the old one).
    """
    temporary = f"{path}.{os.getpid()}.new"
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
    except BaseException:
        try:
            os.unlink(temporary)
        except FileNotFoundError:
            pass
        raise
    os.replace(temporary, path)


def _read(path: str) -> bytes | None:
    try:
        with open(path, "rb") as f:
            return f.read()
    except FileNotFoundError:
        return None


@dataclass
class LocalCertificates:
    """
    The local CA and server certificate in C{folder}, for C{hostname}.

    @ivar folder: C{<data_dir>/tls}.
    """

    folder: str
    hostname: str

    @property
    def certPath(self) -> str:
        return os.path.join(self.folder, "cert.pem")

    @property
    def keyPath(self) -> str:
        return os.path.join(self.folder, "key.pem")

    @property
    def caPath(self) -> str:
        return os.path.join(self.folder, "ca.pem")

    @property
    def caKeyPath(self) -> str:
        return os.path.join(self.folder, "ca-key.pem")

    def ensure(self, now: datetime.datetime | None = None) -> str | None:
        """
        Make or renew what is missing, expiring or wrong.

        @param now: the time to judge validity by (default: now).
        @return: L{None} if everything was in order, C{"leaf"} if the server
            certificate was renewed by the same CA, C{"ca"} if a new CA was
            made too (clients must trust the new C{ca.pem}).
        """
        from cryptography import x509
        from cryptography.hazmat.primitives import serialization

        now = now or datetime.datetime.now(datetime.timezone.utc)
        names = serverNames(self.hostname)
        caPEM, caKeyPEM = _read(self.caPath), _read(self.caKeyPath)
        ca = x509.load_pem_x509_certificate(caPEM) if caPEM else None
        if ca is not None and self._leafIsGood(ca, names, now):
            return None
        caKey = serialization.load_pem_private_key(caKeyPEM, None) if caKeyPEM else None
        made = None
        if ca is None or caKey is None or not self._caIsGood(ca, caKey, names, now):
            ca, caKey = self._newAuthority(names, now)
            made = "ca"
        self._newLeaf(ca, caKey, names, now)
        return made or "leaf"

    def _leafIsGood(self, ca: Any, names: list[str], now: datetime.datetime) -> bool:
        from cryptography import x509
        from cryptography.exceptions import InvalidSignature
        from cryptography.hazmat.primitives import serialization

        certPEM, keyPEM = _read(self.certPath), _read(self.keyPath)
        if not certPEM or not keyPEM:
            return False
        try:
            leaf = x509.load_pem_x509_certificate(certPEM)
            key = serialization.load_pem_private_key(keyPEM, None)
            leaf.verify_directly_issued_by(ca)
            constraints = leaf.extensions.get_extension_for_class(x509.BasicConstraints).value
            carried = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        except (ValueError, TypeError, x509.ExtensionNotFound, InvalidSignature):
            return False
        return (not constraints.ca
                and leaf.not_valid_after_utc - RENEW_BEFORE > now >= leaf.not_valid_before_utc
                and set(_generalNames(names)) <= set(carried)
                and _samePublicKey(leaf.public_key(), key.public_key()))

    @staticmethod
    def _caIsGood(ca: Any, caKey: Any, names: list[str], now: datetime.datetime) -> bool:
        from cryptography import x509

        try:
            constraints = ca.extensions.get_extension_for_class(x509.BasicConstraints).value
            permitted = ca.extensions.get_extension_for_class(x509.NameConstraints).value.permitted_subtrees
        except x509.ExtensionNotFound:
            return False
        return (constraints.ca
                and ca.not_valid_after_utc > now + LEAF_LIFETIME
                and set(_subtrees(names)) <= set(permitted or ())
                and _samePublicKey(ca.public_key(), caKey.public_key()))

    def _newAuthority(self, names: list[str], now: datetime.datetime) -> tuple[Any, Any]:
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.x509.oid import NameOID

        key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "twisted-mail-suite"),
            x509.NameAttribute(NameOID.COMMON_NAME, f"local CA for {names[0]} ({now:%Y-%m-%d %H:%M})"),
        ])
        ca = (
            x509.CertificateBuilder()
            .subject_name(name).issuer_name(name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - _BACKDATE)
            .not_valid_after(now + CA_LIFETIME)
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(x509.KeyUsage(
                digital_signature=False, content_commitment=False, key_encipherment=False,
                data_encipherment=False, key_agreement=False, key_cert_sign=True, crl_sign=True,
                encipher_only=False, decipher_only=False), critical=True)
            .add_extension(x509.NameConstraints(permitted_subtrees=_subtrees(names), excluded_subtrees=None),
                           critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .sign(key, hashes.SHA256())
        )
        _privateFolder(self.folder)
        _writePrivate(self.caKeyPath, key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
        _writePrivate(self.caPath, ca.public_bytes(serialization.Encoding.PEM))
        return ca, key

    def _newLeaf(self, ca: Any, caKey: Any, names: list[str], now: datetime.datetime) -> None:
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

        key = ec.generate_private_key(ec.SECP256R1())
        leaf = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])]))
            .issuer_name(ca.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - _BACKDATE)
            .not_valid_after(min(now + LEAF_LIFETIME, ca.not_valid_after_utc))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(
                digital_signature=True, content_commitment=False, key_encipherment=False,
                data_encipherment=False, key_agreement=False, key_cert_sign=False, crl_sign=False,
                encipher_only=False, decipher_only=False), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .add_extension(x509.SubjectAlternativeName(_generalNames(names)), critical=False)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(caKey.public_key()),
                           critical=False)
            .sign(caKey, hashes.SHA256())
        )
        _privateFolder(self.folder)
        _writePrivate(self.keyPath, key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
        _writePrivate(self.certPath, leaf.public_bytes(serialization.Encoding.PEM)
                      + ca.public_bytes(serialization.Encoding.PEM))


def _samePublicKey(one: Any, other: Any) -> bool:
    from cryptography.hazmat.primitives import serialization

    def der(key: Any) -> bytes:
        return key.public_bytes(serialization.Encoding.DER,  # type: ignore[no-any-return]
                                serialization.PublicFormat.SubjectPublicKeyInfo)

    return der(one) == der(other)
