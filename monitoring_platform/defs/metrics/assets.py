"""The metrics stage: business events, the warehouse tables, the dbt marts, the business report.

Per model: ``<model>/business_events`` (the day's events, contract enforced),
``<model>/warehouse_tables`` (the model-day loaded into the warehouse) and
``<model>/business_metrics_report`` (HTML and threshold checks). Shared by every model: the dbt
models ``warehouse/<dbt model>``, downstream of every model's warehouse tables, run for one day
through dbt vars. Steps that touch the warehouse share the ``warehouse`` pool: DuckDB allows one
writing process at a time.
"""

from collections.abc import Iterator

from dagster import (
    AssetCheckResult,
    AssetExecutionContext,
    AssetsDefinition,
    AssetSelection,
    AssetSpec,
    MaterializeResult,
    PartitionsDefinition,
    asset,
)

from monitoring_platform.config import ModelConfig, MonitoringConfig
from monitoring_platform.defs.keys import (
    BUSINESS_EVENTS,
    BUSINESS_METRICS_REPORT,
    WAREHOUSE_PREFIX,
    WAREHOUSE_TABLES,
    dbt_model_key,
    model_asset_key,
)
from monitoring_platform.defs.metrics.checks import event_check_specs, metrics_check_specs
from monitoring_platform.defs.metrics.resources import WAREHOUSE_POOL, WarehouseResource
from monitoring_platform.defs.metrics.warehouse import build_dbt_assets as build_dbt_assets
from monitoring_platform.defs.metrics.warehouse import build_warehouse_tables
from monitoring_platform.defs.pages import page_publisher
from monitoring_platform.defs.partitions import INGEST_PHASE, UNREAD_BY_LATER_DAYS
from monitoring_platform.defs.publish import partition_day, publish
from monitoring_platform.defs.resources import MetricStoreResource, StorageResource
from monitoring_platform.lib import events as events_lib
from monitoring_platform.lib import lake
from monitoring_platform.lib.business_report import (
    business_metrics_report as business_metrics_report_stage,
)
from monitoring_platform.lib.business_report import history_start
from monitoring_platform.lib.intake import business_events_stage
from monitoring_platform.lib.warehouse import BUSINESS_MART, SYSTEM_MART

GROUP = "metrics"
# The metrics stage's own assets of a model.
STAGE_ASSETS = (BUSINESS_EVENTS, WAREHOUSE_TABLES, BUSINESS_METRICS_REPORT)


def metrics_selection(model: ModelConfig) -> AssetSelection:
    """What the metrics stage materializes for one model-day: its assets and the dbt models."""
    return AssetSelection.assets(
        *(model_asset_key(model.name, asset) for asset in STAGE_ASSETS)
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
    key = model_asset_key(model.name, BUSINESS_EVENTS)

    @asset(
        key=key,
        description="The day's business events (clicks, conversions) that met the contract.",
        partitions_def=partitions,
        group_name=GROUP,
        kinds={"duckdb", "parquet"},
        check_specs=event_check_specs(key, partitions),
        metadata={"model": model.name, "location": location},
        op_tags=INGEST_PHASE,
    )
    def business_events(
        context: AssetExecutionContext, storage: StorageResource, metric_store: MetricStoreResource
    ) -> Iterator[MaterializeResult | AssetCheckResult]:
        date = partition_day(context).isoformat()
        lake_store = storage.lake_store()
        result, accepted_key, quarantine_key = lake.ingest_into_lake(
            lambda workdir: events_lib.ingest_events(storage.store(location), model, date, workdir),
            lake_store,
            events_lib.ACCEPTED,
            events_lib.QUARANTINE,
            model.name,
            date,
        )
        uris = lake_store.uri(accepted_key), lake_store.uri(quarantine_key)
        stage = business_events_stage(model, result, location, *uris)
        yield from publish(context, metric_store.get(), key, stage)

    return business_events


# ---------------------------------------------------------------------------------------------
# Business report


def _business_metrics_report(
    model: ModelConfig, partitions: PartitionsDefinition
) -> AssetsDefinition:
    key = model_asset_key(model.name, BUSINESS_METRICS_REPORT)

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
        op_tags=UNREAD_BY_LATER_DAYS,
    )
    def business_metrics_report(
        context: AssetExecutionContext,
        storage: StorageResource,
        metric_store: MetricStoreResource,
        warehouse: WarehouseResource,
    ) -> Iterator[MaterializeResult | AssetCheckResult]:
        day = partition_day(context)
        wh, start = warehouse.get(), history_start(model, day)
        system_rows = wh.mart_rows(SYSTEM_MART, model.name, start, day)
        business_rows = wh.mart_rows(BUSINESS_MART, model.name, start, day)
        publish_page = page_publisher(storage, model.name, day)
        stage = business_metrics_report_stage(model, day, system_rows, business_rows, publish_page)
        yield from publish(context, metric_store.get(), key, stage)

    return business_metrics_report
