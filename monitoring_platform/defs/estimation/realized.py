"""The performance step's view of the day's estimate: its gap to realized quality, and the page
section that shows estimated beside realized quality over the last days."""

import datetime as dt

from dagster import AssetDep, AssetKey

from monitoring_platform.config import ModelConfig
from monitoring_platform.lib import estimation
from monitoring_platform.lib.metric_store import Metric, MetricStore
from monitoring_platform.lib.performance import PerformanceResult

ASSET = "estimated_performance"


def estimate_deps(model: ModelConfig) -> list[AssetDep]:
    """The day's estimate, when the model has one: the performance step compares against it."""
    return [AssetDep(AssetKey([model.name, ASSET]))] if model.estimation.enabled else []


# How many earlier days the performance page shows next to the day.
HISTORY_DAYS = 14


def realized_against_estimate(
    lake_store, store: MetricStore, model: ModelConfig, date: dt.date, result: PerformanceResult
) -> tuple[list[Metric], str]:
    """For the performance step: the gap estimated - realized per metric (overall and per
    version) as metric-store rows, and the page's "estimated vs realized" section."""
    if not model.estimation.enabled:
        return [], ""
    estimates = estimation.read_estimates(lake_store, model, date)
    gaps = estimation.estimate_gaps(estimates, result.metrics, result.by_version)
    metrics = [
        Metric(f"{name}_estimate_gap", gap, {"model_version": v} if v else None)
        for v, name, gap in gaps
    ]
    history = _history(store, model, date, result)
    return metrics, estimation.estimated_vs_realized_section(history, str(date))


def _history(store: MetricStore, model: ModelConfig, date: dt.date, result: PerformanceResult):
    first = date - dt.timedelta(days=HISTORY_DAYS)
    rows: dict[tuple[str, str], dict] = {}

    def row(day, metric) -> dict:
        return rows.setdefault((str(day), metric), {"day": str(day), "metric": metric})

    for record in store.metrics(model=model.name, asset=ASSET):
        day = record["partition_date"]
        if record["dims"] or not first <= day <= date:
            continue
        name = record["metric"]
        for suffix, field in (("_low", "low"), ("_high", "high"), ("", "estimated")):
            base = name.removesuffix(suffix) if suffix else name
            if (suffix and name.endswith(suffix)) or (
                not suffix and base in estimation.ALL_METRICS
            ):
                if base in estimation.ALL_METRICS:
                    row(day, base)[field] = record["value"]
                break
    estimated = {metric for _day, metric in rows}
    for record in store.metrics(model=model.name, asset="model_performance_report"):
        day = record["partition_date"]
        if record["dims"] or not first <= day < date or record["metric"] not in estimated:
            continue
        row(day, record["metric"])["realized"] = record["value"]
    for metric, value in result.metrics.items():
        if metric in estimated:
            row(date, metric)["realized"] = value
    return sorted(rows.values(), key=lambda r: (r["metric"], r["day"]))
