# -*- test-case-name: tests.http.test_api -*-
"""
The JSON API over a real loopback port, with mail delivered over real
SMTP (C{smtplib}): list (paged), read (headers, text and html parts;
marks it seen), raw, delete; errors as JSON with the right status.
"""
from __future__ import annotations

import smtplib
import socket
from typing import Any

from twisted.internet.defer import inlineCallbacks
from twisted.internet.threads import deferToThread
from twisted.trial.unittest import TestCase

from twisted_mail_suite.testing import startHarness

from .support import Client

USERS = {"alice": "secret", "bob": "hunter2"}
ALICE = ("alice", "secret")

MIXED = (b"From: Bob <bob@example.test>\r\nTo: alice@example.test\r\nSubject: Report\r\n"
         b"Date: Tue, 2 Jan 2024 10:00:00 +0000\r\nMIME-Version: 1.0\r\n"
         b"Content-Type: multipart/alternative; boundary=b1\r\n\r\n"
         b"--b1\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nPlain text.\r\n"
         b"--b1\r\nContent-Type: text/html; charset=utf-8\r\n\r\n<p>Rich <script>alert(1)</script></p>\r\n"
         b"--b1--\r\n")


def send(port: int, subject: str, to: str = "alice@example.test", body: bytes | None = None) -> None:
    with smtplib.SMTP("127.0.0.1", port, timeout=30) as client:
        message = body or (f"From: bob@example.test\r\nTo: {to}\r\nSubject: {subject}\r\n\r\nBody of {subject}.\r\n"
                           ).encode("utf-8")
        client.sendmail("bob@example.test", [to], message)


