"""The check on a day's estimated quality: the same limits as realized quality, before labels."""

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
from monitoring_platform.defs.performance.checks import quality_violations
from monitoring_platform.defs.recording import check_result
from monitoring_platform.lib.estimation import EstimationResult
from monitoring_platform.lib.metric_store import MetricStore

ESTIMATED_QUALITY = "estimated_quality_within_threshold"


def estimation_check_specs(
    asset_key: AssetKey, partitions: PartitionsDefinition
) -> list[AssetCheckSpec]:
    return [
        partitioned_check_spec(
            ESTIMATED_QUALITY,
            asset=asset_key,
            partitions=partitions,
            description="Quality estimated before labels meets the configured quality limits.",
        )
    ]


def estimated_quality_verdict(
    model: ModelConfig, result: EstimationResult
) -> tuple[bool, str, str, dict]:
    """(passed, severity, description, observed): fails only on a trusted estimate that breaks a
    configured limit; an estimate that cannot be trusted passes and says why."""
    severity = model.estimation.severity
    observed: dict = {
        "reference_labeled": result.reference_labeled,
        "method": result.method,
        "calibration_error": result.calibration_error,
        "rows": result.overall.rows,
    }
    if not result.estimated:
        observed["evaluated"] = False  # nothing to judge: never raises nor resolves an alert
        return True, "WARN", f"Not estimated: {result.reason}.", observed
    values = {name: m.value for name, m in result.overall.metrics.items()}
    observed.update({name: round(v, 6) for name, v in values.items()})
    observed["limits"] = {f"{k}_{m}": v for m, k, v in model.thresholds.quality.limits()}
    checked = [m for m, _k, _v in model.thresholds.quality.limits() if m in values]
    if not checked:
        return (
            True,
            severity,
            "No configured quality limit applies to the estimated metrics.",
            observed,
        )
    broken = quality_violations(model, values)
    if broken:
        bands = ", ".join(
            f"{m} band {result.overall.metrics[m].low:.4g}–{result.overall.metrics[m].high:.4g}"
            for m in checked
        )
        return (
            False,
            severity,
            f"Estimated quality below its limits: {'; '.join(broken)} ({bands}).",
            observed,
        )
    shown = ", ".join(f"{m} {values[m]:.4g}" for m in checked)
    return True, severity, f"Estimated quality within its limits ({shown}).", observed


def estimation_check_results(
    context: AssetExecutionContext,
    store: MetricStore,
    asset_key: AssetKey,
    model: ModelConfig,
    result: EstimationResult,
) -> list[AssetCheckResult]:
    passed, severity, description, observed = estimated_quality_verdict(model, result)
    return [
        check_result(
            context,
            store,
            asset_key,
            ESTIMATED_QUALITY,
            passed=passed,
            severity=AssetCheckSeverity(severity),
            description=description,
            observed=observed,
        )
    ]
