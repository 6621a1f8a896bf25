"""Checks on a prediction day's quality: the configured limits, and how much truth arrived."""

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
from monitoring_platform.lib.metric_store import MetricStore
from monitoring_platform.lib.performance import PerformanceResult, quality_violations

QUALITY = "model_quality_within_threshold"
COVERAGE = "label_coverage_sufficient"


def performance_check_specs(
    asset_key: AssetKey, partitions: PartitionsDefinition
) -> list[AssetCheckSpec]:
    return [
        partitioned_check_spec(
            QUALITY,
            asset=asset_key,
            partitions=partitions,
            description="Quality metrics meet their configured limits.",
        ),
        partitioned_check_spec(
            COVERAGE,
            asset=asset_key,
            partitions=partitions,
            description="Enough predictions are labelled once the label window has closed.",
        ),
    ]


def performance_check_results(
    context: AssetExecutionContext,
    store: MetricStore,
    asset_key: AssetKey,
    model: ModelConfig,
    result: PerformanceResult,
    window_closed: bool,
    report: str | None,
) -> list[AssetCheckResult]:
    limits = model.thresholds.quality
    evaluated: dict = {}
    if result.labeled < limits.min_labeled_rows:
        # Nothing to judge yet: a pass that alerting ignores (``evaluated: false``).
        quality_passed, severity = True, AssetCheckSeverity.WARN
        quality_text = (
            f"Not evaluated: {result.labeled} labelled predictions, "
            f"fewer than the {limits.min_labeled_rows} needed."
        )
        evaluated = {"evaluated": False, "reason": quality_text}
    else:
        broken = quality_violations(model, result.metrics, result.intervals)
        quality_passed, severity = not broken, AssetCheckSeverity.ERROR
        shown = ", ".join(
            f"{k} {v:.4g}"
            + (
                f" [{result.intervals[k][0]:.4g}, {result.intervals[k][1]:.4g}]"
                if k in result.intervals
                else ""
            )
            for k, v in sorted(result.metrics.items())
        )
        quality_text = (
            "Quality below its limits: " + "; ".join(broken) + "."
            if broken
            else f"Quality within its limits ({shown}; {limits.confidence:.0%} intervals)."
        )
    coverage_ok = result.coverage >= limits.min_label_coverage
    if coverage_ok:
        coverage_text = f"{result.coverage:.1%} of predictions labelled."
    elif window_closed:
        coverage_text = (
            f"Only {result.coverage:.1%} of predictions labelled after the label window closed "
            f"(needs {limits.min_label_coverage:.0%})."
        )
    else:
        coverage_text = (
            f"{result.coverage:.1%} labelled so far; the label window is still open "
            f"(needs {limits.min_label_coverage:.0%} once it closes)."
        )
    return [
        check_result(
            context,
            store,
            asset_key,
            QUALITY,
            passed=quality_passed,
            severity=severity,
            description=quality_text,
            observed={
                **{k: round(v, 6) for k, v in result.metrics.items()},
                "intervals": {
                    k: [round(lo, 6), round(hi, 6)] for k, (lo, hi) in result.intervals.items()
                },
                "baseline": {k: round(v, 6) for k, v in result.baseline.items()},
                "labeled": result.labeled,
                "limits": {f"{k}_{m}": v for m, k, v in limits.limits()},
                **evaluated,
            },
            report=report,
        ),
        check_result(
            context,
            store,
            asset_key,
            COVERAGE,
            passed=coverage_ok or not window_closed,
            severity=AssetCheckSeverity.ERROR if window_closed else AssetCheckSeverity.WARN,
            description=coverage_text,
            observed={
                "label_coverage": round(result.coverage, 6),
                "labeled": result.labeled,
                "predictions": result.predictions,
                "threshold": limits.min_label_coverage,
                "window_closed": window_closed,
                # Below the share while labels may still arrive: nothing to judge yet.
                **({} if coverage_ok or window_closed else {"evaluated": False}),
            },
            report=report,
        ),
    ]
