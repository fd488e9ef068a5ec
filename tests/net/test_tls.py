# -*- test-case-name: tests.net.test_tls -*-
"""
Tests for L{twisted_mail_suite.net.tls} and
L{twisted_mail_suite.net.certificates}: the certificate the suite makes
for itself (a leaf signed by a local, name-constrained CA whose key never
serves) and the server's TLS options (TLS 1.2+, AEAD suites only).
Handshakes run in memory (pyOpenSSL server, standard-library client, no
sockets).
"""
from __future__ import annotations

import datetime
import os
import ssl as stdlib
from typing import Any

from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID
from OpenSSL import SSL
from twisted.internet.endpoints import SSL4ServerEndpoint
from twisted.internet.testing import MemoryReactor
from twisted.trial.unittest import SynchronousTestCase

from twisted_mail_suite.net.certificates import LEAF_LIFETIME, LocalCertificates
from twisted_mail_suite.net.tls import ServerTLS, serverOptions

from ..fakes import makeConfig

HOST = "mx.example.test"


def load(path: str) -> x509.Certificate:
    with open(path, "rb") as f:
        return x509.load_pem_x509_certificate(f.read())


def extension(certificate: x509.Certificate, kind: Any) -> Any:
    return certificate.extensions.get_extension_for_class(kind).value


def handshake(server: SSL.Context, client: stdlib.SSLContext, hostname: str | None = "localhost") -> Any:
    """
    Run a TLS handshake in memory.

    @return: the client's C{SSLObject} (C{version()}, C{cipher()}).
    @raise SSL.Error or stdlib.SSLError: the handshake failed.
    """
    serverSide = SSL.Connection(server, None)
    serverSide.set_accept_state()
    incoming, outgoing = stdlib.MemoryBIO(), stdlib.MemoryBIO()
    clientSide = client.wrap_bio(incoming, outgoing, server_hostname=hostname)
    for _ in range(20):
        try:
            clientSide.do_handshake()
            return clientSide
        except stdlib.SSLWantReadError:
            pass
        serverSide.bio_write(outgoing.read())
        try:
            serverSide.do_handshake()
        except SSL.WantReadError:
            pass
        try:
            incoming.write(serverSide.bio_read(1 << 20))
        except SSL.WantReadError:
            pass
    raise AssertionError("the handshake did not finish")


