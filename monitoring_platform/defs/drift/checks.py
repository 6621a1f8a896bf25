"""Checks on a day's drift: the share of drifted features and the prediction's drift."""

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
from monitoring_platform.defs.recording import check_result, graded
from monitoring_platform.lib.drift import DriftResult
from monitoring_platform.lib.metric_store import MetricStore

DATASET_DRIFT = "dataset_drift_within_threshold"
PREDICTION_DRIFT = "prediction_drift_within_threshold"


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
    ]


def drift_check_results(
    context: AssetExecutionContext,
    store: MetricStore,
    asset_key: AssetKey,
    model: ModelConfig,
    result: DriftResult,
) -> list[AssetCheckResult]:
    limits = model.thresholds.drift
    share = result.drift_share
    passed, severity = graded(share, limits.drift_share_warn, limits.drift_share_error)
    drifted = result.drifted_features
    share_text = (
        f"{len(drifted)} of {len(result.features)} features drifted ({share:.0%}; "
        f"warn at {limits.drift_share_warn:.0%}, error at {limits.drift_share_error:.0%})"
        + (": " + ", ".join(drifted) if drifted else ".")
    )
    prediction = result.prediction
    if prediction is None:
        pred_passed, pred_text, pred_observed = True, "No prediction values to compare.", {}
    else:
        pred_passed = not prediction.drifted
        pred_text = (
            f"Prediction drift score {prediction.score:.4g} by {prediction.method} "
            f"(threshold {prediction.threshold:g}): "
            + ("drift detected." if prediction.drifted else "no drift.")
        )
        pred_observed = {
            "score": prediction.score,
            "method": prediction.method,
            "threshold": prediction.threshold,
        }
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
    ]


def not_evaluated(
    context: AssetExecutionContext, store: MetricStore, asset_key: AssetKey, reason: str
) -> list[AssetCheckResult]:
    """Drift could not be measured (no data, too small a reference): say so, as a warning."""
    return [
        check_result(
            context,
            store,
            asset_key,
            name,
            passed=False,
            severity=AssetCheckSeverity.WARN,
            description=f"Not evaluated: {reason}",
            observed={"evaluated": False, "reason": reason},
        )
        for name in (DATASET_DRIFT, PREDICTION_DRIFT)
    ]
