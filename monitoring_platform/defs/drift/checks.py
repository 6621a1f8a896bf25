"""Checks on a day's drift: drifted features, the prediction, missing values, the reference."""

from __future__ import annotations

from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetExecutionContext,
    AssetKey,
    PartitionsDefinition,
)

from monitoring_platform.config import ModelConfig
from monitoring_platform.defs.partitions import partitioned_check_spec
from monitoring_platform.defs.recording import check_result
from monitoring_platform.lib.drift import DriftResult, MissingShare, dataset_verdict
from monitoring_platform.lib.metric_store import MetricStore

DATASET_DRIFT = "dataset_drift_within_threshold"
PREDICTION_DRIFT = "prediction_drift_within_threshold"
MISSING_SHARE = "missing_share_within_reference"
REFERENCE_COMPLETE = "reference_window_complete"


def drift_check_specs(
    asset_key: AssetKey, partitions: PartitionsDefinition
) -> list[AssetCheckSpec]:
    return [
        partitioned_check_spec(
            DATASET_DRIFT,
            asset=asset_key,
            partitions=partitions,
            description="The share of drifted features stays below its WARN and ERROR levels.",
        ),
        partitioned_check_spec(
            PREDICTION_DRIFT,
            asset=asset_key,
            partitions=partitions,
            description="The prediction's distribution has not drifted from the reference window.",
        ),
        partitioned_check_spec(
            MISSING_SHARE,
            asset=asset_key,
            partitions=partitions,
            description="Each feature's share of missing values stays within its reference range.",
        ),
        partitioned_check_spec(
            REFERENCE_COMPLETE,
            asset=asset_key,
            partitions=partitions,
            description="Every day of the reference window has been ingested.",
        ),
    ]


def _limit_text(column) -> str:
    if column.bound is not None:
        return f"learned bound {column.bound:.4g}"
    return f"fixed threshold {column.threshold:g}" + (f"; {column.note}" if column.note else "")


def drift_check_results(
    context: AssetExecutionContext,
    store: MetricStore,
    asset_key: AssetKey,
    model: ModelConfig,
    result: DriftResult,
    missing: list[MissingShare],
) -> list[AssetCheckResult]:
    limits = model.thresholds.drift
    share = result.drift_share
    verdict = dataset_verdict(result, model)
    passed, severity = verdict is None, AssetCheckSeverity(verdict or "WARN")
    drifted = result.drifted_features
    share_text = (
        f"{len(drifted)} of {len(result.features)} features drifted ({share:.0%}; "
        f"warn at {limits.drift_share_warn:.0%}, error at {limits.drift_share_error:.0%}; "
        f"mode {limits.mode})" + (": " + ", ".join(drifted) if drifted else ".")
    )
    prediction = result.prediction
    if prediction is None:
        pred_passed, pred_text = True, "Prediction drift is not measured (excluded)."
        pred_observed: dict = {"evaluated": False, "reason": "excluded in the configuration"}
    else:
        pred_passed = not prediction.drifted
        pred_text = (
            f"Prediction drift score {prediction.score:.4g} by {prediction.method} "
            f"({_limit_text(prediction)}): "
            + ("drift detected." if prediction.drifted else "no drift.")
        )
        pred_observed = {
            "score": prediction.score,
            "method": prediction.method,
            "threshold": prediction.threshold,
            "bound": prediction.bound,
            "mode": prediction.mode,
        }
    over = [m for m in missing if m.exceeded]
    missing_text = (
        "Missing share outside its reference range: "
        + "; ".join(
            f"{m.column} {m.share:.1%} (reference {m.reference_share:.1%}, "
            f"range {m.low:.1%}..{m.bound:.1%})"
            for m in over
        )
        + "."
        if over
        else f"Every feature's missing share is within its reference range ({len(missing)} features)."
    )
    return [
        check_result(
            context,
            store,
            asset_key,
            DATASET_DRIFT,
            passed=passed,
            severity=severity,
            description=share_text,
            observed={
                "drift_share": share,
                "drifted_features": ", ".join(drifted),
                "warn_threshold": limits.drift_share_warn,
                "error_threshold": limits.drift_share_error,
                "mode": limits.mode,
            },
        ),
        check_result(
            context,
            store,
            asset_key,
            PREDICTION_DRIFT,
            passed=pred_passed,
            severity=AssetCheckSeverity(limits.prediction_drift_severity),
            description=pred_text,
            observed=pred_observed,
        ),
        check_result(
            context,
            store,
            asset_key,
            MISSING_SHARE,
            passed=not over,
            severity=AssetCheckSeverity.WARN,
            description=missing_text,
            observed={
                "features_over": ", ".join(m.column for m in over),
                "missing_share": {m.column: round(m.share, 6) for m in missing},
                "range": {m.column: [round(m.low, 6), round(m.bound, 6)] for m in missing},
            },
        ),
    ]


def reference_complete_result(
    context: AssetExecutionContext,
    store: MetricStore,
    asset_key: AssetKey,
    window: str,
    missing_days: list[str],
) -> AssetCheckResult:
    """A WARN naming the reference days that are not ingested (they are left out of drift)."""
    if missing_days:
        text = (
            f"The reference window {window} is incomplete: {len(missing_days)} days not "
            f"ingested ({', '.join(missing_days)}). Ingest them first (see README: "
            "'Ingesting the reference days')."
        )
    else:
        text = f"Every day of the reference window {window} is ingested."
    return check_result(
        context,
        store,
        asset_key,
        REFERENCE_COMPLETE,
        passed=not missing_days,
        severity=AssetCheckSeverity.WARN,
        description=text,
        observed={"window": window, "days_missing": ", ".join(missing_days)},
    )


def not_evaluated(
    context: AssetExecutionContext, store: MetricStore, asset_key: AssetKey, reason: str
) -> list[AssetCheckResult]:
    """Drift could not be measured (no rows today, too small a reference): nothing to judge.

    The checks pass with the reason and ``evaluated: false``; alerting ignores such results,
    so they neither raise nor resolve an alert.
    """
    return [
        check_result(
            context,
            store,
            asset_key,
            name,
            passed=True,
            severity=AssetCheckSeverity.WARN,
            description=f"Not evaluated: {reason}",
            observed={"evaluated": False, "reason": reason},
        )
        for name in (DATASET_DRIFT, PREDICTION_DRIFT, MISSING_SHARE)
    ]
