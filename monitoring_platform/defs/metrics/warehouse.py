"""The warehouse: each model-day's rows loaded into it, and the dbt marts built on them.

Per model: ``<model>/warehouse_tables`` (the model-day loaded into the warehouse). Shared by every
model: the dbt models ``warehouse/<dbt model>``, downstream of every model's warehouse tables, run
for one day through dbt vars. Steps that touch the warehouse share the ``warehouse`` pool: DuckDB
allows one writing process at a time.
"""

import datetime as dt
import json
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from dagster import (
    AssetDep,
    AssetExecutionContext,
    AssetKey,
    AssetsDefinition,
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
from dagster_dbt.asset_utils import get_updated_cli_invocation_params_for_context
from dagster_dbt.core.dbt_cli_event import DbtCoreCliEventMessage

from monitoring_platform.config import ModelConfig, MonitoringConfig
from monitoring_platform.defs.keys import (
    BUSINESS_EVENTS,
    INFERENCE_LOGS,
    LABELS,
    WAREHOUSE_PREFIX,
    WAREHOUSE_TABLES,
    dbt_model_key,
    model_asset_key,
)
from monitoring_platform.defs.metrics.resources import (
    WAREHOUSE_POOL,
    WarehouseResource,
    ensure_manifest,
)
from monitoring_platform.defs.orchestration.jobs import MODEL_TAG
from monitoring_platform.defs.partitions import partitioned_check_spec
from monitoring_platform.defs.resources import StorageResource
from monitoring_platform.lib import dbt as dbt_lib
from monitoring_platform.lib.dbt import dbt_failure_cause
from monitoring_platform.lib.warehouse import load_model_day

GROUP = "metrics"
DBT_LOG_LINES = 200


# ---------------------------------------------------------------------------------------------
# Warehouse tables


def build_warehouse_tables(
    config: MonitoringConfig, model: ModelConfig, partitions: PartitionsDefinition
) -> AssetsDefinition:
    """``<model>/warehouse_tables``: the model-day's accepted rows loaded into the warehouse."""
    key = model_asset_key(model.name, WAREHOUSE_TABLES)

    @asset(
        key=key,
        description="The day's accepted calls, events and labels loaded into the warehouse for dbt.",
        partitions_def=partitions,
        deps=[model_asset_key(model.name, a) for a in (INFERENCE_LOGS, BUSINESS_EVENTS, LABELS)],
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
    """dbt models as ``warehouse/<name>`` in the metrics group.

    They are downstream of every model's warehouse tables: the dbt sources are the tables those
    assets load.
    """

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


def _dbt_vars(context: AssetExecutionContext, raw_schema: str, models: set[str]) -> dict[str, Any]:
    """The window of days and the models a run's dbt build covers, as dbt vars.

    The models are those whose warehouse tables the run loaded (or the run's model tag): the
    other models' mart rows stay as they are. A run that loaded none rebuilds every model's.
    """
    window = context.partition_time_window
    loaded = sorted(
        {
            key.path[0]
            for key in (context.run.asset_selection or set())
            if key.path[-1] == WAREHOUSE_TABLES and key.path[0] in models
        }
    )
    if not loaded and context.run.tags.get(MODEL_TAG) in models:
        loaded = [context.run.tags[MODEL_TAG]]  # a run of <model>_monitoring_job
    dbt_vars: dict[str, Any] = {
        "start_date": window.start.date().isoformat(),
        "end_date": window.end.date().isoformat(),
        "raw_schema": raw_schema,
    }
    if loaded:
        dbt_vars["models"] = loaded
    return dbt_vars


def _dbt_build(
    context: AssetExecutionContext,
    dbt: DbtCliResource,
    warehouse: WarehouseResource,
    dbt_vars: dict[str, Any],
) -> Iterator[Any]:
    """Run ``dbt build`` for the run's selection in this process; its Dagster events.

    dbt runs inside the step's process on a project parsed once per process, so a process that
    evaluates many model-days pays dbt's start-up and parse once. Raises :class:`Failure` with
    the cause's line when the build fails.
    """
    params = get_updated_cli_invocation_params_for_context(
        context=context, manifest={}, dagster_dbt_translator=DagsterDbtTranslator()
    )
    args = ["build", "--vars", json.dumps(dbt_vars), *params.selection_args]
    if params.indirect_selection:
        args += ["--indirect-selection", params.indirect_selection]
    wh = warehouse.get()
    # The warehouse pool keeps Dagster's own steps apart; the lock also waits for any other
    # process on the file (a command-line backfill beside the daemon, a DuckDB shell).
    with wh.exclusive():
        wh.wait_until_openable()
        run = dbt_lib.invoke(*_dbt_project(dbt, warehouse), args, warehouse.dbt_environment())
    lines = run.lines[-DBT_LOG_LINES:]
    if lines:
        context.log.info("dbt:\n" + "\n".join(lines))
    for event in run.events:
        message = DbtCoreCliEventMessage(raw_event=event, event_history_metadata={})
        yield from message.to_default_asset_events(
            manifest=params.manifest,
            dagster_dbt_translator=params.dagster_dbt_translator,
            context=context,
            target_path=run.target_path,
        )
    if not run.success:
        raise Failure(
            description=f"dbt build for {dbt_vars['start_date']} failed: {dbt_failure_cause(lines)}",
            metadata={"dbt_output": MetadataValue.md("```\n" + "\n".join(lines) + "\n```")},
        )


def _dbt_project(dbt: DbtCliResource, warehouse: WarehouseResource) -> tuple[Path, str]:
    """The dbt project's folder and the target the warehouse's builds use."""
    return Path(dbt.project_dir), dbt.target or warehouse.kind


def parse_dbt_project(dbt: DbtCliResource, warehouse: WarehouseResource) -> None:
    """Parse the project as this process's first build would (once per process, ``lib/dbt.py``)."""
    dbt_lib.parsed_project(*_dbt_project(dbt, warehouse), warehouse.dbt_environment())


def build_dbt_assets(
    config: MonitoringConfig, partitions: PartitionsDefinition
) -> list[AssetsDefinition]:
    """The dbt project's models and tests, run for one day of the models loaded in the run."""
    upstream = [model_asset_key(m.name, WAREHOUSE_TABLES) for m in config.models]
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
        dbt_vars = _dbt_vars(context, warehouse.raw_schema, model_names)
        context.log.info(f"dbt vars: {json.dumps(dbt_vars)}")
        yield from _dbt_build(context, dbt, warehouse, dbt_vars)

    return [warehouse_dbt_models]
