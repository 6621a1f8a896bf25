"""The performance steps: labels as they arrive, and each prediction day's realized quality."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from importlib.metadata import version
from pathlib import Path
from typing import Any

import pandas as pd

from monitoring_platform.config import ModelConfig
from monitoring_platform.lib import labels as labels_lib
from monitoring_platform.lib import lake
from monitoring_platform.lib.estimation_report import realized_against_estimate
from monitoring_platform.lib.intake import LABEL_QUARANTINE_SHARE, quarantine_share_verdict
from monitoring_platform.lib.metric_store import Metric, MetricStore
from monitoring_platform.lib.performance import (
    LABEL_COLUMNS,
    PREDICTION,
    TARGET,
    PerformanceResult,
    evaluate_joined,
    join_labels,
    labelled_rows,
    quality_metrics,
    quality_violations,
    render_report,
)
from monitoring_platform.lib.reference import reference_dates
from monitoring_platform.lib.reports import MODEL_PERFORMANCE
from monitoring_platform.lib.stage import Link, Location, Severity, StageResult, Verdict
from monitoring_platform.lib.storage import ObjectStore

QUALITY = "model_quality_within_threshold"
COVERAGE = "label_coverage_sufficient"
PREDICTION_COLUMNS = ["request_id", "prediction", "model_version"]


def label_days(model: ModelConfig, prediction_day: dt.date) -> list[dt.date]:
    """The arrival days whose labels can belong to ``prediction_day``'s predictions."""
    return [prediction_day + dt.timedelta(days=n) for n in range(model.labels.max_delay_days + 1)]


def labels(
    model: ModelConfig, date: dt.date, source: ObjectStore, lake_store: ObjectStore
) -> StageResult:
    """The labels that arrived on the day, accepted or quarantined into the lake."""
    day = date.isoformat()

    def ingest(workdir: Path) -> Any:
        return labels_lib.ingest_labels(source, model, day, workdir)

    result, accepted, _quarantine = lake.ingest_into_lake(
        ingest, lake_store, labels_lib.ACCEPTED, labels_lib.QUARANTINE, model.name, day
    )
    return StageResult(
        metrics=[
            Metric("labels_in", result.rows_in),
            Metric("labels_accepted", result.accepted),
            Metric("labels_quarantined", result.quarantined),
        ],
        metadata={
            "objects_read": len(result.objects),
            "rows_in": result.rows_in,
            "rows_accepted": result.accepted,
            "rows_quarantined": result.quarantined,
            "quarantine_reasons": result.reasons,
            "labels": Location(lake_store.uri(accepted)),
            "dagster/row_count": result.accepted,
        },
        verdicts=[
            quarantine_share_verdict(
                LABEL_QUARANTINE_SHARE,
                "labels",
                result.quarantined,
                result.rows_in,
                result.reasons,
                model,
            )
        ],
    )


def quality_verdict(model: ModelConfig, result: PerformanceResult, report: str | None) -> Verdict:
    """The day's quality against the configured limits; not evaluated on too few labels."""
    limits = model.thresholds.quality
    evaluated: dict[str, Any] = {}
    severity: Severity
    if result.labeled < limits.min_labeled_rows:
        # Nothing to judge yet: a pass that alerting ignores (``evaluated: false``).
        passed, severity = True, "WARN"
        text = (
            f"Not evaluated: {result.labeled} labelled predictions, "
            f"fewer than the {limits.min_labeled_rows} needed."
        )
        evaluated = {"evaluated": False, "reason": text}
    else:
        broken = quality_violations(model, result.metrics, result.intervals)
        passed, severity = not broken, "ERROR"
        shown = ", ".join(
            f"{k} {v:.4g}"
            + (
                f" [{result.intervals[k][0]:.4g}, {result.intervals[k][1]:.4g}]"
                if k in result.intervals
                else ""
            )
            for k, v in sorted(result.metrics.items())
        )
        text = (
            "Quality below its limits: " + "; ".join(broken) + "."
            if broken
            else f"Quality within its limits ({shown}; {limits.confidence:.0%} intervals)."
        )
    observed = {
        **{k: round(v, 6) for k, v in result.metrics.items()},
        "intervals": {k: [round(lo, 6), round(hi, 6)] for k, (lo, hi) in result.intervals.items()},
        "baseline": {k: round(v, 6) for k, v in result.baseline.items()},
        "labeled": result.labeled,
        "limits": {f"{k}_{m}": v for m, k, v in limits.limits()},
        **evaluated,
    }
    return Verdict(QUALITY, passed, text, observed, severity, report)


