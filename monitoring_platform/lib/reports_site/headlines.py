"""The figures the reports site leads with and what it shows of each configured model.

A :class:`Headline` names a metric the index and the digest lead with, where it is recorded and
how it is written; :func:`model_limits` turns a model's configured thresholds into the lines drawn
on its trend charts.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from monitoring_platform.lib.charts import Limit
from monitoring_platform.lib.html import milliseconds as _ms
from monitoring_platform.lib.html import money as _money
from monitoring_platform.lib.html import number, percent


def short_number(value: Any) -> str:
    """``value`` with three significant decimals, as the site writes plain figures."""
    return number(value, 3)


@dataclass(frozen=True)
class Headline:
    """A metric the index leads with: where it is recorded, how it is named and shown."""

    asset: str
    metric: str
    title: str
    fmt: Callable[[Any], str]
    higher_is_better: bool | None = None
    worst_version: bool = False  # the highest of the per-version values (latency)


HEADLINES = (
    Headline("model_performance_report", "roc_auc", "ROC AUC", short_number, True),
    Headline("model_performance_report", "accuracy", "Accuracy", percent, True),
    Headline("model_performance_report", "precision", "Precision", percent, True),
    Headline("model_performance_report", "recall", "Recall", percent, True),
    Headline("model_performance_report", "log_loss", "Log loss", short_number, False),
    Headline("model_performance_report", "mae", "Mean absolute error", short_number, False),
    Headline("model_performance_report", "rmse", "Root mean squared error", short_number, False),
    Headline("model_performance_report", "mape", "Mean absolute % error", short_number, False),
    Headline("model_performance_report", "label_coverage", "Predictions labelled", percent, True),
    Headline("data_drift_report", "drift_share", "Features drifted", percent, False),
    Headline("business_metrics_report", "click_through_rate", "Click-through rate", percent, True),
    Headline("business_metrics_report", "conversion_rate", "Conversion rate", percent, True),
    Headline(
        "business_metrics_report",
        "revenue_per_1k_predictions",
        "Revenue / 1k predictions",
        _money,
        True,
    ),
    Headline(
        "business_metrics_report",
        "latency_p95_ms",
        "Latency p95 (slowest version)",
        _ms,
        False,
        worst_version=True,
    ),
    Headline("business_metrics_report", "error_rate", "5xx error rate", percent, False),
    Headline("inference_logs", "quarantine_share", "Records quarantined", percent, False),
)


@dataclass(frozen=True)
class ModelInfo:
    """What the site shows of a configured model: its name, description, task and limits."""

    name: str
    description: str = ""
    task: str = ""
    limits: Mapping[str, Sequence[Limit]] = field(default_factory=dict)


def model_limits(model) -> dict[str, list[Limit]]:
    """The limits a model's configuration sets, by metric, as lines on its trend charts."""
    t = model.thresholds
    limits: dict[str, list[Limit]] = {
        "drift_share": [
            Limit("warning at", t.drift.drift_share_warn, "warn"),
            Limit("error at", t.drift.drift_share_error),
        ],
        "label_coverage": [Limit("minimum", t.quality.min_label_coverage)],
        "latency_p95_ms": [Limit("SLO", t.latency_p95_slo_ms)],
        "error_rate": [Limit("budget", t.error_rate_budget)],
        "quarantine_share": [
            Limit("warning at", t.quarantine_share_warn, "warn"),
            Limit("error at", t.quarantine_share_error),
        ],
    }
    for metric, kind, value in t.quality.limits():
        limits.setdefault(metric, []).append(
            Limit("minimum" if kind == "min" else "maximum", value)
        )
    return limits
