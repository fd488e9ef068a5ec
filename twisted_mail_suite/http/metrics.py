# -*- test-case-name: tests.http.test_metrics -*-
"""
C{/metrics}: the suite's Prometheus registry in the text format.  The
metrics seam, when the suite has one, is C{SuiteParts.metrics} (an object
whose C{registry} is a C{prometheus_client.CollectorRegistry}); without
it, the process metrics of a registry of our own.
"""
from __future__ import annotations

from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, ProcessCollector, generate_latest
from twisted.web.resource import Resource
from twisted.web.server import NOT_DONE_YET

from .replies import HTTPError, writeError

__all__ = ["MetricsResource", "registryOf"]


def registryOf(metrics: Any) -> CollectorRegistry:
    """
    The registry of the suite's C{metrics} part, or, without one, a new
    registry holding the process metrics.
    """
    registry = getattr(metrics, "registry", None)
    if registry is not None:
        return registry  # type: ignore[no-any-return]
    registry = CollectorRegistry()
    ProcessCollector(registry=registry)
    return registry


class MetricsResource(Resource):
    """
    Serves the Prometheus text of a registry (no login: bind the listener
    to loopback, or let the scraper in through a firewall).
    """

    isLeaf = True

    def __init__(self, metrics: Any) -> None:
        super().__init__()
        self.registry = registryOf(metrics)

    def render_GET(self, request: Any) -> bytes:
        request.setHeader(b"Content-Type", CONTENT_TYPE_LATEST.encode("ascii"))
        return generate_latest(self.registry)  # type: ignore[no-any-return]

    def render_HEAD(self, request: Any) -> bytes:
        return self.render_GET(request)

    def render(self, request: Any) -> bytes:
        if request.method in (b"GET", b"HEAD"):
            return super().render(request)  # type: ignore[no-any-return]
        writeError(request, HTTPError(405, "method-not-allowed", "Use GET.", {b"Allow": b"GET, HEAD"}))
        return NOT_DONE_YET  # type: ignore[no-any-return]
