"""The metrics stage: business events, the warehouse tables, the dbt marts, the business report.

Per model: ``<model>/business_events`` (the day's events, contract enforced),
``<model>/warehouse_tables`` (the model-day loaded into the warehouse) and
``<model>/business_metrics_report`` (HTML and threshold checks). Shared by every model: the dbt
models ``warehouse/<dbt model>``, downstream of every model's warehouse tables, run for one day
through dbt vars. Steps that touch the warehouse share the ``warehouse`` pool: DuckDB allows one
writing process at a time.
"""

import datetime as dt

from dagster import (
    AssetExecutionContext,
    AssetKey,
    AssetsDefinition,
    AssetSelection,
    AssetSpec,
    MaterializeResult,
    MetadataValue,
    PartitionsDefinition,
    asset,
)

from monitoring_platform.config import ModelConfig, MonitoringConfig
from monitoring_platform.defs.keys import (
    WAREHOUSE_PREFIX,
    WAREHOUSE_TABLES,
    dbt_model_key,
    model_asset_key,
)
from monitoring_platform.defs.metrics.checks import (
    checked_kpis,
    event_check_results,
    event_check_specs,
    metrics_check_specs,
    verdict_results,
)
from monitoring_platform.defs.metrics.resources import (
    WAREHOUSE_POOL,
    WarehouseResource,
)
from monitoring_platform.defs.metrics.warehouse import build_dbt_assets as build_dbt_assets
from monitoring_platform.defs.metrics.warehouse import build_warehouse_tables
from monitoring_platform.defs.resources import MetricStoreResource, StorageResource
from monitoring_platform.lib import business_metrics as bm
from monitoring_platform.lib import events as events_lib
from monitoring_platform.lib import lake
from monitoring_platform.lib.business_report import TREND_DAYS, render_business_report
from monitoring_platform.lib.metric_store import Metric
from monitoring_platform.lib.reports import BUSINESS_METRICS, publish_page
from monitoring_platform.lib.warehouse import (
    BUSINESS_MART,
    SYSTEM_MART,
)

GROUP = "metrics"


def business_events_key(model: ModelConfig) -> AssetKey:
    return AssetKey([model.name, "business_events"])


def business_metrics_report_key(model: ModelConfig) -> AssetKey:
    return AssetKey([model.name, "business_metrics_report"])


def metrics_selection(model: ModelConfig) -> AssetSelection:
    """What the metrics stage materializes for one model-day: its assets and the dbt models."""
    return AssetSelection.assets(
        business_events_key(model),
        model_asset_key(model.name, WAREHOUSE_TABLES),
        business_metrics_report_key(model),
    ) | AssetSelection.key_prefixes([WAREHOUSE_PREFIX])


def build_metrics_assets(
    config: MonitoringConfig, model: ModelConfig, partitions: PartitionsDefinition
) -> list[AssetsDefinition | AssetSpec]:
    """One model's business events, warehouse load and business report."""
    return [
        _business_events(config, model, partitions),
        build_warehouse_tables(config, model, partitions),
        _business_metrics_report(model, partitions),
    ]


# ---------------------------------------------------------------------------------------------
# Business events


def _business_events(
    config: MonitoringConfig, model: ModelConfig, partitions: PartitionsDefinition
) -> AssetsDefinition:
    location = config.events_root(model)
    key = business_events_key(model)

    @asset(
        key=key,
        description="The day's business events (clicks, conversions) that met the contract.",
        partitions_def=partitions,
        group_name=GROUP,
        kinds={"duckdb", "parquet"},
        check_specs=event_check_specs(key, partitions),
        metadata={"model": model.name, "location": location},
    )
    def business_events(
        context: AssetExecutionContext, storage: StorageResource, metric_store: MetricStoreResource
    ):
        date = context.partition_key
        lake_store = storage.lake_store()
        result, accepted_key, quarantine_key = lake.ingest_into_lake(
            lambda workdir: events_lib.ingest_events(storage.store(location), model, date, workdir),
            lake_store,
            events_lib.ACCEPTED,
            events_lib.QUARANTINE,
            model.name,
            date,
        )
        store = metric_store.get()
        store.replace_metrics(
            model.name,
            dt.date.fromisoformat(date),
            key.path[-1],
            [
                Metric("objects", len(result.objects)),
                Metric("rows_in", result.rows_in),
                Metric("rows_accepted", result.accepted),
                Metric("rows_quarantined", result.quarantined),
                Metric("quarantine_share", result.quarantine_share),
                *(
                    Metric("rows_quarantined_by_reason", n, dims={"reason": reason[:200]})
                    for reason, n in result.reasons.items()
                ),
            ],
            run_id=context.run.run_id,
        )
        yield MaterializeResult(
            metadata={
                "location": location,
                "objects_read": len(result.objects),
                "rows_in": result.rows_in,
                "rows_accepted": result.accepted,
                "rows_quarantined": result.quarantined,
                "quarantine_reasons": MetadataValue.json(result.reasons),
                "accepted_rows": MetadataValue.path(lake_store.uri(accepted_key)),
                "quarantine": MetadataValue.path(lake_store.uri(quarantine_key)),
                "dagster/row_count": result.accepted,
            }
        )
        yield from event_check_results(context, store, key, model, result)

    return business_events


