"""One way from a stage's result to Dagster and the metric store, so the two never disagree."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator
from typing import Any

from dagster import (
    AssetCheckExecutionContext,
    AssetCheckResult,
    AssetCheckSeverity,
    AssetExecutionContext,
    AssetKey,
    MaterializeResult,
    MetadataValue,
)

from monitoring_platform.lib.metric_store import MetricStore
from monitoring_platform.lib.stage import Link, Location, Markdown, StageResult, Verdict


def partition_day(context: Any) -> dt.date:
    """The day a partitioned run or check evaluates: the one place a partition key is parsed."""
    return dt.date.fromisoformat(context.partition_key)


def metadata_value(value: Any) -> Any:
    """A plain or marked value as Dagster metadata."""
    if isinstance(value, Link):
        return MetadataValue.url(value.url)
    if isinstance(value, Location):
        return MetadataValue.path(value.uri)
    if isinstance(value, Markdown):
        return MetadataValue.md(value.text)
    if isinstance(value, (list, dict, tuple)):
        return MetadataValue.json(value if not isinstance(value, tuple) else list(value))
    return value


def metadata(values: dict[str, Any]) -> dict[str, Any]:
    """Every value of a stage's metadata as Dagster metadata; ``None`` values left out."""
    return {k: metadata_value(v) for k, v in values.items() if v is not None}


def record_verdict(
    context: AssetExecutionContext | AssetCheckExecutionContext,
    store: MetricStore,
    asset_key: AssetKey,
    verdict: Verdict,
    day: dt.date | None = None,
) -> AssetCheckResult:
    """Record one verdict for the run's partition in the metric store and return it for Dagster."""
    observed = dict(verdict.observed)
    if verdict.report is not None:
        observed["report"] = verdict.report
    store.record_check(
        model=asset_key.path[0],
        partition_date=day or partition_day(context),
        asset=asset_key.path[-1],
        check_name=verdict.name,
        passed=verdict.passed,
        severity=verdict.severity,
        observed={"description": verdict.description, **observed},
        run_id=context.run.run_id,
    )
    return AssetCheckResult(
        asset_key=asset_key,
        check_name=verdict.name,
        passed=verdict.passed,
        severity=AssetCheckSeverity(verdict.severity),
        description=verdict.description,
        metadata={
            k: MetadataValue.url(v) if k == "report" else metadata_value(v)
            for k, v in observed.items()
            if v is not None
        },
    )


def record_verdicts(
    context: AssetExecutionContext | AssetCheckExecutionContext,
    store: MetricStore,
    asset_key: AssetKey,
    verdicts: Iterable[Verdict],
    day: dt.date | None = None,
) -> Iterator[AssetCheckResult]:
    """Record each verdict and yield its Dagster check result."""
    for verdict in verdicts:
        yield record_verdict(context, store, asset_key, verdict, day)


def publish(
    context: AssetExecutionContext,
    store: MetricStore,
    asset_key: AssetKey,
    result: StageResult,
) -> Iterator[MaterializeResult | AssetCheckResult]:
    """Publish a stage's result for the run's partition.

    The metrics replace the day's in the metric store, then come the materialization with its
    metadata and one check result per verdict.
    """
    day = partition_day(context)
    store.replace_metrics(
        asset_key.path[0], day, asset_key.path[-1], result.metrics, run_id=context.run.run_id
    )
    yield MaterializeResult(asset_key=asset_key, metadata=metadata(result.metadata))
    yield from record_verdicts(context, store, asset_key, result.verdicts, day)
