"""Check results go to Dagster and to the metric store in one step, so the two never disagree."""

from __future__ import annotations

import datetime as dt
from typing import Any

from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    AssetExecutionContext,
    AssetKey,
    MetadataValue,
)

from monitoring_platform.lib.metric_store import MetricStore


def check_result(
    context: AssetExecutionContext,
    store: MetricStore,
    asset_key: AssetKey,
    check_name: str,
    *,
    passed: bool,
    severity: AssetCheckSeverity = AssetCheckSeverity.ERROR,
    description: str,
    observed: dict[str, Any],
    report: str | None = None,
) -> AssetCheckResult:
    """Record a check's outcome for the run's partition and return it for Dagster.

    ``report`` is a link to the HTML page that explains the outcome, shown as a link in Dagster.
    """
    if report is not None:
        observed = {**observed, "report": report}
    model, asset = asset_key.path[0], asset_key.path[-1]
    store.record_check(
        model=model,
        partition_date=dt.date.fromisoformat(context.partition_key),
        asset=asset,
        check_name=check_name,
        passed=passed,
        severity=severity.value,
        observed={"description": description, **observed},
        run_id=context.run.run_id,
    )
    return AssetCheckResult(
        asset_key=asset_key,
        check_name=check_name,
        passed=passed,
        severity=severity,
        description=description,
        metadata={
            k: MetadataValue.url(v) if k == "report" else v
            for k, v in observed.items()
            if v is not None
        },
    )


def graded(value: float, warn: float, error: float) -> tuple[bool, AssetCheckSeverity]:
    """Pass below ``warn``; fail with WARN from ``warn``, with ERROR from ``error``."""
    if value >= error:
        return False, AssetCheckSeverity.ERROR
    if value >= warn:
        return False, AssetCheckSeverity.WARN
    return True, AssetCheckSeverity.WARN