class MessagesTests(TestCase):
    timeout = 60

    @inlineCallbacks
    def setUp(self) -> Any:
        self.harness = yield startHarness(self, users=USERS, overrides={"http.admins": ["alice"]})
        self.client = Client(self.harness.httpPort)

    def test_smtpToHTTP(self) -> Any:
        """
        A message sent over SMTP is listed, read (text and html parts,
        seen afterwards), fetched raw and deleted over HTTP.
        """
        def scenario() -> None:
            send(self.harness.smtpPort, "", body=MIXED)
            listing = self.client.request("GET", "/api/v1/messages", auth=ALICE)
            self.assertEqual(listing.status, 200)
            self.assertEqual(listing.json()["total"], 1)
            summary = listing.json()["messages"][0]
            self.assertEqual({k: summary[k] for k in ("from", "to", "subject", "date", "seen")},
                             {"from": "Bob <bob@example.test>", "to": "alice@example.test", "subject": "Report",
                              "date": "2024-01-02T10:00:00+00:00", "seen": False})
            self.assertGreater(summary["size"], len(MIXED))          # Received: and Return-Path: added
            path = f"/api/v1/messages/{summary['id']}"
            detail = self.client.request("GET", path, auth=ALICE).json()
            self.assertEqual(detail["text"].strip(), "Plain text.")
            self.assertIn("<script>", detail["html"])                 # data: the pages sandbox it
            self.assertIn(["Subject", "Report"], detail["headers"])
            self.assertTrue(detail["seen"])
            again = self.client.request("GET", "/api/v1/messages", auth=ALICE).json()["messages"][0]
            self.assertTrue(again["seen"])
            raw = self.client.request("GET", path + "/raw", auth=ALICE)
            self.assertEqual(raw.header("Content-Type"), "message/rfc822")
            self.assertTrue(raw.body.endswith(MIXED.split(b"\r\n\r\n", 1)[1]))
            self.assertIn("attachment", raw.header("Content-Disposition"))
            deleted = self.client.request("DELETE", path, auth=ALICE)
            self.assertEqual((deleted.status, deleted.json()), (200, {"deleted": summary["id"]}))
            self.assertEqual(self.client.request("GET", path, auth=ALICE).status, 404)
            self.assertEqual(self.client.request("GET", "/api/v1/messages", auth=ALICE).json()["total"], 0)

        return deferToThread(scenario)

    def test_paging(self) -> Any:
        """
        limit and offset page the list, newest first; bad values get 400.
        """
        def scenario() -> None:
            for number in range(5):
                send(self.harness.smtpPort, f"number {number}")
            page = self.client.request("GET", "/api/v1/messages?limit=2&offset=1", auth=ALICE).json()
            self.assertEqual((page["total"], page["limit"], page["offset"]), (5, 2, 1))
            self.assertEqual([m["subject"] for m in page["messages"]], ["number 3", "number 2"])
            for query in ("limit=0", "limit=501", "offset=-1", "limit=x"):
                response = self.client.request("GET", "/api/v1/messages?" + query, auth=ALICE)
                self.assertEqual((response.status, response.json()["error"]), (400, "bad-request"), query)

        return deferToThread(scenario)

    def test_ownMailboxOnly(self) -> Any:
        """
        A user sees only their own messages; another's id is a 404.
        """
        def scenario() -> None:
            send(self.harness.smtpPort, "for alice")
            messageID = self.client.request("GET", "/api/v1/messages", auth=ALICE).json()["messages"][0]["id"]
            bob = ("bob", "hunter2")
            self.assertEqual(self.client.request("GET", "/api/v1/messages", auth=bob).json()["total"], 0)
            for method, suffix in (("GET", ""), ("GET", "/raw"), ("DELETE", "")):
                response = self.client.request(method, f"/api/v1/messages/{messageID}{suffix}", auth=bob)
                self.assertEqual(response.status, 404)
            self.assertEqual(self.client.request("GET", "/api/v1/messages", auth=ALICE).json()["total"], 1)

        return deferToThread(scenario)

    def test_noPathToFiles(self) -> Any:
        """
        Ids that look like paths never reach the store: 404 (or the
        router's 404), never a file.
        """
        def scenario() -> None:
            for path in ("/api/v1/messages/..%2F..%2Fusers.passwd", "/api/v1/messages/.%2Fcur",
                         "/api/v1/messages/%2Fetc%2Fpasswd/raw", "/../../etc/passwd", "/api/v1/messages/a/b/c"):
                response = self.client.request("GET", path, auth=ALICE)
                self.assertEqual(response.status, 404, path)
                self.assertEqual(response.json()["error"], "not-found")

        return deferToThread(scenario)

    def test_limitsOnRealSocket(self) -> Any:
        """
        On the real port, a declared body past max_body_size gets a 413
        and a header block past max_header_size a 431, then the close.
        """
        def exchange(data: bytes) -> bytes:
            with socket.create_connection(("127.0.0.1", self.harness.httpPort), timeout=10) as client:
                client.sendall(data)
                received = b""
                while chunk := client.recv(65536):
                    received += chunk
                return received

        def scenario() -> None:
            big = exchange(b"POST /api/v1/admin/users HTTP/1.1\r\nHost: x\r\nContent-Length: 5000000\r\n\r\n")
            self.assertTrue(big.startswith(b"HTTP/1.1 413 "), big[:100])
            self.assertIn(b'"error":"body-too-large"', big)
            huge = exchange(b"GET / HTTP/1.1\r\nHost: x\r\n" + b"X-Junk: aaaaaaaaaa\r\n" * 2000 + b"\r\n")
            self.assertTrue(huge.startswith(b"HTTP/1.1 431 "), huge[:100])

        return deferToThread(scenario)

    def test_methodNotAllowed(self) -> Any:
        """
        A method an endpoint does not take gets 405 with Allow.
        """
        def scenario() -> None:
            response = self.client.request("PUT", "/api/v1/messages", auth=ALICE)
            self.assertEqual((response.status, response.header("Allow")), (405, "GET"))

        return deferToThread(scenario)

    def test_waitOverHTTP(self) -> Any:
        """
        The long poll on the real port: waiting, then mail over SMTP ends it.
        """
        def scenario() -> None:
            import threading
            result: dict[str, Any] = {}
            waiter = threading.Thread(target=lambda: result.update(response=self.client.request(
                "GET", "/api/v1/wait?subject=Later&timeout=20", auth=ALICE)))
            waiter.start()
            send(self.harness.smtpPort, "Sooner")
            send(self.harness.smtpPort, "Later")
            waiter.join(30)
            self.assertEqual(result["response"].status, 200)
            self.assertEqual(result["response"].json()["message"]["subject"], "Later")
            timedOut = self.client.request("GET", "/api/v1/wait?subject=Never&timeout=0.2", auth=ALICE)
            self.assertEqual(timedOut.status, 408)

        return deferToThread(scenario)
