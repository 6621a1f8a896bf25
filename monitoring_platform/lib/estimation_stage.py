"""The estimation step: the day and its labelled reference from the lake, the estimate, its check."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pandas as pd
import pyarrow as pa

from monitoring_platform.config import ModelConfig
from monitoring_platform.lib import labels as labels_lib
from monitoring_platform.lib import lake
from monitoring_platform.lib.estimation import ESTIMATES, EstimationResult, estimate
from monitoring_platform.lib.estimation_methods import PREDICTION, TARGET
from monitoring_platform.lib.metric_store import Metric
from monitoring_platform.lib.performance import (
    LABEL_COLUMNS,
    join_labels,
    quality_violations,
)
from monitoring_platform.lib.reference import window_days
from monitoring_platform.lib.stage import Location, StageResult, Verdict
from monitoring_platform.lib.storage import ObjectStore

ESTIMATED_QUALITY = "estimated_quality_within_threshold"


def estimation_columns(model: ModelConfig) -> list[str]:
    """The accepted-row columns estimation reads."""
    return ["request_id", PREDICTION, "model_version", *(f.name for f in model.features)]


def read_day(store, model: ModelConfig, date) -> pd.DataFrame:
    """The day's accepted rows (empty when the partition was never written)."""
    table = _read_day_table(store, model, date)
    if table is None:
        return pd.DataFrame(columns=estimation_columns(model))
    return table.to_pandas()


def read_labelled_reference(
    store, model: ModelConfig, days: list, until: dt.date
) -> tuple[pd.DataFrame, dict[str, int]]:
    """The reference days' predictions joined with their labels received by ``until``.

    Labels arrive on days ``day``..``day + max_delay_days``, never after ``until``; the latest
    label wins. Returns the joined rows and the labelled rows per day. Their request ids are
    numbers, numbered per reference day (one day's numbers say nothing of another's; the
    estimate does not read them). Each day of labels is read once, whichever reference days it
    labels.
    """
    frames, counts = [], {}
    received_on: dict[dt.date, pa.Table | None] = {}
    for value in days:
        day = value if isinstance(value, dt.date) else dt.date.fromisoformat(str(value))
        arrivals = [
            day + dt.timedelta(days=n)
            for n in range(model.labels.max_delay_days + 1)
            if day + dt.timedelta(days=n) <= until
        ]
        received = _labels_received(store, model, arrivals, received_on)
        predictions = None if received is None else _read_day_table(store, model, day)
        if received is None or predictions is None or predictions.num_rows == 0:
            counts[str(day)] = 0  # no labels yet: the day's predictions are not read
            continue
        predictions, received = lake.ids_as_codes(predictions, received)
        joined = join_labels(predictions.to_pandas(), received.to_pandas())
        joined = joined[joined[TARGET].notna()]
        counts[str(day)] = len(joined)
        frames.append(joined)
    if not frames:
        return pd.DataFrame(columns=[*estimation_columns(model), TARGET]), counts
    return pd.concat(frames, ignore_index=True), counts


def _read_day_table(store, model: ModelConfig, date) -> pa.Table | None:
    return lake.read_partition(store, lake.ACCEPTED, model.name, date, estimation_columns(model))


def _labels_received(
    store, model: ModelConfig, arrivals: list[dt.date], read: dict[dt.date, pa.Table | None]
) -> pa.Table | None:
    """The labels that arrived on ``arrivals``, each day read once into ``read``."""
    for day in arrivals:
        if day not in read:
            read[day] = lake.read_partition(
                store, labels_lib.ACCEPTED, model.name, day, LABEL_COLUMNS
            )
    tables = [read[day] for day in arrivals if read[day] is not None]
    return pa.concat_tables(tables, promote_options="permissive") if tables else None


def write_estimates(store, model: ModelConfig, date, result: EstimationResult) -> str:
    """The day's estimates as one Parquet partition of the lake (replacing an earlier run's)."""
    import tempfile
    from pathlib import Path

    import pyarrow as pa
    import pyarrow.parquet as pq

    schema = pa.schema(
        [
            ("model_version", pa.string()),
            ("rows", pa.int64()),
            ("metric", pa.string()),
            ("value", pa.float64()),
            ("low", pa.float64()),
            ("high", pa.float64()),
            ("reason", pa.string()),
        ]
    )
    table = pa.Table.from_pylist(result.records(), schema=schema)
    with tempfile.TemporaryDirectory(prefix="estimates-") as tmp:
        path = Path(tmp) / "data.parquet"
        pq.write_table(table, path)
        return lake.write_partition(store, ESTIMATES, model.name, str(date), path)


