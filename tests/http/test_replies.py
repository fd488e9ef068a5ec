# -*- test-case-name: tests.http.test_replies -*-
"""
The shared shape of answers: JSON errors, and the raw refusals written
before any request exists, with the security headers.
"""
from __future__ import annotations

import json

from twisted.trial.unittest import SynchronousTestCase

from twisted_mail_suite.http.replies import CSP, HTTPError, errorBody, rawResponse


class RepliesTests(SynchronousTestCase):
    def test_rawResponse(self) -> None:
        """
        A raw refusal is a whole HTTP/1.1 response: status, JSON body with
        its length, Connection: close, and the security headers.
        """
        data = rawResponse(431, "headers-too-large", "Too big.")
        head, body = data.split(b"\r\n\r\n", 1)
        lines = head.split(b"\r\n")
        self.assertEqual(lines[0], b"HTTP/1.1 431 Request Header Fields Too Large")
        self.assertIn(b"Content-Length: %d" % len(body), lines)
        self.assertIn(b"Connection: close", lines)
        self.assertIn(b"Content-Security-Policy: " + CSP.encode(), lines)
        self.assertEqual(json.loads(body), {"error": "headers-too-large", "message": "Too big."})

    def test_cspIsStrict(self) -> None:
        """
        The policy allows nothing by default, no inline script and no framing.
        """
        self.assertIn("default-src 'none'", CSP)
        self.assertIn("frame-ancestors 'none'", CSP)
        self.assertNotIn("unsafe-inline", CSP)
        self.assertNotIn("unsafe-eval", CSP)

    def test_error(self) -> None:
        """
        An HTTPError carries status, code and message; its body is the
        documented JSON.
        """
        error = HTTPError(404, "not-found", "No such message.")
        self.assertEqual((error.status, error.error, error.message, error.close), (404, "not-found",
                                                                                   "No such message.", False))
        self.assertEqual(json.loads(errorBody("not-found", "No such message.")),
                         {"error": "not-found", "message": "No such message."})
