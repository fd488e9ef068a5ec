# -*- test-case-name: tests.metrics.test_prometheus,tests.metrics.test_counted -*-
"""
The metrics seam: what the suite counts, counted where it happens.

Every part that counts is given an L{IMetrics} (through
L{twisted_mail_suite.registry.SuiteParts.metrics}, as the other parts
are) and calls one method per event; L{NullMetrics} keeps nothing (the
default of a part built alone), L{PrometheusMetrics} keeps everything in a
C{prometheus_client} registry of its own (one per suite: several suites in
one process never mix their counts), which the HTTP listener serves at
C{/metrics}.  The metrics and their labels are listed in
C{docs/metrics.md}.
"""
from __future__ import annotations

from ..interfaces import NULL_METRICS, IMetrics, NullMetrics
from .prometheus import PrometheusMetrics, timedFsync

__all__ = ["IMetrics", "NULL_METRICS", "NullMetrics", "PrometheusMetrics", "timedFsync"]
