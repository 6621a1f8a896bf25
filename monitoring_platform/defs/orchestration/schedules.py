"""``daily_monitoring_schedule``: yesterday's partition of every model, one run per model."""

import datetime as dt
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from dagster import (
    AssetKey,
    DefaultScheduleStatus,
    RunRequest,
    ScheduleDefinition,
    ScheduleEvaluationContext,
    SkipReason,
    schedule,
)

from monitoring_platform.config import MonitoringConfig
from monitoring_platform.defs.orchestration.jobs import MODEL_TAG, TRIGGER_TAG

if TYPE_CHECKING:
    from dagster._core.definitions.unresolved_asset_job_definition import (
        UnresolvedAssetJobDefinition,
    )


def schedule_run_key(model: str, day: dt.date) -> str:
    return f"{model}:{day.isoformat()}"


def build_daily_schedule(
    config: MonitoringConfig,
    job: "UnresolvedAssetJobDefinition",
    keys_by_model: dict[str, list[AssetKey]],
) -> ScheduleDefinition:

    settings = config.schedule
    first_day = config.partitions.start_date
    zone = ZoneInfo(settings.timezone)

    @schedule(
        name="daily_monitoring_schedule",
        job=job,
        cron_schedule=settings.cron,
        execution_timezone=settings.timezone,
        default_status=DefaultScheduleStatus.RUNNING
        if settings.autostart
        else DefaultScheduleStatus.STOPPED,
        description="Evaluates yesterday's partition of every model, one run per model.",
    )
    def daily_monitoring_schedule(context: ScheduleEvaluationContext):
        now = context.scheduled_execution_time or dt.datetime.now(dt.UTC)
        day = now.astimezone(zone).date() - dt.timedelta(days=1)
        if day < first_day:
            return SkipReason(f"{day} is before the first partition ({first_day})")
        requests = []
        for model, keys in keys_by_model.items():
            if not keys:
                continue
            requests.append(
                RunRequest(
                    run_key=schedule_run_key(model, day),
                    partition_key=day.isoformat(),
                    asset_selection=keys,
                    tags={MODEL_TAG: model, TRIGGER_TAG: "schedule"},
                )
            )
        return requests

    return daily_monitoring_schedule
