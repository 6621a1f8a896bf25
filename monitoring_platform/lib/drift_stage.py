"""The data drift step: a day against its reference window, its checks, metrics and page."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from importlib.metadata import version
from typing import Any

import pandas as pd

from monitoring_platform.config import ModelConfig
from monitoring_platform.lib import lake
from monitoring_platform.lib.drift import (
    PREDICTION,
    ColumnDrift,
    DriftResult,
    MissingShare,
    compute_drift,
    dataset_verdict,
    missing_shares,
)
from monitoring_platform.lib.drift_page import columns_table, drift_page, segments_table
from monitoring_platform.lib.drift_segments import SegmentDrift, segment_drift
from monitoring_platform.lib.memory import release_unused_memory
from monitoring_platform.lib.metric_store import Metric
from monitoring_platform.lib.reference import (
    reference_complete,
    reference_dates,
    window_days,
    window_text,
)
from monitoring_platform.lib.reports import DATA_DRIFT
from monitoring_platform.lib.stage import Link, Markdown, StageResult, Verdict, not_evaluated
from monitoring_platform.lib.stattests import load_evidently
from monitoring_platform.lib.storage import ObjectStore

DATASET_DRIFT = "dataset_drift_within_threshold"
PREDICTION_DRIFT = "prediction_drift_within_threshold"
MISSING_SHARE = "missing_share_within_reference"
# Lake dataset of the reference days' calibration scores, one file per window's last day.
CALIBRATION = "drift_calibration"
# Above this many rows in the day, segments are scored after the report instead of beside it.
SEGMENTS_BESIDE_REPORT_MAX_ROWS = 3_000_000


def drift_input_columns(model: ModelConfig) -> list[str]:
    """The accepted-row columns the drift step reads: features, prediction, segment columns."""
    columns = [f.name for f in model.features] + [PREDICTION]
    if "model_version" in model.segments:
        columns.append("model_version")
    return columns


def calibration_key(model: ModelConfig, days: list[str], rows: list[int | None]) -> str:
    """What the reference days' scores depend on: the days, their rows and the drift settings."""
    settings = {
        "days": days,
        "rows": rows,
        "features": [f.drift.model_dump(mode="json") for f in model.features],
        "drift": model.thresholds.drift.model_dump(mode="json"),
    }
    return hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()


def _limit_text(column: ColumnDrift) -> str:
    if column.bound is not None:
        return f"learned bound {column.bound:.4g}"
    return f"fixed threshold {column.threshold:g}" + (f"; {column.note}" if column.note else "")


def dataset_drift_verdict(model: ModelConfig, result: DriftResult) -> Verdict:
    """The share of drifted features against its WARN and ERROR levels."""
    limits = model.thresholds.drift
    share, drifted = result.drift_share, result.drifted_features
    grade = dataset_verdict(result, model)
    text = (
        f"{len(drifted)} of {len(result.features)} features drifted ({share:.0%}; "
        f"warn at {limits.drift_share_warn:.0%}, error at {limits.drift_share_error:.0%}; "
        f"mode {limits.mode})" + (": " + ", ".join(drifted) if drifted else ".")
    )
    return Verdict(
        DATASET_DRIFT,
        passed=grade is None,
        description=text,
        observed={
            "drift_share": share,
            "drifted_features": ", ".join(drifted),
            "warn_threshold": limits.drift_share_warn,
            "error_threshold": limits.drift_share_error,
            "mode": limits.mode,
        },
        severity="ERROR" if grade == "ERROR" else "WARN",
    )


def prediction_drift_verdict(model: ModelConfig, result: DriftResult) -> Verdict:
    """Whether the prediction drifted; passes, not evaluated, when it is excluded."""
    severity = model.thresholds.drift.prediction_drift_severity
    prediction = result.prediction
    if prediction is None:
        return Verdict(
            PREDICTION_DRIFT,
            passed=True,
            description="Prediction drift is not measured (excluded).",
            observed={"evaluated": False, "reason": "excluded in the configuration"},
            severity=severity,
        )
    return Verdict(
        PREDICTION_DRIFT,
        passed=not prediction.drifted,
        description=(
            f"Prediction drift score {prediction.score:.4g} by {prediction.method} "
            f"({_limit_text(prediction)}): "
            + ("drift detected." if prediction.drifted else "no drift.")
        ),
        observed={
            "score": prediction.score,
            "method": prediction.method,
            "threshold": prediction.threshold,
            "bound": prediction.bound,
            "mode": prediction.mode,
        },
        severity=severity,
    )


