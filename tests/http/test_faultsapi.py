# -*- test-case-name: tests.http.test_faultsapi -*-
"""
The harness's fault switches over its HTTP port: failures switched on
through C{/api/v1/test/faults} show on real SMTP, the drop fault spares
the HTTP listener, DELETE undoes them all, bad switches are 400s.
"""
from __future__ import annotations

import smtplib
from typing import Any

from twisted.internet.defer import inlineCallbacks
from twisted.internet.threads import deferToThread
from twisted.trial.unittest import TestCase

from twisted_mail_suite.testing import startHarness

from .support import Client

MESSAGE = b"From: bob@example.test\r\nTo: alice@example.test\r\nSubject: x\r\n\r\nx\r\n"


class FaultSwitchTests(TestCase):
    timeout = 60

    @inlineCallbacks
    def setUp(self) -> Any:
        self.harness = yield startHarness(self)
        self.client = Client(self.harness.httpPort)

    def send(self, to: str = "alice@example.test") -> None:
        with smtplib.SMTP("127.0.0.1", self.harness.smtpPort, timeout=10) as smtp:
            smtp.sendmail("bob@example.test", [to], MESSAGE)

    def test_failAndReset(self) -> Any:
        """
        fail_deliveries makes the next delivery fail with the code;
        reject_recipients refuses matching RCPTs; DELETE resets.
        """
        def scenario() -> None:
            switched = self.client.request("POST", "/api/v1/test/faults",
                                           {"fail_deliveries": {"count": 1, "code": 452},
                                            "reject_recipients": {"pattern": "bob@*", "code": 551}})
            self.assertEqual(switched.json()["fail_deliveries"], {"count": 1, "code": 452})
            with self.assertRaises(smtplib.SMTPDataError) as failed:
                self.send()
            self.assertEqual(failed.exception.smtp_code, 452)
            with self.assertRaises(smtplib.SMTPRecipientsRefused):
                self.send("bob@example.test")
            self.assertEqual(self.client.request("DELETE", "/api/v1/test/faults").json()["reject_recipients"], 0)
            self.send("bob@example.test")

        return deferToThread(scenario)

    def test_dropSparesHTTP(self) -> Any:
        """
        drop_connections cuts SMTP at connect, while the HTTP switches
        still answer (and turn it off).
        """
        def scenario() -> None:
            self.client.request("POST", "/api/v1/test/faults", {"drop_connections": {"after": 0}})
            with self.assertRaises((smtplib.SMTPServerDisconnected, ConnectionError)):
                self.send()
            state = self.client.request("GET", "/api/v1/test/faults").json()
            self.assertEqual(state["drop_connections"], {"after": 0})
            self.client.request("DELETE", "/api/v1/test/faults")
            self.send()

        return deferToThread(scenario)

    def test_badSwitches(self) -> Any:
        """
        Unknown faults and bad values are 400s that change nothing.
        """
        def scenario() -> None:
            for body in ({"explode": True}, {"fail_deliveries": {"code": 250}}, {"delay_deliveries": -1},
                         {"reject_recipients": {"code": 550}}, {"drop_connections": 3}):
                response = self.client.request("POST", "/api/v1/test/faults", body)
                self.assertEqual((response.status, response.json()["error"]), (400, "bad-request"), body)
            self.assertEqual(self.client.request("GET", "/api/v1/test/faults").json()["fail_deliveries"]["count"], 0)

        return deferToThread(scenario)
