"""The evaluation jobs, and the backfill policy that bounds the memory of a backfill.

``<model>_monitoring_job`` holds one model's daily assets (and the shared dbt models): the
schedule (``schedule.runs: per_model``, the default), the arrival sensor, the demo and backfills
from the UI or the command line run it, one run per model-day tagged with the model.
``monitoring_job`` holds every model's: with ``schedule.runs: per_day`` the schedule and the demo
run it once a day for every model, sharing one run's start-up and one dbt build; a backfill of it
runs each day's models together.
"""

from collections import defaultdict
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

from dagster import (
    AssetKey,
    AssetsDefinition,
    AssetSelection,
    AssetSpec,
    BackfillPolicy,
    PartitionsDefinition,
    define_asset_job,
    in_process_executor,
)

from monitoring_platform.config import MonitoringConfig

if TYPE_CHECKING:
    from dagster._core.definitions.unresolved_asset_job_definition import (
        UnresolvedAssetJobDefinition,
    )

MONITORING_JOB = "monitoring_job"
MODEL_TAG = "monitoring_platform/model"
TRIGGER_TAG = "monitoring_platform/trigger"

# One partition per run: a backfill of N days is N runs, each holding one model-day in memory;
# the run coordinator's limits (infra/dagster.yaml) bound how many run at once. A model-day's steps
# follow one another, so they run in the run's own process (no process per step).
BACKFILL_POLICY = BackfillPolicy.multi_run(max_partitions_per_run=1)


def model_job_name(model: str) -> str:
    """The name of a model's evaluation job."""
    return f"{model}_monitoring_job"


def model_run_tags(model: str, trigger: str) -> dict[str, str]:
    """The tags of a model-day's run: the run queue limits runs per model by the first."""
    return {MODEL_TAG: model, TRIGGER_TAG: trigger}


def daily_asset_keys(
    config: MonitoringConfig,
    assets: Iterable[AssetsDefinition | AssetSpec],
    partitions: PartitionsDefinition,
) -> dict[str, list[AssetKey]]:
    """Each model's materializable assets on the daily partitions, by model name.

    Daily assets shared by every model (the dbt models under ``warehouse/``) belong to each
    model's list: a model-day's run rebuilds the marts for that model's rows before its report.
    """
    models = {m.name for m in config.models}
    keys: dict[str, list[AssetKey]] = defaultdict(list)
    shared: list[AssetKey] = []
    for definition in assets:
        if not isinstance(definition, AssetsDefinition) or not definition.is_materializable:
            continue
        if definition.partitions_def != partitions:
            continue
        for key in definition.keys:
            if key.path[0] in models:
                keys[key.path[0]].append(key)
            else:
                shared.append(key)
    return {
        m.name: sorted([*keys.get(m.name, []), *shared], key=lambda k: list(k.path))
        for m in config.models
    }


def with_backfill_policy(
    assets: Sequence[AssetsDefinition | AssetSpec], partitions: PartitionsDefinition
) -> list[AssetsDefinition | AssetSpec]:
    """The daily assets with :data:`BACKFILL_POLICY` where they declare none."""
    out: list[AssetsDefinition | AssetSpec] = []
    for definition in assets:
        if (
            isinstance(definition, AssetsDefinition)
            and definition.is_materializable
            and definition.partitions_def == partitions
            and definition.backfill_policy is None
        ):
            definition = definition.with_attributes(backfill_policy=BACKFILL_POLICY)
        out.append(definition)
    return out


def build_monitoring_jobs(
    config: MonitoringConfig,
    keys_by_model: dict[str, list[AssetKey]],
    partitions: PartitionsDefinition,
) -> list["UnresolvedAssetJobDefinition"]:
    """``monitoring_job`` over every model, and one ``<model>_monitoring_job`` per model."""
    all_keys = [k for keys in keys_by_model.values() for k in keys]
    jobs = [
        define_asset_job(
            MONITORING_JOB,
            selection=AssetSelection.assets(*all_keys),
            partitions_def=partitions,
            executor_def=in_process_executor,
            description="Evaluates one day of every monitored model in one run.",
        )
    ]
    for model in config.models:
        if not keys_by_model.get(model.name):
            continue
        jobs.append(
            define_asset_job(
                model_job_name(model.name),
                selection=AssetSelection.assets(*keys_by_model[model.name]),
                partitions_def=partitions,
                executor_def=in_process_executor,
                tags={MODEL_TAG: model.name},
                description=f"Evaluates one day of {model.name}: ingestion to reports and checks.",
            )
        )
    return jobs