def missing_share_verdict(missing: list[MissingShare]) -> Verdict:
    """A WARN naming the features whose missing share left its reference range."""
    over = [m for m in missing if m.exceeded]
    if over:
        text = (
            "Missing share outside its reference range: "
            + "; ".join(
                f"{m.column} {m.share:.1%} (reference {m.reference_share:.1%}, "
                f"range {m.low:.1%}..{m.bound:.1%})"
                for m in over
            )
            + "."
        )
    else:
        text = f"Every feature's missing share is within its reference range ({len(missing)} features)."
    return Verdict(
        MISSING_SHARE,
        passed=not over,
        description=text,
        observed={
            "features_over": ", ".join(m.column for m in over),
            "missing_share": {m.column: round(m.share, 6) for m in missing},
            "range": {m.column: [round(m.low, 6), round(m.bound, 6)] for m in missing},
        },
        severity="WARN",
    )


def drift_verdicts(
    model: ModelConfig, result: DriftResult, missing: list[MissingShare]
) -> list[Verdict]:
    """The drift checks of a measured day: dataset drift, prediction drift, missing shares."""
    return [
        dataset_drift_verdict(model, result),
        prediction_drift_verdict(model, result),
        missing_share_verdict(missing),
    ]


def not_measured(reason: str) -> list[Verdict]:
    """Drift could not be measured (no rows today, too small a reference): nothing to judge."""
    return [
        not_evaluated(name, reason, "WARN")
        for name in (DATASET_DRIFT, PREDICTION_DRIFT, MISSING_SHARE)
    ]


def drift_metrics(
    result: DriftResult, missing: list[MissingShare], segments: list[SegmentDrift]
) -> list[Metric]:
    """The metric-store rows of a measured day: overall, per column, per missing share, per segment."""
    metrics = [
        Metric("drift_share", result.drift_share),
        Metric("drifted_features", len(result.drifted_features)),
        Metric("reference_rows", result.reference_rows),
        Metric("current_rows", result.current_rows),
    ]
    for column in result.columns:
        dims = {"column": column.column}
        metrics += [
            Metric("drift_score", column.score, dims=dims, text=column.method),
            Metric("drift_threshold", column.threshold, dims=dims),
            Metric("drift_detected", float(column.drifted), dims=dims),
            Metric("drift_calibrated", float(column.bound is not None), dims, column.note[:256]),
        ]
        if column.bound is not None:
            metrics.append(Metric("drift_bound", column.bound, dims=dims))
    for share in missing:
        dims = {"column": share.column}
        metrics += [
            Metric("missing_share", share.share, dims=dims),
            Metric("missing_share_reference", share.reference_share, dims=dims),
            Metric("missing_share_low", share.low, dims=dims),
            Metric("missing_share_bound", share.bound, dims=dims),
        ]
    for seg in segments:
        dims = {"segment": seg.segment, "value": seg.value}
        if seg.skipped:
            metrics.append(Metric("segment_skipped", 1.0, dims=dims, text=seg.skipped[:256]))
            continue
        metrics.append(Metric("segment_drift_share", seg.drift_share, dims=dims))
        for column in seg.columns:
            column_dims = {**dims, "column": column.column}
            metrics += [
                Metric("segment_drift_score", column.score, column_dims, column.method),
                Metric("segment_drift_detected", float(column.drifted), column_dims),
            ]
    return metrics


def not_measured_reason(
    model: ModelConfig,
    date: dt.date,
    current_rows: int,
    reference_rows: int,
    found: int,
    window: list,
) -> str | None:
    """Why drift cannot be measured today, or ``None``: no rows today, or too small a reference."""
    if current_rows == 0:
        return f"no accepted rows for {date}"
    if reference_rows < model.reference.min_rows:
        return (
            f"the reference window {window_text(window)} has {reference_rows} rows "
            f"(needs {model.reference.min_rows}; days found: {found} of {len(window)})"
        )
    return None


def _frame(table: Any) -> pd.DataFrame:
    """A pandas frame of the day's columns: one copy, repeated strings shared, Arrow freed."""
    return table.to_pandas(self_destruct=True, split_blocks=True)


