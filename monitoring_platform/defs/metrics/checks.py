"""Checks of the metrics stage: the events' contract, latency SLO, error budget, KPI drops."""

from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetExecutionContext,
    AssetKey,
    PartitionsDefinition,
)

from monitoring_platform.config import ModelConfig
from monitoring_platform.defs.ingestion.checks import quarantine_share_check_spec
from monitoring_platform.defs.partitions import partitioned_check_spec
from monitoring_platform.defs.recording import check_result
from monitoring_platform.lib.business_metrics import (
    ERROR_RATE_CHECK,
    KPI_TITLES,
    KPIS,
    LATENCY_CHECK,
    Verdict,
    kpi_check_name,
)
from monitoring_platform.lib.intake import EVENT_QUARANTINE_SHARE
from monitoring_platform.lib.metric_store import MetricStore


def event_check_specs(
    asset_key: AssetKey, partitions: PartitionsDefinition
) -> list[AssetCheckSpec]:
    """The check of a model's business events: few enough broke the contract."""
    return [
        quarantine_share_check_spec(
            EVENT_QUARANTINE_SHARE, "business events", asset_key, partitions
        )
    ]


def checked_kpis(model: ModelConfig) -> list[str]:
    """The KPIs whose drop is checked for ``model`` (a null limit, or no events, turns it off)."""
    if not model.events.enabled:
        return []  # a model without business events has no KPIs to check
    drops = model.thresholds.kpi_drop
    return [kpi for kpi in KPIS if getattr(drops, kpi) is not None]


def metrics_check_specs(
    asset_key: AssetKey, model: ModelConfig, partitions: PartitionsDefinition
) -> list[AssetCheckSpec]:
    limits = model.thresholds
    specs = [
        partitioned_check_spec(
            LATENCY_CHECK,
            asset=asset_key,
            partitions=partitions,
            description=f"Latency p95 of every model version is within {limits.latency_p95_slo_ms:g} ms.",
        ),
        partitioned_check_spec(
            ERROR_RATE_CHECK,
            asset=asset_key,
            partitions=partitions,
            description=f"The 5xx rate of every model version is within {limits.error_rate_budget:.1%}.",
        ),
    ]
    for kpi in checked_kpis(model):
        specs.append(
            partitioned_check_spec(
                kpi_check_name(kpi),
                asset=asset_key,
                partitions=partitions,
                description=(
                    f"The {KPI_TITLES[kpi]} has not dropped more than "
                    f"{getattr(limits.kpi_drop, kpi):.0%} below its trailing "
                    f"{limits.kpi_drop.baseline_days}-day mean."
                ),
            )
        )
    return specs


def verdict_results(
    context: AssetExecutionContext,
    store: MetricStore,
    asset_key: AssetKey,
    verdicts: list[Verdict],
    report: str | None,
) -> list[AssetCheckResult]:
    return [
        check_result(
            context,
            store,
            asset_key,
            v.name,
            passed=v.passed,
            severity=AssetCheckSeverity(v.severity),
            description=v.description,
            observed={k: _plain(x) for k, x in v.observed.items()},
            report=report,
        )
        for v in verdicts
    ]


def _plain(value):
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, float):
        return float(value)
    return value