class LocalCertificateTests(SynchronousTestCase):
    """
    Without a configured pair the suite makes a local CA and a server
    certificate signed by it.
    """

    def setUp(self) -> None:
        self.local = LocalCertificates(os.path.join(os.path.abspath(self.mktemp()), "tls"), HOST)
        self.assertEqual(self.local.ensure(), "ca")
        self.ca, self.leaf = load(self.local.caPath), load(self.local.certPath)

    def test_leaf(self) -> None:
        """
        The served certificate is no CA, is for server authentication only,
        names the host, localhost and the loopback addresses, lives about
        a year and is signed by the local CA.
        """
        self.assertFalse(extension(self.leaf, x509.BasicConstraints).ca)
        self.assertEqual(list(extension(self.leaf, x509.ExtendedKeyUsage)), [ExtendedKeyUsageOID.SERVER_AUTH])
        names = extension(self.leaf, x509.SubjectAlternativeName)
        self.assertEqual(names.get_values_for_type(x509.DNSName), [HOST, "localhost"])
        self.assertEqual([str(a) for a in names.get_values_for_type(x509.IPAddress)], ["127.0.0.1", "::1"])
        self.assertLessEqual(self.leaf.not_valid_after_utc - self.leaf.not_valid_before_utc,
                             LEAF_LIFETIME + datetime.timedelta(hours=1))
        self.leaf.verify_directly_issued_by(self.ca)

    def test_authority(self) -> None:
        """
        The local CA may sign server certificates for this server's names
        only (name constraints), no intermediate CA, and its key is not
        the served key.
        """
        constraints = extension(self.ca, x509.BasicConstraints)
        self.assertEqual((constraints.ca, constraints.path_length), (True, 0))
        self.assertTrue(self.ca.extensions.get_extension_for_class(x509.NameConstraints).critical)
        permitted = extension(self.ca, x509.NameConstraints).permitted_subtrees
        self.assertIn(x509.DNSName(HOST), permitted)
        with open(self.local.caKeyPath, "rb") as caKey, open(self.local.keyPath, "rb") as key:
            self.assertNotEqual(caKey.read(), key.read())

    def test_privateFiles(self) -> None:
        """
        Every file is 0600 and the folder 0700.
        """
        self.assertEqual(os.stat(self.local.folder).st_mode & 0o777, 0o700)
        for name in os.listdir(self.local.folder):
            self.assertEqual(os.stat(os.path.join(self.local.folder, name)).st_mode & 0o777, 0o600, name)

    def test_kept(self) -> None:
        """
        A valid pair is kept as it is.
        """
        self.assertIsNone(self.local.ensure())
        self.assertEqual(load(self.local.certPath), self.leaf)

    def test_leafRenewedBeforeExpiry(self) -> None:
        """
        Less than 30 days before the leaf expires, a start renews it with
        the same CA (clients keep trusting it).
        """
        later = self.leaf.not_valid_after_utc - datetime.timedelta(days=10)
        self.assertEqual(self.local.ensure(later), "leaf")
        self.assertEqual(load(self.local.caPath), self.ca)
        renewed = load(self.local.certPath)
        self.assertGreater(renewed.not_valid_after_utc, self.leaf.not_valid_after_utc)
        renewed.verify_directly_issued_by(self.ca)

    def test_newHostnameNewAuthority(self) -> None:
        """
        A new hostname is outside the old CA's names: a new CA and leaf.
        """
        other = LocalCertificates(self.local.folder, "mail.other.test")
        self.assertEqual(other.ensure(), "ca")
        self.assertNotEqual(load(other.caPath), self.ca)
        self.assertIn("mail.other.test", extension(load(other.certPath), x509.SubjectAlternativeName)
                      .get_values_for_type(x509.DNSName))

    def test_authorityKeyOffline(self) -> None:
        """
        Without the CA's key (moved offline), a valid leaf is still served.
        """
        os.unlink(self.local.caKeyPath)
        self.assertIsNone(self.local.ensure())

    def test_oldSelfSignedReplaced(self) -> None:
        """
        A folder from an older version (a self-signed certificate that was
        its own CA, no C{ca.pem}) gets a local CA and a leaf.
        """
        os.unlink(self.local.caPath)
        os.unlink(self.local.caKeyPath)
        self.assertEqual(self.local.ensure(), "ca")
        self.assertFalse(extension(load(self.local.certPath), x509.BasicConstraints).ca)

    def test_clientTrustingCertificateFile(self) -> None:
        """
        C{cert.pem} is the leaf and then the CA: a client told (by an older
        version's docs) to trust C{cert.pem} as a CA file trusts the CA.
        """
        with open(self.local.certPath, "rb") as f:
            self.assertEqual(f.read().count(b"-----BEGIN CERTIFICATE-----"), 2)
        options = serverOptions(self.local.certPath, self.local.keyPath)
        client = stdlib.create_default_context(cafile=self.local.certPath)
        self.assertTrue(handshake(options.getContext(), client, HOST).version())

    def test_clientTrustingAuthority(self) -> None:
        """
        A client trusting only C{ca.pem} verifies the server, by name and
        by loopback address.
        """
        options = serverOptions(self.local.certPath, self.local.keyPath)
        client = stdlib.create_default_context(cafile=self.local.caPath)
        for name in (HOST, "localhost", "127.0.0.1"):
            self.assertTrue(handshake(options.getContext(), client, name).version())
        self.assertRaises(stdlib.SSLCertVerificationError, handshake, options.getContext(), client,
                          "www.example.com")


