# -*- test-case-name: tests.http.test_metrics -*-
"""
C{/metrics}: the Prometheus text of the suite's metrics registry
(C{SuiteParts.metrics.registry}) when there is one, else the process
metrics; GET only.
"""
from __future__ import annotations

from types import SimpleNamespace

from prometheus_client import CollectorRegistry, Counter
from twisted.trial.unittest import SynchronousTestCase

from twisted_mail_suite.http.metrics import registryOf

from .support import Connection, unitSuite


class MetricsTests(SynchronousTestCase):
    def test_processMetrics(self) -> None:
        """
        Without a metrics part, /metrics shows the process metrics in the
        Prometheus text format.
        """
        factory = unitSuite(self).factories["http"]
        connection = Connection(factory)
        connection.request("GET", "/metrics")
        response = connection.response()
        self.assertEqual(response.status, 200)
        self.assertTrue(response.header("Content-Type").startswith("text/plain; version="))
        self.assertIn(b"process_cpu_seconds_total", response.body)

    def test_suiteRegistry(self) -> None:
        """
        With a metrics part, its registry is what is served.
        """
        registry = CollectorRegistry()
        Counter("mailsuite_smtp_messages_accepted", "Messages accepted.", registry=registry).inc(3)
        self.assertIs(registryOf(SimpleNamespace(registry=registry)), registry)
        self.assertIsNot(registryOf(None), registry)

    def test_getOnly(self) -> None:
        """
        Another method gets a 405 JSON error.
        """
        connection = Connection(unitSuite(self).factories["http"])
        connection.request("POST", "/metrics")
        response = connection.response()
        self.assertEqual((response.status, response.json()["error"]), (405, "method-not-allowed"))