def read_estimates(store, model: ModelConfig, date) -> pd.DataFrame | None:
    """The day's estimates written by :func:`write_estimates`, or ``None``."""
    table = lake.read_partition(store, ESTIMATES, model.name, date)
    return None if table is None else table.to_pandas()


def estimated_quality_verdict(model: ModelConfig, result: EstimationResult) -> Verdict:
    """The estimate against the quality limits.

    Fails only on a trusted estimate that breaks a configured limit; an estimate that cannot be
    trusted passes and says why.
    """
    severity = model.estimation.severity
    observed: dict[str, Any] = {
        "reference_labeled": result.reference_labeled,
        "method": result.method,
        "calibration_error": result.calibration_error,
        "rows": result.overall.rows,
    }
    if not result.estimated:
        observed["evaluated"] = False  # nothing to judge: never raises nor resolves an alert
        return Verdict(
            ESTIMATED_QUALITY, True, f"Not estimated: {result.reason}.", observed, "WARN"
        )
    values = {name: m.value for name, m in result.overall.metrics.items()}
    observed.update({name: round(v, 6) for name, v in values.items()})
    observed["limits"] = {f"{k}_{m}": v for m, k, v in model.thresholds.quality.limits()}
    checked = [m for m, _k, _v in model.thresholds.quality.limits() if m in values]
    if not checked:
        text = "No configured quality limit applies to the estimated metrics."
        return Verdict(ESTIMATED_QUALITY, True, text, observed, severity)
    broken = quality_violations(model, values)
    if broken:
        bands = ", ".join(
            f"{m} band {result.overall.metrics[m].low:.4g}–{result.overall.metrics[m].high:.4g}"
            for m in checked
        )
        text = f"Estimated quality below its limits: {'; '.join(broken)} ({bands})."
        return Verdict(ESTIMATED_QUALITY, False, text, observed, severity)
    shown = ", ".join(f"{m} {values[m]:.4g}" for m in checked)
    text = f"Estimated quality within its limits ({shown})."
    return Verdict(ESTIMATED_QUALITY, True, text, observed, severity)


def estimate_metrics(result: EstimationResult) -> list[Metric]:
    """The metric-store rows of an estimate: each metric with its band, overall and per version."""
    out = [
        Metric("reference_labeled", result.reference_labeled),
        Metric("calibration_error", result.calibration_error),
        Metric("estimated", 1.0 if result.estimated else 0.0, text=(result.reason or "")[:256]),
    ]
    for version, part in [(None, result.overall), *result.by_version.items()]:
        dims = {"model_version": version} if version is not None else None
        if version is not None:
            out.append(
                Metric("estimated", 1.0 if part.estimated else 0.0, dims, (part.reason or "")[:256])
            )
        for name, metric in part.metrics.items():
            out += [
                Metric(name, metric.value, dims),
                Metric(f"{name}_low", metric.low, dims),
                Metric(f"{name}_high", metric.high, dims),
            ]
    return out


def estimate_metadata(
    result: EstimationResult, labelled_per_day: dict[str, int], written: str
) -> dict[str, Any]:
    """What the materialization shows: the status, the reference, each metric and its band."""
    return {
        "status": "estimated" if result.estimated else "not_estimated",
        **({"reason": result.reason} if result.reason else {}),
        "method": result.method,
        "rows": result.overall.rows,
        "reference_days": labelled_per_day,
        "reference_labeled": result.reference_labeled,
        **(
            {"calibration_error": round(result.calibration_error, 6)}
            if result.calibration_error is not None
            else {}
        ),
        **{name: round(m.value, 6) for name, m in result.overall.metrics.items()},
        "bands": {n: [m.low, m.high] for n, m in result.overall.metrics.items()},
        "by_model_version": {
            v: {n: m.value for n, m in e.metrics.items()} or {"reason": e.reason}
            for v, e in result.by_version.items()
        },
        "estimates": Location(written),
    }


def estimated_performance(
    model: ModelConfig, date: dt.date, lake_store: ObjectStore
) -> StageResult:
    """The day's quality estimated from its predictions, written to the lake, and its check."""
    manifest = lake.read_manifest(lake_store, lake.REFERENCE, model.name, date)
    reference, labelled_per_day = read_labelled_reference(
        lake_store, model, window_days(model, date, manifest), until=date
    )
    result = estimate(model, reference, read_day(lake_store, model, date))
    written = write_estimates(lake_store, model, date, result)
    return StageResult(
        metrics=estimate_metrics(result),
        verdicts=[estimated_quality_verdict(model, result)],
        metadata=estimate_metadata(result, labelled_per_day, lake_store.uri(written)),
    )