def _measure(
    model: ModelConfig,
    lake_store: ObjectStore,
    reference_frame: pd.DataFrame,
    current_frame: pd.DataFrame,
    found: list[str],
    day_rows: list[int | None],
) -> tuple[DriftResult, list[MissingShare], list[SegmentDrift]]:
    """Drift, missing shares and segments of the day, the reference days' scores cached."""
    # On a day of moderate size the segments (NumPy sorts, which release the interpreter lock)
    # run on a second thread while Evidently builds the whole-day report; neither changes the
    # frames. On a large day they run after it: both at once would add their working memory.
    load_evidently()
    concurrent = len(current_frame) <= SEGMENTS_BESIDE_REPORT_MAX_ROWS
    with ThreadPoolExecutor(1, thread_name_prefix="segment-drift") as pool:
        pending: Future[list[SegmentDrift]] | None = None
        if concurrent:
            pending = pool.submit(
                segment_drift, reference_frame, current_frame, model, model.segment_min_rows
            )
        cache_key = calibration_key(model, found, day_rows)
        cached = lake.read_manifest(lake_store, CALIBRATION, model.name, found[-1])
        scores = dict(cached["scores"]) if cached and cached.get("key") == cache_key else {}
        known = len(scores)
        result = compute_drift(
            reference_frame,
            current_frame,
            model,
            reference_day_rows=day_rows,  # type: ignore[arg-type]
            calibration_cache=scores,
        )
        if len(scores) != known:
            lake.write_manifest(
                lake_store,
                CALIBRATION,
                model.name,
                found[-1],
                {"key": cache_key, "days": found, "scores": scores},
            )
        missing = missing_shares(reference_frame, current_frame, model, day_rows)  # type: ignore[arg-type]
        release_unused_memory()
        segments = (
            pending.result()
            if pending is not None
            else segment_drift(reference_frame, current_frame, model, model.segment_min_rows)
        )
    return result, missing, segments


def data_drift(
    model: ModelConfig,
    date: dt.date,
    lake_store: ObjectStore,
    publish_page: Callable[[str, str], str],
) -> StageResult:
    """The day's drift against its reference window: metrics, checks, metadata and page.

    ``publish_page(name, html)`` publishes a report page and returns its URL.
    """
    release_unused_memory()  # start from what the earlier steps freed, not their peak
    columns = drift_input_columns(model)
    current = lake.read_partition(lake_store, lake.ACCEPTED, model.name, date, columns)
    manifest = lake.read_manifest(lake_store, lake.REFERENCE, model.name, date)
    window = reference_dates(model, date)
    reference, found, missing_days = lake.read_partitions(
        lake_store, lake.ACCEPTED, model.name, window_days(model, date, manifest), columns
    )
    missing_days = sorted(set(missing_days) | set(manifest["missing"] if manifest else []))
    day_rows = [lake.partition_rows(lake_store, lake.ACCEPTED, model.name, d) for d in found]
    current_rows = 0 if current is None else current.num_rows
    reference_rows = 0 if reference is None else reference.num_rows
    shown = window_text(window)
    complete = reference_complete(shown, missing_days)
    reason = not_measured_reason(model, date, current_rows, reference_rows, len(found), window)
    if reason is not None:
        return StageResult(
            verdicts=[*not_measured(reason), complete],
            metadata={
                "status": "not_evaluated",
                "reason": reason,
                "current_rows": current_rows,
                "reference_rows": reference_rows,
                "reference_window": shown,
            },
        )
    reference_frame, current_frame = _frame(reference), _frame(current)
    del reference, current
    result, missing, segments = _measure(
        model, lake_store, reference_frame, current_frame, found, day_rows
    )
    del reference_frame, current_frame
    link = publish_page(DATA_DRIFT, drift_page(result, segments, model, date))
    result.html = ""
    prediction = result.prediction
    return StageResult(
        metrics=drift_metrics(result, missing, segments),
        verdicts=[*drift_verdicts(model, result, missing), complete],
        metadata={
            "status": "ok",
            "report": Link(link),
            "drift_share": result.drift_share,
            "drift_mode": model.thresholds.drift.mode,
            "drifted_features": result.drifted_features,
            "excluded_columns": list(result.excluded),
            "unmeasured_columns": list(result.unmeasured),
            "missing_share": {m.column: round(m.share, 6) for m in missing},
            "prediction_drift_score": prediction.score if prediction else None,
            "current_rows": result.current_rows,
            "reference_rows": result.reference_rows,
            "reference_window": shown,
            "reference_days_found": found,
            "reference_days_missing": missing_days,
            "inputs": [
                lake_store.uri(lake.partition_key(lake.ACCEPTED, model.name, d))
                for d in [*found, str(date)]
            ],
            "columns": Markdown(columns_table(result)),
            "segments": Markdown(segments_table(segments)),
            "evidently_version": version("evidently"),
        },
        pages={DATA_DRIFT: link},
    )
