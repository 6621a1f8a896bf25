"""Checks on each day's ingestion: did logs arrive, and how much broke the record contract."""

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
from monitoring_platform.lib.ingest import IngestResult
from monitoring_platform.lib.metric_store import MetricStore

LOGS_ARRIVED = "logs_arrived"
QUARANTINE_SHARE = "quarantine_share_within_limit"


def ingestion_check_specs(
    asset_key: AssetKey, partitions: PartitionsDefinition
) -> list[AssetCheckSpec]:
    return [
        partitioned_check_spec(
            LOGS_ARRIVED,
            asset=asset_key,
            partitions=partitions,
            blocking=True,
            description="The day has log objects with at least one record.",
        ),
        # Contract breaks block through the validation suite, which explains them record by record.
        partitioned_check_spec(
            QUARANTINE_SHARE,
            asset=asset_key,
            partitions=partitions,
            description="The share of records that broke the contract is within its limits.",
        ),
    ]


def ingestion_check_results(
    context: AssetExecutionContext,
    store: MetricStore,
    asset_key: AssetKey,
    model: ModelConfig,
    result: IngestResult,
    location: str,
) -> list[AssetCheckResult]:
    arrived = bool(result.objects) and result.rows_in > 0
    if arrived:
        arrived_text = f"{len(result.objects)} objects with {result.rows_in} records arrived."
    elif result.objects:
        arrived_text = (
            f"{len(result.objects)} objects arrived under {location} but hold no records."
        )
    else:
        arrived_text = f"No log objects for {context.partition_key} under {location}."
    limits = model.thresholds
    passed, severity = graded(
        result.quarantine_share, limits.quarantine_share_warn, limits.quarantine_share_error
    )
    top = sorted(result.reasons.items(), key=lambda kv: (-kv[1], kv[0]))[:5]
    share_text = (
        f"{result.quarantined} of {result.rows_in} records quarantined "
        f"({result.quarantine_share:.2%}; warn at {limits.quarantine_share_warn:.2%}, "
        f"error at {limits.quarantine_share_error:.2%})"
        + (": " + "; ".join(f"{reason} ×{n}" for reason, n in top) if top else ".")
    )
    return [
        check_result(
            context,
            store,
            asset_key,
            LOGS_ARRIVED,
            passed=arrived,
            severity=AssetCheckSeverity.ERROR,
            description=arrived_text,
            observed={
                "objects": len(result.objects),
                "rows_in": result.rows_in,
                "location": location,
            },
        ),
        check_result(
            context,
            store,
            asset_key,
            QUARANTINE_SHARE,
            passed=passed,
            severity=severity,
            description=share_text,
            observed={
                "quarantine_share": result.quarantine_share,
                "quarantined": result.quarantined,
                "rows_in": result.rows_in,
                "warn_threshold": limits.quarantine_share_warn,
                "error_threshold": limits.quarantine_share_error,
            },
        ),
    ]