def coverage_verdict(
    model: ModelConfig, result: PerformanceResult, window_closed: bool, report: str | None
) -> Verdict:
    """Enough predictions labelled: an ERROR once the label window closed, a WARN before."""
    limits = model.thresholds.quality
    coverage_ok = result.coverage >= limits.min_label_coverage
    if coverage_ok:
        text = f"{result.coverage:.1%} of predictions labelled."
    elif window_closed:
        text = (
            f"Only {result.coverage:.1%} of predictions labelled after the label window closed "
            f"(needs {limits.min_label_coverage:.0%})."
        )
    else:
        text = (
            f"{result.coverage:.1%} labelled so far; the label window is still open "
            f"(needs {limits.min_label_coverage:.0%} once it closes)."
        )
    return Verdict(
        COVERAGE,
        passed=coverage_ok or not window_closed,
        description=text,
        observed={
            "label_coverage": round(result.coverage, 6),
            "labeled": result.labeled,
            "predictions": result.predictions,
            "threshold": limits.min_label_coverage,
            "window_closed": window_closed,
            # Below the share while labels may still arrive: nothing to judge yet.
            **({} if coverage_ok or window_closed else {"evaluated": False}),
        },
        severity="ERROR" if window_closed else "WARN",
        report=report,
    )


def performance_metrics(result: PerformanceResult, gaps: list[Metric]) -> list[Metric]:
    """The metric-store rows of a day's quality: baseline, intervals, coverage, per version."""
    metrics = [
        *(Metric(f"baseline_{name}", value) for name, value in result.baseline.items()),
        *(
            Metric(f"{name}_{end}", value)
            for name, interval in result.intervals.items()
            for end, value in zip(("low", "high"), interval, strict=True)
        ),
        Metric("predictions_scored", result.predictions),
        Metric("labeled", result.labeled),
        Metric("label_coverage", result.coverage),
        *(Metric(name, value) for name, value in result.metrics.items()),
        *gaps,
    ]
    for model_version, values in result.by_version.items():
        metrics += [
            Metric(name, value, dims={"model_version": model_version})
            for name, value in values.items()
        ]
    return metrics


def reference_quality(
    lake_store: ObjectStore, model: ModelConfig, date: dt.date
) -> dict[str, float]:
    """The quality of the reference window's predictions, from the labels received so far."""
    days = reference_dates(model, date)
    predictions, _, _ = lake.read_partitions(
        lake_store, lake.ACCEPTED, model.name, days, PREDICTION_COLUMNS
    )
    if predictions is None:
        return {}
    arrivals = sorted({d for day in days for d in label_days(model, day)})
    received, _, _ = lake.read_partitions(
        lake_store, labels_lib.ACCEPTED, model.name, arrivals, LABEL_COLUMNS
    )
    if received is None:
        return {}
    # Only the overall metrics are shown: no intervals, no per-version breakdown.
    predictions, received = lake.ids_as_codes(predictions, received)
    labelled = labelled_rows(join_labels(predictions.to_pandas(), received.to_pandas()))
    if len(labelled) < model.thresholds.quality.min_labeled_rows:
        return {}
    return quality_metrics(model, labelled[TARGET], labelled[PREDICTION])


def _frame(table: Any, columns: list[str]) -> pd.DataFrame:
    return table.to_pandas() if table is not None else pd.DataFrame(columns=columns)


def model_performance(
    model: ModelConfig,
    date: dt.date,
    lake_store: ObjectStore,
    store: MetricStore,
    publish_page: Callable[[str, str], str],
) -> StageResult:
    """The day's predictions against every label received so far: quality, checks and page.

    ``store`` holds the earlier days' estimated and realized quality shown beside the day's;
    ``publish_page(name, html)`` publishes a report page and returns its URL.
    """
    predictions = lake.read_partition(
        lake_store, lake.ACCEPTED, model.name, date, PREDICTION_COLUMNS
    )
    received, found, missing = lake.read_partitions(
        lake_store, labels_lib.ACCEPTED, model.name, label_days(model, date), LABEL_COLUMNS
    )
    prediction_frame = _frame(predictions, PREDICTION_COLUMNS)
    label_frame = _frame(received, LABEL_COLUMNS)
    joined = join_labels(prediction_frame, label_frame)
    result = evaluate_joined(
        model, joined, render_html=False, baseline=reference_quality(lake_store, model, date)
    )
    gaps, estimate_section = realized_against_estimate(lake_store, store, model, date, result)
    labelled = labelled_rows(joined)
    sections = [estimate_section] if estimate_section else []
    link = publish_page(MODEL_PERFORMANCE, render_report(model, labelled, result, date, sections))
    window_closed = not missing
    return StageResult(
        metrics=performance_metrics(result, gaps),
        verdicts=[
            quality_verdict(model, result, link),
            coverage_verdict(model, result, window_closed, link),
        ],
        metadata={
            "report": Link(link),
            "predictions_scored": result.predictions,
            "labeled": result.labeled,
            "label_coverage": result.coverage,
            **dict(result.metrics.items()),
            "intervals": {
                k: [round(lo, 6), round(hi, 6)] for k, (lo, hi) in result.intervals.items()
            },
            "baseline": result.baseline,
            "by_model_version": result.by_version,
            "label_days_received": found,
            "label_days_pending": missing,
            "evidently_version": version("evidently"),
        },
        pages={MODEL_PERFORMANCE: link},
    )
