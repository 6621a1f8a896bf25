"""Everything that operates the per-model assets: jobs, schedule, sensors, the reports index."""

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from dagster import (
    AssetsDefinition,
    AssetSelection,
    AssetSpec,
    PartitionsDefinition,
    ScheduleDefinition,
    SensorDefinition,
    define_asset_job,
    map_asset_specs,
)

from monitoring_platform.config import MonitoringConfig
from monitoring_platform.defs.keys import REPORTS_INDEX_KEY
from monitoring_platform.defs.orchestration.jobs import (
    MONITORING_JOB,
    build_monitoring_jobs,
    daily_asset_keys,
    model_job_name,
    with_backfill_policy,
)
from monitoring_platform.defs.orchestration.schedules import build_daily_schedules
from monitoring_platform.defs.orchestration.sensors import (
    build_logs_arrival_sensor,
    build_reports_index_sensor,
)
from monitoring_platform.defs.orchestration.termination import install_termination_handler
from monitoring_platform.defs.reports.assets import build_reports_index, build_weekly_digest
from monitoring_platform.defs.reports.schedules import build_digest_job_and_schedule
from monitoring_platform.lib.database import install_sqlite_commit_settings

if TYPE_CHECKING:
    from dagster._core.definitions.unresolved_asset_job_definition import (
        UnresolvedAssetJobDefinition,
    )


REPORTS_INDEX_JOB = "reports_index_job"


@dataclass
class Operations:
    """The assets with their policies, and the jobs, schedules and sensors that run them."""

    assets: list[AssetsDefinition | AssetSpec]
    jobs: list["UnresolvedAssetJobDefinition"]
    schedules: list[ScheduleDefinition]
    sensors: list[SensorDefinition]


STAGE_TAG = "monitoring_platform/stage"
SHARED_GROUP = "warehouse"


def grouped_by_model(
    config: MonitoringConfig, assets: Sequence[AssetsDefinition | AssetSpec]
) -> list[AssetsDefinition | AssetSpec]:
    """Lineage that reads per model.

    Each model's assets form the group named after it, the shared dbt models the group ``warehouse``; the stage an asset was defined in stays visible as
    a tag (``monitoring_platform/stage``), beside its kinds.
    """
    models = {m.name for m in config.models}

    def regroup(spec: AssetSpec) -> AssetSpec:
        owner = spec.key.path[0]
        group = owner if owner in models else SHARED_GROUP if owner == "warehouse" else None
        stage = spec.group_name or "default"
        return spec.replace_attributes(
            group_name=group or spec.group_name, tags={**spec.tags, STAGE_TAG: stage}
        )

    return list(map_asset_specs(regroup, assets))


def build_operations(
    config: MonitoringConfig,
    assets: Sequence[AssetsDefinition | AssetSpec],
    partitions: PartitionsDefinition,
) -> Operations:
    """The assets (with their backfill policy and the reports index) and what runs them."""
    install_termination_handler()
    install_sqlite_commit_settings()  # the embedded instance's event log: no fsync per event
    keys_by_model = daily_asset_keys(config, assets, partitions)
    jobs = build_monitoring_jobs(config, keys_by_model, partitions)
    names = {model_job_name(m.name): m.name for m in config.models}
    jobs_by_model = {names[job.name]: job for job in jobs if job.name in names}
    (fleet_job,) = (job for job in jobs if job.name == MONITORING_JOB)
    index_job = define_asset_job(
        REPORTS_INDEX_JOB,
        selection=AssetSelection.assets(REPORTS_INDEX_KEY),
        description="Regenerates the reports site's index.html.",
    )
    digest_job, digest_schedule = build_digest_job_and_schedule(config)
    return Operations(
        assets=[
            *grouped_by_model(
                config,
                [
                    *with_backfill_policy(assets, partitions),
                    build_reports_index(config, keys_by_model),
                ],
            ),
            build_weekly_digest(config),
        ],
        jobs=[*jobs, index_job, digest_job],
        schedules=[
            *build_daily_schedules(config, fleet_job, jobs_by_model, keys_by_model),
            digest_schedule,
        ],
        sensors=[
            build_logs_arrival_sensor(config, jobs_by_model),
            build_reports_index_sensor(config, index_job, keys_by_model),
        ],
    )
