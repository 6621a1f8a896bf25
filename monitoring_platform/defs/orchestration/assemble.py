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
)

from monitoring_platform.config import MonitoringConfig
from monitoring_platform.defs.orchestration.jobs import (
    build_monitoring_jobs,
    daily_asset_keys,
    with_backfill_policy,
)
from monitoring_platform.defs.orchestration.schedules import build_daily_schedule
from monitoring_platform.defs.orchestration.sensors import (
    build_logs_arrival_sensor,
    build_reports_index_sensor,
)
from monitoring_platform.defs.reports.assets import (
    REPORTS_INDEX_KEY,
    build_reports_index,
    build_weekly_digest,
)
from monitoring_platform.defs.reports.schedules import build_digest_job_and_schedule

if TYPE_CHECKING:
    from dagster._core.definitions.unresolved_asset_job_definition import (
        UnresolvedAssetJobDefinition,
    )


REPORTS_INDEX_JOB = "reports_index_job"


@dataclass
class Operations:
    assets: list[AssetsDefinition | AssetSpec]
    jobs: list["UnresolvedAssetJobDefinition"]
    schedules: list[ScheduleDefinition]
    sensors: list[SensorDefinition]


def build_operations(
    config: MonitoringConfig,
    assets: Sequence[AssetsDefinition | AssetSpec],
    partitions: PartitionsDefinition,
) -> Operations:
    """The assets (with their backfill policy and the reports index) and what runs them."""
    keys_by_model = daily_asset_keys(config, assets, partitions)
    jobs = build_monitoring_jobs(config, keys_by_model, partitions)
    index_job = define_asset_job(
        REPORTS_INDEX_JOB,
        selection=AssetSelection.assets(REPORTS_INDEX_KEY),
        description="Regenerates the reports site's index.html.",
    )
    digest_job, digest_schedule = build_digest_job_and_schedule(config)
    return Operations(
        assets=[
            *with_backfill_policy(assets, partitions),
            build_reports_index(config, keys_by_model),
            build_weekly_digest(config),
        ],
        jobs=[*jobs, index_job, digest_job],
        schedules=[build_daily_schedule(config, jobs[0], keys_by_model), digest_schedule],
        sensors=[
            build_logs_arrival_sensor(config, jobs[0], keys_by_model),
            build_reports_index_sensor(config, index_job, keys_by_model),
        ],
    )
