"""The metrics stage: business events, the warehouse tables, the dbt marts, the business report.

Per model: ``<model>/business_events`` (the day's events, contract enforced),
``<model>/warehouse_tables`` (the model-day loaded into the warehouse) and
``<model>/business_metrics_report`` (HTML and threshold checks). Shared by every model: the dbt
models ``warehouse/<dbt model>``, downstream of every model's warehouse tables, run for one day
through dbt vars. Steps that touch the warehouse share the ``warehouse`` pool: DuckDB allows one
writing process at a time.
"""

import contextlib
import datetime as dt
import io
import json
import shutil
from collections.abc import Iterator, Mapping
from typing import Any

from dagster import (
    AssetCheckResult,
    AssetDep,
    AssetExecutionContext,
    AssetKey,
    AssetsDefinition,
    AssetSelection,
    AssetSpec,
    BackfillPolicy,
    Failure,
    MaterializeResult,
    MetadataValue,
    PartitionsDefinition,
    asset,
)
from dagster_dbt import (
    DagsterDbtTranslator,
    DagsterDbtTranslatorSettings,
    DbtCliResource,
    dbt_assets,
)

from monitoring_platform.config import ModelConfig, MonitoringConfig
from monitoring_platform.defs.ingestion.assets import inference_logs_key
from monitoring_platform.defs.keys import (
    BUSINESS_EVENTS,
    BUSINESS_METRICS_REPORT,
    model_asset_key,
)
from monitoring_platform.defs.metrics.checks import event_check_specs, metrics_check_specs
from monitoring_platform.defs.metrics.resources import (
    WAREHOUSE_POOL,
    WarehouseResource,
    ensure_manifest,
)
from monitoring_platform.defs.orchestration.jobs import MODEL_TAG
from monitoring_platform.defs.pages import page_publisher
from monitoring_platform.defs.partitions import partitioned_check_spec
from monitoring_platform.defs.performance.assets import labels_key
from monitoring_platform.defs.publish import partition_day, publish
from monitoring_platform.defs.resources import MetricStoreResource, StorageResource
from monitoring_platform.lib import events as events_lib
from monitoring_platform.lib import lake
from monitoring_platform.lib.business_report import (
    business_metrics_report as business_metrics_report_stage,
)
from monitoring_platform.lib.business_report import history_start
from monitoring_platform.lib.intake import business_events_stage
from monitoring_platform.lib.warehouse import (
    BUSINESS_MART,
    SYSTEM_MART,
    dbt_failure_cause,
    load_model_day,
)

GROUP = "metrics"
WAREHOUSE_PREFIX = "warehouse"
DBT_LOG_LINES = 200


def business_events_key(model: ModelConfig) -> AssetKey:
    return AssetKey([model.name, "business_events"])


def warehouse_tables_key(model: ModelConfig) -> AssetKey:
    return AssetKey([model.name, "warehouse_tables"])


def business_metrics_report_key(model: ModelConfig) -> AssetKey:
    return AssetKey([model.name, "business_metrics_report"])


def dbt_model_key(name: str) -> AssetKey:
    return AssetKey([WAREHOUSE_PREFIX, name])


def metrics_selection(model: ModelConfig) -> AssetSelection:
    """What the metrics stage materializes for one model-day: its assets and the dbt models."""
    return AssetSelection.assets(
        business_events_key(model), warehouse_tables_key(model), business_metrics_report_key(model)
    ) | AssetSelection.key_prefixes([WAREHOUSE_PREFIX])


