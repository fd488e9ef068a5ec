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