class CipherTests(SynchronousTestCase):
    """
    The server's options speak TLS 1.2 and 1.3 only, and in TLS 1.2 only
    ECDHE with AES-GCM or ChaCha20-Poly1305.
    """

    def setUp(self) -> None:
        tls = ServerTLS(makeConfig(os.path.abspath(self.mktemp())))
        tls.ensure()
        self.server = serverOptions(tls.certPath, tls.keyPath).getContext()

    def client(self, ciphers: str | None = None, highest: Any = None, lowest: Any = None) -> stdlib.SSLContext:
        context = stdlib.SSLContext(stdlib.PROTOCOL_TLS_CLIENT)
        context.check_hostname = False
        context.verify_mode = stdlib.CERT_NONE
        if ciphers:
            context.set_ciphers(ciphers)
        if lowest:
            context.minimum_version = lowest
        if highest:
            context.maximum_version = highest
        return context

    def test_cbcSha1Refused(self) -> None:
        """
        A TLS 1.2 client offering only CBC suites with SHA-1 MACs gets no
        connection.
        """
        for suite in ("ECDHE-ECDSA-AES128-SHA", "ECDHE-ECDSA-AES256-SHA"):
            client = self.client(suite, highest=stdlib.TLSVersion.TLSv1_2)
            self.assertRaises((SSL.Error, stdlib.SSLError), handshake, self.server, client, None)

    def test_oldVersionsRefused(self) -> None:
        """
        TLS 1.0 and 1.1 are refused.
        """
        for version in (stdlib.TLSVersion.TLSv1, stdlib.TLSVersion.TLSv1_1):
            client = self.client("ALL:@SECLEVEL=0", highest=version, lowest=version)
            self.assertRaises((SSL.Error, stdlib.SSLError), handshake, self.server, client, None)

    def test_modernSuites(self) -> None:
        """
        TLS 1.2 negotiates ECDHE with an AEAD; a default client gets TLS 1.3.
        """
        tls12 = handshake(self.server, self.client(highest=stdlib.TLSVersion.TLSv1_2), None)
        self.assertEqual(tls12.version(), "TLSv1.2")
        self.assertRegex(tls12.cipher()[0], r"^ECDHE-ECDSA-(AES128-GCM-SHA256|AES256-GCM-SHA384|CHACHA20-POLY1305)$")
        self.assertEqual(handshake(self.server, self.client(), None).version(), "TLSv1.3")


class ServerTLSTests(SynchronousTestCase):
    """
    L{ServerTLS}: one set of options for STARTTLS and implicit-TLS
    listeners, and the file clients trust.
    """

    def test_servedCertificateIsLeaf(self) -> None:
        """
        The certificate the suite makes and serves is no CA: a leaf for
        server authentication, which clients do not trust by itself.
        """
        tls = ServerTLS(makeConfig(os.path.abspath(self.mktemp())))
        tls.ensure()
        served = load(tls.certPath)
        self.assertFalse(extension(served, x509.BasicConstraints).ca)
        self.assertEqual(list(extension(served, x509.ExtendedKeyUsage)), [ExtendedKeyUsageOID.SERVER_AUTH])
        self.assertNotEqual(served.issuer, served.subject)

    def test_implicitTLSListenerUsesOptions(self) -> None:
        """
        An C{ssl:} listener without a certificate of its own gets the
        suite's options (with the modern defaults), on the port and
        interface it names.
        """
        tls = ServerTLS(makeConfig(os.path.abspath(self.mktemp())))
        tls.ensure()
        reactor = MemoryReactor()
        endpoint = tls.serverEndpoint(reactor, r"ssl:9950:interface=\:\:1:backlog=7")
        self.assertIsInstance(endpoint, SSL4ServerEndpoint)
        endpoint.listen(object())  # type: ignore[arg-type]
        port, factory, options, backlog, interface = reactor.sslServers[0]
        self.assertEqual((port, options, backlog, interface), (9950, tls.listenOptions, 7, "::1"))
        self.assertIs(tls.options, tls.listenOptions)

    def test_trustPath(self) -> None:
        """
        Clients trust the local CA, or the configured certificate.
        """
        dataDir = os.path.abspath(self.mktemp())
        self.assertEqual(ServerTLS(makeConfig(dataDir)).trustPath, os.path.join(dataDir, "tls", "ca.pem"))
        configured = makeConfig(dataDir, **{"tls.cert": "/etc/x/fullchain.pem", "tls.key": "/etc/x/key.pem"})
        self.assertEqual(ServerTLS(configured).trustPath, "/etc/x/fullchain.pem")

    def test_withoutStartTLS(self) -> None:
        """
        With C{tls.starttls} off there are no STARTTLS options, but
        implicit-TLS listeners still get theirs.
        """
        tls = ServerTLS(makeConfig(os.path.abspath(self.mktemp()), **{"tls.starttls": False}))
        tls.ensure()
        self.assertIsNone(tls.options)
        self.assertIsNotNone(tls.listenOptions)

    def test_chainSent(self) -> None:
        """
        Certificates after the first in the certificate file are sent as
        its chain (our C{cert.pem}, or a configured C{fullchain.pem}).
        """
        local = LocalCertificates(os.path.join(os.path.abspath(self.mktemp()), "tls"), HOST)
        local.ensure()
        options = serverOptions(local.certPath, local.keyPath)
        self.assertEqual([c.to_cryptography() for c in options.extraCertChain], [load(local.caPath)])
