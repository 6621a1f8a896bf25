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
from monitoring_platform.lib.performance import PerformanceResult

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


def quality_violations(model: ModelConfig, metrics: dict[str, float]) -> list[str]:
    """Each configured limit the metrics break, as a sentence part."""
    broken = []
    for metric, kind, limit in model.thresholds.quality.limits():
        value = metrics.get(metric)
        if value is None:
            continue
        if (kind == "min" and value < limit) or (kind == "max" and value > limit):
            word = "below" if kind == "min" else "above"
            broken.append(f"{metric} {value:.4g} is {word} its limit {limit:g}")
    return broken


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
    if result.labeled < limits.min_labeled_rows:
        quality_passed, severity = False, AssetCheckSeverity.WARN
        quality_text = (
            f"Not judged: {result.labeled} labelled predictions, "
            f"fewer than the {limits.min_labeled_rows} needed."
        )
    else:
        broken = quality_violations(model, result.metrics)
        quality_passed, severity = not broken, AssetCheckSeverity.ERROR
        shown = ", ".join(f"{k} {v:.4g}" for k, v in sorted(result.metrics.items()))
        quality_text = (
            "Quality below its limits: " + "; ".join(broken) + "."
            if broken
            else f"Quality within its limits ({shown})."
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
                "labeled": result.labeled,
                "limits": {f"{k}_{m}": v for m, k, v in limits.limits()},
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
            },
            report=report,
        ),
    ]