def build_metrics_assets(
    config: MonitoringConfig, model: ModelConfig, partitions: PartitionsDefinition
) -> list[AssetsDefinition | AssetSpec]:
    """One model's business events, warehouse load and business report."""
    return [
        _business_events(config, model, partitions),
        _warehouse_tables(config, model, partitions),
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
# Warehouse tables


def _warehouse_tables(
    config: MonitoringConfig, model: ModelConfig, partitions: PartitionsDefinition
) -> AssetsDefinition:
    key = warehouse_tables_key(model)

    @asset(
        key=key,
        description="The day's accepted calls, events and labels loaded into the warehouse for dbt.",
        partitions_def=partitions,
        deps=[inference_logs_key(model), business_events_key(model), labels_key(model)],
        group_name=GROUP,
        kinds={"duckdb" if config.warehouse.type == "duckdb" else "postgresql"},
        pool=WAREHOUSE_POOL,
        metadata={"model": model.name},
    )
    def warehouse_tables(
        context: AssetExecutionContext,
        storage: StorageResource,
        warehouse: WarehouseResource,
    ) -> MaterializeResult:
        date = dt.date.fromisoformat(context.partition_key)
        loaded = load_model_day(warehouse.get(), storage.lake_store(), model, date)
        return MaterializeResult(
            metadata={
                "warehouse": warehouse.kind,
                "schema": warehouse.raw_schema,
                **{f"rows_{table}": n for table, n in loaded.items()},
                "dagster/row_count": loaded["inference_logs"],
            }
        )

    return warehouse_tables


# ---------------------------------------------------------------------------------------------
# dbt


class MetricsDbtTranslator(DagsterDbtTranslator):
    """dbt models as ``warehouse/<name>`` in the metrics group, downstream of every model's
    warehouse tables (the dbt sources are the tables those assets load)."""

    def __init__(self, upstream: list[AssetKey], partitions: PartitionsDefinition):
        super().__init__(DagsterDbtTranslatorSettings(enable_asset_checks=True))
        self._upstream = upstream
        self._partitions = partitions

    def get_asset_key(self, dbt_resource_props: Mapping[str, Any]) -> AssetKey:
        if dbt_resource_props["resource_type"] == "source":
            return AssetKey([WAREHOUSE_PREFIX, "source", dbt_resource_props["name"]])
        return dbt_model_key(dbt_resource_props["name"])

    def get_group_name(self, dbt_resource_props: Mapping[str, Any]) -> str:
        return GROUP

    def get_description(self, dbt_resource_props: Mapping[str, Any]) -> str:
        text = (dbt_resource_props.get("description") or "").strip()
        return " ".join(text.split()) or f"dbt model {dbt_resource_props['name']}."

    def get_asset_spec(self, manifest, unique_id, project) -> AssetSpec:
        spec = super().get_asset_spec(manifest, unique_id, project)
        if not any(d.asset_key.path[:2] == [WAREHOUSE_PREFIX, "source"] for d in spec.deps):
            return spec
        deps = [d for d in spec.deps if d.asset_key.path[:2] != [WAREHOUSE_PREFIX, "source"]]
        deps += [AssetDep(key) for key in self._upstream]
        return spec.replace_attributes(deps=deps)

    def get_asset_check_spec(self, asset_spec, manifest, unique_id, project):
        """The dbt test as a check recorded for the run's day, with a one-line description."""
        spec = super().get_asset_check_spec(asset_spec, manifest, unique_id, project)
        if spec is None:
            return spec
        description = spec.description
        if not description:
            test = manifest["nodes"][unique_id]
            meta = test.get("test_metadata") or {}
            column = test.get("column_name")
            what = meta.get("name") or "singular test"
            on = f"{asset_spec.key.path[-1]}.{column}" if column else asset_spec.key.path[-1]
            description = f"dbt test {what} on {on} passes."
        return partitioned_check_spec(
            spec.name,
            asset=spec.asset_key,
            partitions=self._partitions,
            description=description,
            additional_deps=spec.additional_deps,
            metadata=spec.metadata,
            blocking=spec.blocking,
        )


def _dbt_build(context, dbt: DbtCliResource, warehouse: WarehouseResource, dbt_vars: dict):
    """Run ``dbt build`` with the vars; its events, and the last lines of its console output."""
    # dbt's own log lines go to the run's log, not to this process's console.
    output = io.StringIO()
    try:
        with warehouse.dbt_environ(), contextlib.redirect_stdout(output):
            invocation = dbt.cli(
                ["build", "--vars", json.dumps(dbt_vars)], context=context, raise_on_error=False
            )
            events = list(invocation.stream())
    finally:
        lines = output.getvalue().splitlines()[-DBT_LOG_LINES:]
        if lines:
            context.log.info("dbt:\n" + "\n".join(lines))
    return invocation, events, lines


def build_dbt_assets(
    config: MonitoringConfig, partitions: PartitionsDefinition
) -> list[AssetsDefinition]:
    """The dbt project's models and tests, run for one day of the models loaded in the run."""
    upstream = [warehouse_tables_key(m) for m in config.models]
    model_names = {m.name for m in config.models}

    @dbt_assets(
        manifest=ensure_manifest(),
        partitions_def=partitions,
        dagster_dbt_translator=MetricsDbtTranslator(upstream, partitions),
        pool=WAREHOUSE_POOL,
        name="warehouse_dbt_models",
        # One day per run, like every other daily asset (a window of days works too).
        backfill_policy=BackfillPolicy.multi_run(max_partitions_per_run=1),
    )
    def warehouse_dbt_models(
        context: AssetExecutionContext, dbt: DbtCliResource, warehouse: WarehouseResource
    ):
        window = context.partition_time_window
        loaded = sorted(
            {
                key.path[0]
                for key in (context.run.asset_selection or set())
                if key.path[-1] == "warehouse_tables" and key.path[0] in model_names
            }
        )
        if not loaded and context.run.tags.get(MODEL_TAG) in model_names:
            loaded = [context.run.tags[MODEL_TAG]]  # a run of <model>_monitoring_job
        dbt_vars: dict[str, Any] = {
            "start_date": window.start.date().isoformat(),
            "end_date": window.end.date().isoformat(),
            "raw_schema": warehouse.raw_schema,
        }
        if loaded:
            # Replace only the rows of the models this run loaded; other models keep theirs.
            dbt_vars["models"] = loaded
        context.log.info(f"dbt vars: {json.dumps(dbt_vars)}")
        day = window.start.date()
        wh = warehouse.get()
        # The warehouse pool keeps Dagster's own steps apart; the lock also waits for any other
        # process on the file (a command-line backfill beside the daemon, a DuckDB shell).
        with wh.exclusive():
            wh.wait_until_openable()
            invocation, events, lines = _dbt_build(context, dbt, warehouse, dbt_vars)
        yield from events
        if invocation.is_successful():
            # Artifacts of a good run are in the run's events; keep only a failed run's.
            shutil.rmtree(invocation.target_path, ignore_errors=True)
        else:
            raise Failure(
                description=f"dbt build for {day} failed: {dbt_failure_cause(lines)}",
                metadata={"dbt_output": MetadataValue.md("```\n" + "\n".join(lines) + "\n```")},
            )

    return [warehouse_dbt_models]


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
