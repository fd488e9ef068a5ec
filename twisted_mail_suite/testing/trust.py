# -*- test-case-name: tests.test_threaded -*-
"""
Trusting the harness's self-signed server certificate, in one line, from
Twisted and standard-library clients.
"""
from __future__ import annotations

import ssl as stdlibSSL
from typing import Any

from twisted.internet import ssl

__all__ = ["loadCertificate", "trustingSSLContext", "trustingTLSOptions"]


def loadCertificate(certPath: str) -> ssl.Certificate:
    with open(certPath, "rb") as f:
        return ssl.Certificate.loadPEM(f.read())


def trustingTLSOptions(certPath: str, hostname: str = "localhost") -> Any:
    """
    Twisted client TLS options trusting only the certificate at C{certPath}.
    """
    return ssl.optionsForClientTLS(hostname, trustRoot=loadCertificate(certPath))


def trustingSSLContext(certPath: str) -> stdlibSSL.SSLContext:
    """
    A standard-library client context trusting only the certificate at
    C{certPath}, host names checked.
    """
    context = stdlibSSL.create_default_context(cafile=certPath)
    # Python 3.13 verifies strictly by default (RFC 5280 extensions such as
    # the authority key identifier); the harness's certificate is a bare
    # self-signed one.
    context.verify_flags &= ~getattr(stdlibSSL, "VERIFY_X509_STRICT", 0)
    return context


class TrustingClients:
    """
    What a test's clients need to trust a harness's server: its C{suite}'s
    certificate (signed by the harness's local CA, C{suite.certPath}).
    """

    suite: Any

    @property
    def tlsCertificatePath(self) -> str:
        """
        The PEM file clients trust: the harness's local CA.
        """
        return self.suite.certPath  # type: ignore[no-any-return]

    @property
    def caFile(self) -> str:
        """
        The CA file that makes a client trust the server: C{requests}'
        C{verify=}, C{SSL_CERT_FILE}.
        """
        return self.suite.certPath  # type: ignore[no-any-return]

    @property
    def tlsCertificate(self) -> ssl.Certificate:
        """
        The certificate to trust in a Twisted client
        (C{optionsForClientTLS(host, trustRoot=harness.tlsCertificate)}).
        """
        return loadCertificate(self.suite.certPath)

    def clientTLSOptions(self, hostname: str = "localhost") -> Any:
        """
        Twisted client TLS options that trust the server certificate (valid
        for C{localhost}, C{127.0.0.1}, C{::1} and the harness's hostname).
        """
        return trustingTLSOptions(self.suite.certPath, hostname)

    def sslContext(self) -> stdlibSSL.SSLContext:
        """
        A standard-library context (smtplib, poplib, imaplib) trusting the
        server, with host name checking on.
        """
        return trustingSSLContext(self.suite.certPath)
