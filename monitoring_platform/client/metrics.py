"""Live signals for Prometheus: calls, latency, errors, throttles, predictions, dropped records.

Each :class:`LiveMetrics` has a registry of its own (pass ``registry=prometheus_client.REGISTRY``
to share the process-wide one). The middleware serves it on ``/metrics``; any other exporter
can serve ``LiveMetrics.registry`` as well.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

if TYPE_CHECKING:
    from monitoring_platform.client.writer import BatchWriter

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
# Scores of classifiers; regression models pass buckets on their own scale.
PREDICTION_BUCKETS = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0)


class LiveMetrics:
    """Prometheus metrics of the model calls one process serves."""

    def __init__(
        self,
        registry: CollectorRegistry | None = None,
        *,
        latency_buckets: Sequence[float] = LATENCY_BUCKETS,
        prediction_buckets: Sequence[float] = PREDICTION_BUCKETS,
    ):
        self.registry = registry if registry is not None else CollectorRegistry()
        labels = ("model", "version")
        self.requests = Counter(
            "model_requests",
            "Model calls served, by HTTP status code.",
            (*labels, "code"),
            registry=self.registry,
        )
        self.latency = Histogram(
            "model_request_duration_seconds",
            "Time from the request's arrival to the response's last byte.",
            labels,
            buckets=latency_buckets,
            registry=self.registry,
        )
        self.errors = Counter(
            "model_errors",
            "Model calls that failed (status 5xx or an exception).",
            labels,
            registry=self.registry,
        )
        self.throttled = Counter(
            "model_throttled",
            "Model calls refused with 429 Too Many Requests.",
            labels,
            registry=self.registry,
        )
        self.predictions = Histogram(
            "model_prediction",
            "Numeric predictions (scores or estimates) of successful calls.",
            labels,
            buckets=prediction_buckets,
            registry=self.registry,
        )
        self._children: dict[tuple, tuple] = {}

    def observe(self, model: str, version: str, status: int, seconds: float, prediction) -> None:
        """Count one call."""
        key = (model, version)
        children = self._children.get(key)
        if children is None:
            children = self._children[key] = (
                self.latency.labels(model, version),
                self.errors.labels(model, version),
                self.throttled.labels(model, version),
                self.predictions.labels(model, version),
            )
        latency, errors, throttled, predictions = children
        self.requests.labels(model, version, str(status)).inc()
        latency.observe(seconds)
        if status >= 500:
            errors.inc()
        elif status == 429:
            throttled.inc()
        if (
            200 <= status < 300
            and isinstance(prediction, int | float)
            and not isinstance(prediction, bool)
            and prediction == prediction
        ):
            predictions.observe(float(prediction))

    def watch_writer(self, writer: BatchWriter) -> None:
        """Export the writer's counts (records written, dropped, queued, spilled)."""
        self.registry.register(_WriterCollector(writer))

    def exposition(self) -> bytes:
        return generate_latest(self.registry)


class _WriterCollector:
    def __init__(self, writer: BatchWriter):
        self.writer = writer

    def describe(self):
        return []

    def collect(self):
        stats = self.writer.stats
        written = CounterMetricFamily(
            "collector_records_written", "Records written to storage.", labels=()
        )
        written.add_metric((), stats.written_records)
        yield written
        dropped = CounterMetricFamily(
            "collector_records_dropped", "Records dropped, by reason.", labels=("reason",)
        )
        for reason in ("queue full", "writer closed", "spill folder full", "spill failed"):
            dropped.add_metric((reason,), stats.dropped.get(reason, 0))
        for reason, count in stats.dropped.items():
            if reason not in ("queue full", "writer closed", "spill folder full", "spill failed"):
                dropped.add_metric((reason,), count)
        yield dropped
        failures = CounterMetricFamily(
            "collector_upload_failures", "Object uploads that failed (each attempt).", labels=()
        )
        failures.add_metric((), stats.upload_failures)
        yield failures
        spilled = CounterMetricFamily(
            "collector_objects_spilled", "Objects written to the local spill folder.", labels=()
        )
        spilled.add_metric((), stats.spilled_objects)
        yield spilled
        queued = GaugeMetricFamily("collector_queue_records", "Records waiting in the queue.")
        queued.add_metric((), self.writer.queued())
        yield queued
