# -*- test-case-name: tests.relay.test_dkim -*-
"""
DKIM (RFC 6376) with dkimpy: mail whose C{From:} domain is in
C{relay.dkim} is signed once, when it is queued (relaxed/relaxed,
rsa-sha256, or ed25519-sha256 for an Ed25519 key), so every retry sends
the same bytes.  L{SigningOutbound} puts the signing in front of any
L{IOutboundQueue}; the signing itself runs off the reactor thread.

L{generateKey} is C{mailsuite-admin dkim generate}: a new key written
0600 and the DNS TXT record that publishes it.
"""
from __future__ import annotations

import base64
import os
import re
from typing import Any, Callable, Mapping, Sequence

import dkim
from twisted.internet.defer import Deferred, fail, maybeDeferred
from twisted.internet.threads import deferToThread
from zope.interface import implementer

from ..errors import ConfigError, DeliveryFailed
from ..interfaces import IOutboundQueue, IPendingOutbound

__all__ = ["DKIMSigner", "SigningOutbound", "generateKey", "fromDomain"]

_FROM = re.compile(rb"^from[ \t]*:((?:[^\r\n]|\r\n[ \t])*)", re.IGNORECASE | re.MULTILINE)
_DOMAIN = re.compile(rb"@([A-Za-z0-9.\-]+)\s*>?\s*(?:$|,|;|\()")
SIGNED_HEADERS = [b"from", b"reply-to", b"subject", b"date", b"message-id", b"to", b"cc", b"mime-version",
                  b"content-type", b"content-transfer-encoding", b"in-reply-to", b"references", b"list-unsubscribe"]


def fromDomain(message: bytes) -> str | None:
    """
    The domain of the (first) C{From:} address in the header section.
    """
    end = message.find(b"\r\n\r\n")
    head = message if end < 0 else message[:end + 2]
    match = _FROM.search(head)
    if match is None:
        return None
    domain = _DOMAIN.search(match.group(1).replace(b"\r\n", b" "))
    return domain.group(1).decode("ascii").lower().rstrip(".") if domain else None


class DKIMSigner:
    """
    @param keys: domain -> C{(selector, PEM private key)} (RSA or Ed25519).
    """

    def __init__(self, keys: Mapping[str, tuple[str, bytes]]) -> None:
        self.keys = {domain.lower(): (selector, *_signingKey(pem)) for domain, (selector, pem) in keys.items()}

    @classmethod
    def fromConfig(cls, dkimConfig: Mapping[str, Mapping[str, str]]) -> DKIMSigner:
        """
        @raise ConfigError: a key file that cannot be read or used.
        """
        keys = {}
        for domain, entry in dkimConfig.items():
            path = entry["key_file"]
            try:
                with open(path, "rb") as f:
                    pem = f.read()
                _signingKey(pem)
            except (OSError, ValueError, TypeError) as e:
                raise ConfigError(path, f"relay.dkim.{domain}.key_file", f"cannot use the key: {e}") from None
            keys[domain] = (entry["selector"], pem)
        return cls(keys)

    def sign(self, message: bytes) -> bytes:
        """
        The C{DKIM-Signature:} field (CRLF ended) for C{message}, or C{b""}
        if its From domain has no key.
        """
        domain = fromDomain(message)
        key = self.keys.get(domain) if domain else None
        if key is None:
            return b""
        selector, material, algorithm = key
        return dkim.sign(message, selector.encode("ascii"), domain.encode("ascii"), material,  # type: ignore
                         canonicalize=(b"relaxed", b"relaxed"), signature_algorithm=algorithm,
                         include_headers=[h for h in SIGNED_HEADERS if _hasHeader(message, h)] or None,
                         linesep=b"\r\n")


def _signingKey(pem: bytes) -> tuple[bytes, bytes]:
    """
    PEM -> what dkimpy signs with and the algorithm.

    @raise ValueError: not an RSA or Ed25519 private key.
    """
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ed25519, rsa

    key = serialization.load_pem_private_key(pem, None)
    if isinstance(key, rsa.RSAPrivateKey):
        traditional = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
                                        serialization.NoEncryption())
        return traditional, b"rsa-sha256"
    if isinstance(key, ed25519.Ed25519PrivateKey):
        try:
            import nacl  # noqa: F401 - dkimpy signs ed25519 with PyNaCl
        except ImportError:
            raise ValueError("ed25519 signing needs PyNaCl (pip install pynacl)") from None
        raw = key.private_bytes(serialization.Encoding.Raw, serialization.PrivateFormat.Raw,
                                serialization.NoEncryption())
        return base64.b64encode(raw), b"ed25519-sha256"
    raise ValueError("not an RSA or Ed25519 private key")