# ---------------------------------------------------------------------------------------------
# Business report


def _business_metrics_report(
    model: ModelConfig, partitions: PartitionsDefinition
) -> AssetsDefinition:
    key = business_metrics_report_key(model)
    limits = model.thresholds

    @asset(
        key=key,
        description="The day's KPIs and system metrics with 30-day trends per model version (HTML).",
        partitions_def=partitions,
        deps=[dbt_model_key(SYSTEM_MART), dbt_model_key(BUSINESS_MART)],
        group_name=GROUP,
        kinds={"html"},
        pool=WAREHOUSE_POOL,
        check_specs=metrics_check_specs(key, model, partitions),
        metadata={"model": model.name},
    )
    def business_metrics_report(
        context: AssetExecutionContext,
        storage: StorageResource,
        metric_store: MetricStoreResource,
        warehouse: WarehouseResource,
    ):
        date = dt.date.fromisoformat(context.partition_key)
        history = max(TREND_DAYS - 1, limits.kpi_drop.baseline_days)
        start = date - dt.timedelta(days=history)
        wh = warehouse.get()
        system_rows = wh.mart_rows(SYSTEM_MART, model.name, start, date)
        business_rows = wh.mart_rows(BUSINESS_MART, model.name, start, date)
        day_system = bm.rows_of_day(system_rows, date)
        totals = bm.kpi_totals(business_rows)
        verdicts = [
            bm.check_latency(day_system, limits.latency_p95_slo_ms),
            bm.check_error_rate(day_system, limits.error_rate_budget),
        ]
        for kpi in checked_kpis(model):
            verdicts.append(
                bm.check_kpi_drop(
                    kpi,
                    date,
                    totals,
                    getattr(limits.kpi_drop, kpi),
                    limits.kpi_drop.baseline_days,
                )
            )
        trend_start = date - dt.timedelta(days=TREND_DAYS - 1)
        html = render_business_report(
            model.name,
            date,
            [r for r in system_rows if bm.as_date(r["metric_date"]) >= trend_start],
            [r for r in business_rows if bm.as_date(r["metric_date"]) >= trend_start],
            verdicts,
            slo_ms=limits.latency_p95_slo_ms,
            error_budget=limits.error_rate_budget,
        )
        reports = storage.reports_store()
        html_key = publish_page(reports, model.name, date, BUSINESS_METRICS, html)
        link = storage.report_link(reports, html_key)
        store = metric_store.get()
        metrics = bm.day_metrics(date, system_rows, business_rows)
        store.replace_metrics(model.name, date, key.path[-1], metrics, run_id=context.run.run_id)
        day_kpis = totals.get(date, {})
        yield MaterializeResult(
            metadata={
                "report": MetadataValue.url(link),
                "status": "ok" if day_system else "no_data",
                "model_versions": MetadataValue.json(
                    sorted({str(r["model_version"]) for r in day_system})
                ),
                **{kpi: day_kpis.get(kpi) for kpi in bm.KPIS if day_kpis.get(kpi) is not None},
                "trend_window": f"{trend_start}..{date}",
                "failed_checks": MetadataValue.json([v.name for v in verdicts if not v.passed]),
            }
        )
        yield from verdict_results(context, store, key, verdicts, link)

    return business_metrics_report
