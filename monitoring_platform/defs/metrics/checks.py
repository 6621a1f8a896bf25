"""Checks of the metrics stage: the events' contract, latency SLO, error budget, KPI drops."""

from __future__ import annotations

from dagster import AssetCheckSpec, AssetKey, PartitionsDefinition

from monitoring_platform.config import ModelConfig
from monitoring_platform.defs.ingestion.checks import quarantine_share_check_spec
from monitoring_platform.defs.partitions import partitioned_check_specs
from monitoring_platform.lib.business_metrics import (
    ERROR_RATE_CHECK,
    KPI_TITLES,
    LATENCY_CHECK,
    checked_kpis,
    kpi_check_name,
)
from monitoring_platform.lib.intake import EVENT_QUARANTINE_SHARE


def event_check_specs(
    asset_key: AssetKey, partitions: PartitionsDefinition
) -> list[AssetCheckSpec]:
    """The check of a model's business events: few enough broke the contract."""
    return [
        quarantine_share_check_spec(
            EVENT_QUARANTINE_SHARE, "business events", asset_key, partitions
        )
    ]


def metrics_check_specs(
    asset_key: AssetKey, model: ModelConfig, partitions: PartitionsDefinition
) -> list[AssetCheckSpec]:
    """The checks of a model's business report: latency, errors and each checked KPI's drop."""
    limits = model.thresholds
    descriptions = {
        LATENCY_CHECK: f"Latency p95 of every model version is within {limits.latency_p95_slo_ms:g} ms.",
        ERROR_RATE_CHECK: f"The 5xx rate of every model version is within {limits.error_rate_budget:.1%}.",
    }
    descriptions |= {
        kpi_check_name(kpi): (
            f"The {KPI_TITLES[kpi]} has not dropped more than "
            f"{getattr(limits.kpi_drop, kpi):.0%} below its trailing "
            f"{limits.kpi_drop.baseline_days}-day mean."
        )
        for kpi in checked_kpis(model)
    }
    return partitioned_check_specs(asset_key, partitions, descriptions)