def _hasHeader(message: bytes, name: bytes) -> bool:
    end = message.find(b"\r\n\r\n")
    head = b"\r\n" + (message if end < 0 else message[:end])
    return (b"\r\n" + name + b":") in head.lower()


def generateKey(path: str, algorithm: str = "rsa", bits: int = 2048) -> str:
    """
    Write a new private key to C{path} (mode 0600, never overwriting) and
    return the TXT record's value (C{v=DKIM1; k=rsa; p=...}).

    @raise FileExistsError: C{path} exists.
    """
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ed25519, rsa

    if algorithm == "ed25519":
        private: Any = ed25519.Ed25519PrivateKey.generate()
        pem = private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                    serialization.NoEncryption())
        public = private.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    else:
        private = rsa.generate_private_key(public_exponent=65537, key_size=bits)
        pem = private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
                                    serialization.NoEncryption())
        public = private.public_key().public_bytes(serialization.Encoding.DER,
                                                   serialization.PublicFormat.SubjectPublicKeyInfo)
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, mode=0o700, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(pem)
    kind = "ed25519" if algorithm == "ed25519" else "rsa"
    return f"v=DKIM1; k={kind}; p={base64.b64encode(public).decode('ascii')}"


@implementer(IOutboundQueue)
class SigningOutbound:
    """
    An L{IOutboundQueue} that signs each message before handing it to
    C{inner}.
    """

    def __init__(self, inner: IOutboundQueue, signer: DKIMSigner | Callable[[], DKIMSigner],
                 runBlocking: Callable[..., Deferred] = deferToThread) -> None:
        self.inner = inner
        self._signer = signer
        self.runBlocking = runBlocking

    @property
    def signer(self) -> DKIMSigner:
        """
        The signer (given, or made by the factory given on first use: the
        keys are read then, not when the service is built).
        """
        if not isinstance(self._signer, DKIMSigner):
            self._signer = self._signer()
        return self._signer

    def begin(self, sender: str, recipients: Sequence[str]) -> SigningPending:
        return SigningPending(self, sender, list(recipients))

    def __getattr__(self, name: str) -> Any:        # the relay's queue operations pass through
        return getattr(self.inner, name)


@implementer(IPendingOutbound)
class SigningPending:
    """
    Holds the text until C{prepare}, then signs it and queues it.
    """

    def __init__(self, outbound: SigningOutbound, sender: str, recipients: list[str]) -> None:
        self._outbound = outbound
        self._sender = sender
        self._recipients = recipients
        self._chunks: list[bytes] = []
        self._inner: IPendingOutbound | None = None
        self._prepared: Deferred | None = None
        self._aborted = False
        self.size = 0

    def write(self, data: bytes) -> None:
        if self._prepared is not None or self._aborted:
            raise ValueError("queueing already finished")
        self._chunks.append(data)
        self.size += len(data)

    def prepare(self) -> Deferred:
        if self._prepared is None:
            text = b"".join(self._chunks)
            self._chunks = []
            d = maybeDeferred(self._outbound.runBlocking, self._outbound.signer.sign, text)
            self._prepared = d.addCallbacks(self._signed, self._notSigned, callbackArgs=(text,))
        return self._prepared

    def _notSigned(self, failure: Any) -> Any:
        raise DeliveryFailed(f"DKIM signing failed: {failure.getErrorMessage()}")

    def _signed(self, signature: bytes, text: bytes) -> Deferred:
        if self._aborted:
            return fail(DeliveryFailed("queueing was aborted"))
        inner = self._inner = self._outbound.inner.begin(self._sender, self._recipients)
        inner.write(signature + text)
        return inner.prepare()

    def commit(self) -> Deferred:
        def commit(_: object) -> Deferred:
            assert self._inner is not None
            return self._inner.commit()

        return self.prepare().addCallback(commit)

    def abort(self) -> None:
        self._aborted = True
        self._chunks = []
        if self._inner is not None:
            self._inner.abort()
